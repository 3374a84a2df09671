"""The small interface through which the engine trains every model.

A model is an ``nn.Module`` with:
- ``config``: plain data (JSON-able) from which the registry rebuilds it;
- ``make_optimizers()`` -> ``{name: optimizer}``;
- ``train_step(batch, update)`` -> ``{loss name: scalar tensor}``; it computes its losses
  and calls ``update(loss, optimizer_name)`` for each optimizer (one for a regressor,
  two for a GAN). ``update`` does zero_grad / backward / step, with gradient scaling
  under mixed precision;
- ``predict(source)`` -> synthetic target, ``B x 1 x H x W`` in the target's [0, 1] scale.
The engine never asks which model it is training.
"""
from __future__ import annotations

from typing import Callable

import torch

Update = Callable[[torch.Tensor, str], None]


def refuse_task(task, model: str, reads: str) -> None:
    """The models that train on their own data (label maps, measurements, scan series) take
    no "source:target" task; a clear error when one is given."""
    if task is not None:
        raise ValueError(f"{model} {reads} and has no task; pass task=None (got {task!r}).")


def parameter_count(module: torch.nn.Module) -> int:
    """How many numbers a network learns (every parameter tensor's size, summed)."""
    return sum(p.numel() for p in module.parameters())


class Synthesiser(torch.nn.Module):
    """Base of the image-to-image models: ``predict`` is the forward pass in eval mode,
    without gradients, clipped to the normalised [0, 1] range."""

    @torch.no_grad()
    def predict(self, source: torch.Tensor) -> torch.Tensor:
        self.eval()
        return self(source).clamp(0, 1)
