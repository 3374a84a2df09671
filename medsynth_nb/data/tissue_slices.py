"""Slices of any contrast with their tissue labels: the training data of chapter 09's tissue
segmenter, the network whose features measure realism.

A segmenter that must find CSF, grey and white matter, bone and fat in a T1w, a T2w, a CT
or a PET slice alike learns what anatomy looks like in every contrast the course
synthesises, so one network serves every chapter's target. Each training item is one slice
in one contrast drawn at random, with the slice's tissue map (``phantom.TISSUE_LABELS``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from medsynth_nb.data.slices import SliceSet, SubjectSlices


@dataclass
class TissueSlices(SubjectSlices):
    """Every modality of ``slices`` with its tissue map; ``batch`` items are (slice, contrast) pairs."""

    images: dict[str, np.ndarray]   # modality -> N x H x W, in [0, 1]
    tissue: np.ndarray              # N x H x W tissue codes
    subject_ids: np.ndarray

    per_slice = ("images", "tissue", "subject_ids")

    @classmethod
    def of(cls, slices: SliceSet, modalities=None) -> TissueSlices:
        """The acquired images of ``modalities`` (default: all of ``slices``)."""
        modalities = list(modalities or slices.images)
        missing = [m for m in modalities if m not in slices.images]
        if missing:
            raise KeyError(f"These slices have no {missing}; they hold {sorted(slices.images)}.")
        return cls({m: slices.images[m] for m in modalities}, slices.tissue, slices.subject_ids)

    @property
    def modalities(self) -> list[str]:
        return list(self.images)

    def batch(self, index, contrast) -> dict[str, torch.Tensor]:
        """Slices ``index`` in the contrasts ``contrast`` (positions in ``modalities``), as
        ``images`` (B x 1 x H x W) and ``labels`` (B x 1 x H x W tissue codes)."""
        index, contrast = np.asarray(index), np.asarray(contrast)
        stack = np.stack([self.images[self.modalities[c]][i] for i, c in zip(index, contrast)])
        return {"images": torch.from_numpy(stack[:, None].astype(np.float32)),
                "labels": torch.from_numpy(self.tissue[index][:, None].astype(np.int64))}

    def sample_batch(self, task, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Random (slice, contrast) pairs; ``task`` is None (the segmenter has no source:target)."""
        index = torch.randint(len(self), (batch_size,), generator=generator).numpy()
        contrast = torch.randint(len(self.modalities), (batch_size,), generator=generator).numpy()
        return self.batch(index, contrast)
