"""Chapter 08's growing tumour: a known growth law, and follow-up scans of the same person.

A model that synthesises a follow-up scan from earlier ones can only be checked against a
future that is known. The phantom's tumour therefore grows by a law with a closed form:

- ``Gompertz``: the core volume V(t) = K exp(ln(V0 / K) exp(-a t)) (Gompertz 1825; Laird,
  Br J Cancer 1964, for tumours): nearly exponential while small, slowing as it nears the
  carrying volume K. Glioma growth curves are commonly fitted by it (or by the
  proliferation-invasion reaction-diffusion model, whose visible front also decelerates).
  The oedema keeps its margin relative to the core, so it grows with it.
- ``follow_up``: the same subject (anatomy, tissues) at t days: the tumour grown by the
  law, new noise (``make_subject(visit=...)``) and a small rigid repositioning of the scan
  grid relative to the head, as on every real rescan.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from medsynth_nb.data.phantom import HEAD_CENTER_MM, Subject, make_subject
from medsynth_nb.data.tumor import TumorParams

_REPOSITIONING = 8  # a random stream of its own, apart from the phantom's four


def sphere_volume_ml(radius_mm: float) -> float:
    """The volume of a sphere of ``radius_mm``, in millilitres (1 ml = 1000 mm^3)."""
    return 4.0 / 3.0 * np.pi * radius_mm ** 3 / 1000.0


@dataclass(frozen=True)
class Gompertz:
    """V(t) = K exp(ln(V0 / K) exp(-a t)): ``carrying_ml`` is K, ``rate_per_day`` is a."""

    carrying_ml: float = 60.0
    rate_per_day: float = 0.01

    def __post_init__(self):
        if self.carrying_ml <= 0 or self.rate_per_day <= 0:
            raise ValueError(f"carrying_ml and rate_per_day must be > 0; got {self.carrying_ml}, {self.rate_per_day}.")

    def volume_ml(self, v0_ml: float, t_days):
        """The core volume after ``t_days`` (scalar or array) from ``v0_ml`` at t = 0."""
        if not 0 < v0_ml < self.carrying_ml:
            raise ValueError(f"The starting volume must lie in (0, {self.carrying_ml}) ml (the carrying volume); "
                             f"got {v0_ml}.")
        t = np.asarray(t_days, dtype=float)
        return self.carrying_ml * np.exp(np.log(v0_ml / self.carrying_ml) * np.exp(-self.rate_per_day * t))

    def grown(self, tumor: TumorParams, t_days: float) -> TumorParams:
        """``tumor`` after ``t_days``: its core radius scaled so that the core's volume
        follows the law (shape, necrosis fraction and oedema margin kept)."""
        v0 = sphere_volume_ml(tumor.radius_mm)
        scale = (float(self.volume_ml(v0, t_days)) / v0) ** (1 / 3)
        return dataclasses.replace(tumor, radius_mm=tumor.radius_mm * scale)


def repositioned(affine: np.ndarray, rng: np.random.Generator, shift_mm: float, rotation_deg: float) -> np.ndarray:
    """``affine`` moved rigidly relative to the head: a rotation of up to ``rotation_deg``
    about a random axis through the head's centre, then a shift of up to ``shift_mm`` along
    each axis."""
    rotation = Rotation.from_rotvec(np.deg2rad(rng.uniform(-rotation_deg, rotation_deg)) * _unit(rng)).as_matrix()
    center = np.asarray(HEAD_CENTER_MM)
    move = np.eye(4)
    move[:3, :3] = rotation
    move[:3, 3] = center - rotation @ center + rng.uniform(-shift_mm, shift_mm, 3)
    return move @ affine


def _unit(rng: np.random.Generator) -> np.ndarray:
    vector = rng.normal(size=3)
    return vector / np.linalg.norm(vector)


def follow_up(seed: int, shape, affine: np.ndarray, tumor: TumorParams, t_days: float, law: Gompertz, *,
              visit: int, shift_mm: float = 2.0, rotation_deg: float = 2.0, site: str = "A") -> Subject:
    """Subject ``seed`` scanned at visit ``visit``, ``t_days`` after the tumour ``tumor`` was
    seen: the tumour grown by ``law``, new noise, and the grid repositioned (visit 0 is the
    first scan, on ``affine`` itself). Coordinates are the head's, so the tumour stays where
    it grew while the scan grid moves."""
    if visit < 0:
        raise ValueError(f"visit must be >= 0 (0 = the first scan); got {visit}.")
    if visit:
        rng = np.random.default_rng([seed, _REPOSITIONING, visit])
        affine = repositioned(affine, rng, shift_mm, rotation_deg)
    return make_subject(seed, shape, affine, tumor=law.grown(tumor, t_days), site=site, visit=visit)
