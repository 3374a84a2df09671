"""Brain tumours with BraTS-style sub-regions, from a few parameters.

Labels follow the BraTS 2023 convention: 1 necrotic core (NCR), 2 peritumoural oedema
(ED), 3 enhancing tumour (ET). A tumour is an irregular blob: a normalised radius
``r`` (distance from the centre over ``radius_mm``, perturbed by a smooth random field
of strength ``irregularity``) is cut into necrosis (r < necrosis_fraction), enhancing
rim (r < 1) and oedema (r < 1 + edema_margin, white/grey matter only).
The shape is defined in millimetres, so the same parameters give the same tumour at
any resolution.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from medsynth_nb.data.fields import plane_wave_field

NECROSIS, EDEMA, ENHANCING = 1, 2, 3
LABELS = {0: "background", NECROSIS: "necrosis", EDEMA: "edema", ENHANCING: "enhancing"}


@dataclass(frozen=True)
class TumorParams:
    center_mm: tuple[float, float, float]
    radius_mm: float = 15.0          # radius of the core (necrosis + enhancing rim)
    necrosis_fraction: float = 0.5   # necrotic core radius / core radius (0: none)
    edema_margin: float = 0.6        # oedema reaches radius * (1 + edema_margin)
    irregularity: float = 0.2        # 0 = sphere; 0.4 = very lobulated
    shape_seed: int = 0

    def __post_init__(self):
        problems = []
        if self.radius_mm <= 0:
            problems.append(f"radius_mm must be > 0 (got {self.radius_mm})")
        if not 0 <= self.necrosis_fraction < 1:
            problems.append(f"necrosis_fraction must be in [0, 1) (got {self.necrosis_fraction})")
        if self.edema_margin < 0:
            problems.append(f"edema_margin must be >= 0 (got {self.edema_margin})")
        if not 0 <= self.irregularity <= 1:
            problems.append(f"irregularity must be in [0, 1] (got {self.irregularity})")
        if problems:
            raise ValueError("Invalid tumour parameters: " + "; ".join(problems))

    def to_json(self) -> dict:
        return asdict(self)


def random_params(rng: np.random.Generator, candidate_centers_mm: np.ndarray) -> TumorParams:
    """Plausible random tumour; its centre is drawn from ``candidate_centers_mm`` (N x 3),
    e.g. the white-matter voxels of the field of view."""
    center = candidate_centers_mm[rng.integers(len(candidate_centers_mm))]
    return TumorParams(
        center_mm=tuple(float(c) for c in center),
        radius_mm=float(rng.uniform(7.0, 22.0)),
        necrosis_fraction=float(rng.choice([0.0, rng.uniform(0.3, 0.7)], p=[0.3, 0.7])),
        edema_margin=float(rng.uniform(0.2, 1.0)),
        irregularity=float(rng.uniform(0.0, 0.35)),
        shape_seed=int(rng.integers(2**31)),
    )


def tumor_labels(params: TumorParams, coords_mm: np.ndarray, parenchyma: np.ndarray,
                 intracranial: np.ndarray) -> np.ndarray:
    """Label of each point. ``coords_mm``: (..., 3); ``parenchyma`` and ``intracranial``:
    fractions at those points (oedema spreads in brain tissue only, the core stays
    inside the skull)."""
    offsets = coords_mm - np.asarray(params.center_mm, dtype=np.float32)
    r = np.linalg.norm(offsets, axis=-1) / params.radius_mm
    # Lobulated outline: wavelengths of about the tumour's size; the perturbation fades
    # towards the centre so the core stays connected.
    wave = (1.5 * params.radius_mm, 4.0 * params.radius_mm)
    shape = plane_wave_field(params.shape_seed, offsets, wave)[..., 0]
    r = r - params.irregularity * shape * np.clip(r, 0, 1.5)
    labels = np.zeros(r.shape, dtype=np.uint8)
    labels[(r < 1 + params.edema_margin) & (parenchyma > 0.5)] = 2
    core = intracranial > 0.5
    labels[(r < 1) & core] = 3
    if params.necrosis_fraction > 0:
        labels[(r < params.necrosis_fraction) & core] = 1
    return labels


def check_labels(labels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Validate a caller's label map; return it as uint8 or raise a ValueError that says
    what is wrong and how to fix it."""
    labels = np.asarray(labels)
    if labels.shape != tuple(shape):
        raise ValueError(
            f"Tumour label map has shape {labels.shape}, but the subject's grid is {tuple(shape)}. "
            "Paint the labels on the subject's own grid (subject.tumor.shape)."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError("Tumour label map must hold whole numbers 0-3, found fractional values.")
    bad = np.setdiff1d(np.unique(labels), list(LABELS))
    if bad.size:
        raise ValueError(
            f"Tumour label map holds values {bad.tolist()}; allowed are "
            + ", ".join(f"{k} = {v}" for k, v in LABELS.items())
            + ". (MSD/BraTS maps using 4 for enhancing tumour: replace 4 by 3.)"
        )
    return labels.astype(np.uint8)
