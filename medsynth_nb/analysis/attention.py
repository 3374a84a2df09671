"""What an output sees: receptive fields of convolutions and of attention.

- ``effective_receptive_field``: how strongly each input pixel moves one output pixel (the
  gradient, Luo et al., NeurIPS 2016). A CNN's is a blob around the pixel, far smaller than
  its theoretical receptive field; self-attention can reach across the whole image.
- ``mean_attention_distance``: per head, how far (in pixels) a query's attention reaches
  on average, the transformer's analogue of a receptive field size (Dosovitskiy et al.,
  ICLR 2021, Fig. 7): small for local heads, large for global ones.
- ``attention_rollout``: attention through several layers (Abnar & Zuidema, ACL 2020). Each
  layer's head-averaged attention is mixed with the identity for the residual connection
  around it, rows renormalised, and the layers multiplied: row q says how much each input
  token flows into output token q.
These work on any image-to-image model and on any attention of shape B x heads x T x T.
"""
from __future__ import annotations

import numpy as np
import torch


def effective_receptive_field(model, source: torch.Tensor, pixel: tuple[int, int]) -> torch.Tensor:
    """|d output[row, col] / d input|, summed over input channels and scaled to a maximum of
    1: one H x W map per source image (B x H x W). The model runs in eval mode (and is put
    back in its mode after); its weights get no gradients."""
    row, col = pixel
    height, width = source.shape[-2:]
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"pixel {pixel} is outside the {height} x {width} image.")
    was_training = model.training
    model.eval()
    try:
        x = source.detach().clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(model(x)[:, 0, row, col].sum(), x)
    finally:
        model.train(was_training)
    field = gradient.abs().sum(1)
    return field / field.amax((1, 2), keepdim=True).clamp_min(torch.finfo(field.dtype).tiny)


def attention_rollout(maps: list[torch.Tensor], residual: bool = True) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) of layers ``maps`` (each B x heads x T x T, in
    forward order): a row-stochastic B x T x T matrix. ``residual`` mixes each layer's
    head-averaged attention half and half with the identity, for the skip connection.

    In ResViT the CNN path between transformer applications is taken as the identity too, so
    across ART blocks the rollout is an approximation of where information flows."""
    if not maps:
        raise ValueError("attention_rollout needs at least one layer's attention.")
    rollout = None
    for att in maps:
        layer = att.mean(1)
        if residual:
            layer = 0.5 * layer + 0.5 * torch.eye(layer.shape[-1], dtype=layer.dtype, device=layer.device)
        layer = layer / layer.sum(-1, keepdim=True)
        rollout = layer if rollout is None else layer @ rollout
    return rollout


def mean_attention_distance(att: torch.Tensor, grid_hw: tuple[int, int], patch_px: float) -> torch.Tensor:
    """Per head, the attention-weighted distance in pixels between a query patch's centre and
    the key patches' centres, averaged over queries (and images): a tensor of ``heads``.
    ``att`` is B x heads x T x T (or heads x T x T) over a ``grid_hw`` token grid whose
    patches are ``patch_px`` pixels wide (ResViT: ``model.token_grid``, ``model.patch_pixels``)."""
    gh, gw = grid_hw
    if att.shape[-1] != gh * gw or att.shape[-2] != gh * gw:
        raise ValueError(f"Attention over {tuple(att.shape[-2:])} tokens does not match a {gh} x {gw} token grid.")
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    centers = torch.stack([rows.flatten(), cols.flatten()], 1).to(att) * patch_px
    distance = torch.cdist(centers, centers)
    return (att * distance).sum(-1).reshape(-1, *att.shape[-3:-1]).mean((0, 2))


def attention_rollout_matrix(maps) -> np.ndarray:
    """``attention_rollout`` of the first image of ``maps`` (per layer B x heads x T x T or
    heads x T x T; torch or numpy, any device): a T x T numpy matrix."""
    layers = []
    for m in maps:
        m = torch.as_tensor(m.detach().cpu() if hasattr(m, "detach") else np.asarray(m), dtype=torch.float32)
        layers.append((m[0] if m.ndim == 4 else m)[None])
    return attention_rollout(layers)[0].numpy()
