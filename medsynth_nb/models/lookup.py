"""The baseline every synthesis model must beat: an intensity lookup table.

For each source intensity (binned; joint bins for several sources) predict the mean
target intensity seen in training. It is the best any *pixel-wise* mapping can do in
the L2 sense, so whatever a network gains over it comes from spatial context. On T1 -> T2
it is already decent (tissues map to tissues); on MRI -> CT it must fail where one MR
intensity means several CT values (bone and air are both dark on MRI).
"""
from __future__ import annotations

import numpy as np
import torch

from medsynth_nb.data.slices import SliceSet
from medsynth_nb.tasks import parse_task


class IntensityLookup:
    def __init__(self, n_bins: int = 64):
        self.n_bins = n_bins
        self.table: torch.Tensor | None = None

    def _bin(self, source: torch.Tensor) -> torch.Tensor:
        """B x C x H x W in [0, 1] -> joint bin index B x H x W."""
        b = (source.clamp(0, 1) * (self.n_bins - 1)).round().long()
        index = torch.zeros_like(b[:, 0])
        for c in range(b.shape[1]):
            index = index * self.n_bins + b[:, c]
        return index

    def fit(self, data: SliceSet, task) -> "IntensityLookup":
        batch = data.batch(parse_task(task), np.arange(len(data)))
        index = self._bin(batch["source"]).flatten()
        target = batch["target"].flatten().double()
        size = self.n_bins ** batch["source"].shape[1]
        total = torch.zeros(size, dtype=torch.float64).index_add_(0, index, target)
        count = torch.zeros(size, dtype=torch.float64).index_add_(0, index, torch.ones_like(target))
        # Bins never seen in training predict the overall mean.
        self.table = torch.where(count > 0, total / count.clamp_min(1), target.mean()).float()
        return self

    def predict(self, source: torch.Tensor) -> torch.Tensor:
        if self.table is None:
            raise RuntimeError("Call fit(train_set, task) before predict().")
        return self.table[self._bin(source.cpu())].unsqueeze(1)
