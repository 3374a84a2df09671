"""Chapter 04, coding exercise solved: attention rollout. For instructors:
``medsynth solutions 04`` writes the chapter with this filled in."""
import torch


def attention_rollout(maps):
    """Attention rollout (Abnar & Zuidema 2020) through the layers ``maps``: a list, in forward
    order, of B x heads x T x T attention tensors whose rows sum to 1. Per layer: the mean over
    the heads, mixed half and half with the identity (the residual path), rows renormalised;
    then the layers multiplied, the later layer on the left. Returns a B x T x T tensor whose
    row q shares out over the input tokens what flows into output token q."""
    rollout = None
    for attention in maps:
        layer = attention.mean(1)  # B x T x T: the heads averaged
        identity = torch.eye(layer.shape[-1], dtype=layer.dtype, device=layer.device)
        layer = 0.5 * layer + 0.5 * identity  # the skip connection carries each token on unchanged
        layer = layer / layer.sum(-1, keepdim=True)
        # Information reaches the later layer through the earlier one: later @ earlier.
        rollout = layer if rollout is None else layer @ rollout
    return rollout
