"""Phantom subjects rendered as slabs of axial slices, normalized and split by subject
(slices of one subject are strongly correlated, so a slice-level split would leak)."""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from medsynth_nb.data import phantom, physics
from medsynth_nb.data.intensity import CT_WINDOW_HU, MR_PERCENTILE, normalize
from medsynth_nb.data.slices import SliceSet, SynthesisData
from medsynth_nb.orientation import display_slices


def _stack_subject(subject: phantom.Subject, modalities) -> dict:
    """Subject slab -> per-slice arrays of ``modalities`` in display orientation (anterior up)."""
    slices = display_slices
    head = subject.head_mask
    return {
        "images": {m: slices(normalize(subject.images[m], m, head)) for m in modalities},
        "clean": {m: slices(normalize(subject.clean[m], m, head)) for m in modalities},
        "noise_free": {m: slices(normalize(subject.noise_free[m], m, head, like=subject.images[m])) for m in modalities},
        "tissue": slices(subject.tissue), "tumor": slices(subject.tumor),
    }


def phantom_slabs(n_subjects: int, image_size: int, slices_per_subject: int, rng: np.random.Generator, *,
                  tumor_prob: float = 0.5, site: str = "A", visit: int = 0, progress: bool = True,
                  slice_gap_mm: float = 5.0):
    """Yield ``n_subjects`` phantom subjects, each a slab of ``slices_per_subject`` axial
    slices ``slice_gap_mm`` apart around the lateral ventricles, with a tumour in the slab
    with probability ``tumor_prob``. All draws come from ``rng``, in a fixed order; ``visit``
    is the scan session (``make_subject``)."""
    subject_seeds = rng.integers(0, 2**31, size=n_subjects)
    for i in tqdm(range(n_subjects), desc="phantom subjects", disable=not progress, leave=False):
        z = float(rng.uniform(5.0, 35.0))
        shape, affine = phantom.axial_grid(image_size, slices_per_subject, slice_gap_mm, z)
        has_tumor = rng.random() < tumor_prob
        yield phantom.make_subject(int(subject_seeds[i]), shape, affine, site=site, visit=visit,
                                   tumor="random" if has_tumor else None, subject_id=f"{site}-sub-{i:03d}")


def check_split(n_subjects: int, split: tuple[float, float, float]) -> None:
    """A clear error for a split that ``split_by_subject`` cannot make (checked before rendering)."""
    if n_subjects < 3:
        raise ValueError(f"n_subjects={n_subjects}: need at least 3 subjects for a train/val/test split.")
    if abs(sum(split) - 1) > 1e-6 or min(split) < 0:
        raise ValueError(f"split={split} must be three non-negative fractions summing to 1.")


def split_by_subject(n_subjects: int, split: tuple[float, float, float], rng: np.random.Generator):
    """Subject indices of train, val and test (at least one subject each in val and test)."""
    check_split(n_subjects, split)
    order = rng.permutation(n_subjects)
    n_val = max(1, round(split[1] * n_subjects))
    n_test = max(1, round(split[2] * n_subjects))
    n_train = n_subjects - n_val - n_test
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]


def load_phantom(n_subjects: int = 40, image_size: int = 96, slices_per_subject: int = 8, *,
                 seed: int = 0, tumor_prob: float = 0.5, site: str = "A", visit: int = 0,
                 split: tuple[float, float, float] = (0.6, 0.2, 0.2), progress: bool = True,
                 slice_gap_mm: float = 5.0, modalities: tuple[str, ...] | None = None) -> SynthesisData:
    """Render ``n_subjects`` phantom subjects (``phantom_slabs``) and split them by subject.
    ``modalities``: keep only these images (default: all seven); every subject is rendered
    the same either way, so the kept images are identical, and a chapter that needs two
    contrasts holds two sevenths of the memory.
    ``visit``: another session of the same subjects (new noise); the same subjects scanned on
    another site in another session (``SynthesisData.with_site``) share no noise with these.
    Each set holds its subjects one after another, every subject's slices in slab order
    (inferior to superior): ``data.volumes`` reads volumes back from that order."""
    check_split(n_subjects, split)
    kept = tuple(modalities or physics.MODALITIES)
    unknown = [m for m in kept if m not in physics.MODALITIES]
    if unknown:
        raise ValueError(f"modalities {unknown}: the phantom renders {', '.join(physics.MODALITIES)}.")
    rng = np.random.default_rng(seed)
    parts = []
    for subject in phantom_slabs(n_subjects, image_size, slices_per_subject, rng, tumor_prob=tumor_prob,
                                 site=site, visit=visit, progress=progress, slice_gap_mm=slice_gap_mm):
        part = _stack_subject(subject, kept)
        part["subject_ids"] = np.array([subject.subject_id] * slices_per_subject)
        parts.append(part)

    def concat(index) -> SliceSet:
        chosen = [parts[i] for i in index]
        cat = lambda key, m=None: np.concatenate([p[key][m] if m else p[key] for p in chosen])  # noqa: E731
        return SliceSet({m: cat("images", m) for m in kept}, {m: cat("clean", m) for m in kept},
                        cat("tissue"), cat("tumor"), cat("subject_ids"),
                        noise_free={m: cat("noise_free", m) for m in kept})

    info = {"name": "phantom", "seed": seed, "site": site, "visit": visit, "image_size": image_size,
            "n_subjects": n_subjects, "slices_per_subject": slices_per_subject, "slice_gap_mm": slice_gap_mm,
            "tumor_prob": tumor_prob, "modalities": list(kept),
            "normalization": f"MR/PET: / p{MR_PERCENTILE} in head, clip [0,1]; CT: {CT_WINDOW_HU} HU -> [0,1]"}
    return SynthesisData(*(concat(index) for index in split_by_subject(n_subjects, split, rng)), info)
