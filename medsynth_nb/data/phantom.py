"""The course's embedded data: a seeded multi-contrast head phantom with brain tumours.

``make_subject(seed)`` builds one subject in four steps:

1. **Anatomy** - warp the MNI152 atlas (``anatomy``) with a per-subject affine and a
   smooth deformation, and turn it into tissue *fractions* per voxel (air, CSF, GM, WM,
   cortical bone, diploe, scalp fat), with per-subject skull and scalp thickness and a
   frontal sinus.
2. **Tumour** - random BraTS-style sub-regions (``tumor``), or a label map the caller
   painted; tumour voxels take the tissue properties of their sub-region.
3. **Clean contrasts** - each tissue's signal from the physics (``physics``), mixed by
   the fractions: T1w, T2w, PD, FLAIR, T1ce (gadolinium), CT (HU), FDG-PET (blurred to
   PET resolution).
4. **Acquisition** - receive field, site blur and noise: Rician for MR, Gaussian for CT,
   Poisson-distributed counts for PET. As on a scanner, the receive-coil sensitivity is one
   smooth field for the whole session (every MR sequence of a subject's visit at a site), and
   only a small transmit-related term differs between sequences (``physics.Site``).

Everything is driven by the seed, through separate random streams, so the same seed
gives identical images and a new tumour label map re-renders the *same* subject with
the same noise (``render``). Grids are RAS+ millimetres like MNI space; arrays are
indexed ``[x, y, z]``.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from medsynth_nb.data import physics
from medsynth_nb.data.anatomy import load_atlas
from medsynth_nb.data.fields import plane_wave_field
from medsynth_nb.data.tumor import LABELS, TumorParams, check_labels, random_params, tumor_labels
from medsynth_nb.io import atomic_write, refuse_overwrite, save_nifti
from medsynth_nb.orientation import FOV_MM  # noqa: F401 (phantom.FOV_MM: the grids it renders)

TISSUE_LABELS = {0: "air", 1: "csf", 2: "gm", 3: "wm", 4: "bone", 5: "fat", 6: "tumor"}
# Streams of randomness, so that e.g. a new tumour does not change the noise.
_ANATOMY, _TUMOR, _TISSUES, _NOISE, _RECEIVE, _TRANSMIT = range(6)
FIELD_WAVELENGTH_MM = (200.0, 400.0)  # receive and transmit fields vary over the head, not within a gyrus
HEAD_CENTER_MM = (0.0, -18.0, 20.0)


@dataclass
class Subject:
    """One phantom subject on a voxel grid.

    ``images`` are acquired (receive field, blur, noise); ``clean`` are the tissue contrasts
    without any of these; ``noise_free`` is the acquisition without its noise (field and blur
    kept): the best any synthesiser can predict of ``images``, since the noise is drawn anew
    for every image. MR images are in arbitrary units, CT in HU, PET in relative uptake (WM = 1).
    """

    subject_id: str
    images: dict[str, np.ndarray]
    clean: dict[str, np.ndarray]
    tissue: np.ndarray               # uint8, codes in TISSUE_LABELS
    tumor: np.ndarray                # uint8, codes in tumor.LABELS
    affine: np.ndarray               # voxel -> mm
    params: dict                     # JSON-able: seed, site, physics, tumour, geometry
    fractions: np.ndarray = field(repr=False)  # healthy tissue fractions, TISSUES[:7] x grid
    noise_free: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tissue.shape

    @property
    def head_mask(self) -> np.ndarray:
        return self.tissue > 0

    @property
    def brain_mask(self) -> np.ndarray:
        """Intracranial voxels (CSF + GM + WM over half the voxel, a tumour's place included):
        where the phantom's tumours grow and where the lesion editors let one be painted."""
        f = self.fractions
        return f[1] + f[2] + f[3] > 0.5


def grid_affine(shape: tuple[int, int, int], spacing_mm, center_mm=HEAD_CENTER_MM) -> np.ndarray:
    """RAS+ affine of a grid of ``shape`` voxels centred on ``center_mm``."""
    spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,))
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = np.asarray(center_mm) - (np.asarray(shape) - 1) / 2 * spacing
    return affine


def axial_grid(size: int = 128, n_slices: int = 1, slice_gap_mm: float = 4.0,
               z_mm: float = 20.0) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of ``n_slices`` axial ``size`` x ``size`` slices (230 mm FOV)
    centred at height ``z_mm`` (MNI; 20 mm is the level of the lateral ventricles)."""
    shape = (size, size, n_slices)
    center = (HEAD_CENTER_MM[0], HEAD_CENTER_MM[1], z_mm)
    return shape, grid_affine(shape, (FOV_MM / size, FOV_MM / size, slice_gap_mm), center)


def volume_grid(spacing_mm: float = 2.0) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of a whole-head 3-D grid (the MNI box) at ``spacing_mm``."""
    extent = np.array([196.0, 232.0, 188.0])
    shape = tuple(int(n) for n in np.round(extent / spacing_mm) + 1)
    return shape, grid_affine(shape, spacing_mm, (0.0, -18.0, 22.0))


def voxel_coords(shape, affine) -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij"), -1)
    return idx @ affine[:3, :3].T.astype(np.float32) + affine[:3, 3].astype(np.float32)


@functools.lru_cache(maxsize=1)
def _atlas_tensor() -> tuple[torch.Tensor, np.ndarray]:
    atlas = load_atlas()
    return torch.from_numpy(atlas.stack()).unsqueeze(0), np.linalg.inv(atlas.affine)


def _sample_atlas(template_mm: np.ndarray) -> np.ndarray:
    """Trilinear sample of the atlas channels at MNI coordinates -> (4, ...)."""
    volume, inv_affine = _atlas_tensor()
    idx = template_mm @ inv_affine[:3, :3].T.astype(np.float32) + inv_affine[:3, 3].astype(np.float32)
    size = np.array(volume.shape[2:], dtype=np.float32)
    norm = 2 * idx / (size - 1) - 1                      # align_corners=True convention
    grid = torch.from_numpy(norm[..., ::-1].copy()).reshape(1, 1, 1, -1, 3)  # grid is (z, y, x)
    # Outside the box: border values (distance keeps growing there -> air).
    out = F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(volume.shape[1], *template_mm.shape[:-1]).numpy()


def _head_geometry(rng: np.random.Generator) -> dict:
    return {
        "scale": rng.uniform(0.93, 1.07, size=3).round(4).tolist(),
        "rotation_deg": float(rng.uniform(-4, 4)),
        "shift_mm": rng.uniform(-3, 3, size=3).round(3).tolist(),
        "warp_mm": float(rng.uniform(1.0, 3.0)),
        "warp_seed": int(rng.integers(2**31)),
        "skull_mm": float(rng.uniform(5.0, 8.0)),
        "table_mm": float(rng.uniform(1.2, 2.0)),
        "scalp_mm": float(rng.uniform(4.0, 7.0)),
        "sinus_mm": [float(v) for v in rng.uniform([6, 4, 6], [14, 8, 14])],
    }


def _to_template(coords: np.ndarray, geo: dict) -> np.ndarray:
    """Subject mm -> template mm: inverse scale/rotation/shift plus a smooth warp."""
    a = np.deg2rad(geo["rotation_deg"])
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]], np.float32)
    centered = coords - np.asarray(HEAD_CENTER_MM, np.float32) - np.asarray(geo["shift_mm"], np.float32)
    moved = (centered @ rot) / np.asarray(geo["scale"], np.float32) + np.asarray(HEAD_CENTER_MM, np.float32)
    warp = plane_wave_field(geo["warp_seed"], coords, (60.0, 160.0), channels=3)
    return moved + geo["warp_mm"] * warp


def _ramp(x, edge):
    """Soft step 0 -> 1 across ``edge`` (1 mm wide): partial volume at boundaries."""
    return np.clip(x - edge + 0.5, 0.0, 1.0)


def _healthy_fractions(coords: np.ndarray, geo: dict) -> np.ndarray:
    """Fractions of TISSUES[:7] (air, csf, gm, wm, cortical bone, diploe, fat)."""
    gm, wm, ic, dist = _sample_atlas(_to_template(coords, geo))
    gm, wm = np.clip(gm, 0, 1), np.clip(wm, 0, 1)
    ic = np.clip(np.maximum(ic, gm + wm), 0, 1)
    csf = np.clip(ic - gm - wm, 0, 1)
    # Skull thickness varies smoothly over the head; the frontal sinus thickens the
    # frontal bone and hollows it (air inside bone: dark on MRI, -1000 HU on CT).
    thick = geo["skull_mm"] * (1 + 0.15 * plane_wave_field(geo["warp_seed"] + 1, coords, (80.0, 200.0))[..., 0])
    sinus_center = np.array([0.0, 62.0, 8.0], np.float32)
    sinus = np.linalg.norm((coords - sinus_center) / np.asarray(geo["sinus_mm"], np.float32), axis=-1)
    thick = thick + 8.0 * np.exp(-(sinus**2))
    table = geo["table_mm"]
    bone = _ramp(dist, 0.0) * (1 - _ramp(dist, thick))
    cortical = bone * (1 - _ramp(dist, table) * (1 - _ramp(dist, thick - table)))
    sinus_air = (bone - cortical) * (sinus < 1)
    diploe = bone - cortical - sinus_air
    fat = _ramp(dist, thick) * (1 - _ramp(dist, thick + geo["scalp_mm"]))
    outside = 1 - ic
    air = 1 - bone - fat + sinus_air  # the sinus is air: every voxel's fractions sum to one
    return np.stack([air * outside, csf, gm, wm, cortical * outside, diploe * outside, fat * outside]).astype(np.float32)


def _tissue_map(fractions: np.ndarray, tumor: np.ndarray) -> np.ndarray:
    grouped = np.stack([fractions[0], fractions[1], fractions[2], fractions[3],
                        fractions[4] + fractions[5], fractions[6]])
    tissue = grouped.argmax(0).astype(np.uint8)
    tissue[tumor > 0] = 6
    return tissue


def make_subject(seed: int, shape: tuple[int, int, int] | None = None, affine: np.ndarray | None = None, *,
                 site: str = "A", tumor: str | TumorParams | np.ndarray | None = "random",
                 subject_id: str | None = None, visit: int = 0) -> Subject:
    """A phantom subject on a grid (default: one 128 x 128 axial slice).

    ``tumor``: ``"random"`` (a random tumour in the field of view), ``None`` (healthy),
    ``TumorParams``, or a label map on this grid (values 0-3, see ``tumor.LABELS``).
    ``site``: a key of ``physics.SITES`` (sequence parameters, noise, bias, blur).
    ``visit``: another scan of the same person (chapter 08's follow-ups): the same anatomy
    and tissues, a new noise realisation; visit 0 is the first scan.
    """
    if shape is None:
        shape, affine = axial_grid()
    if affine is None:
        raise ValueError("Pass the grid's affine together with its shape (see axial_grid / volume_grid).")
    if site not in physics.SITES:
        raise ValueError(f"Unknown site {site!r}; choose one of {sorted(physics.SITES)}.")
    streams = [np.random.default_rng([seed, s]) for s in range(4)]
    geo = _head_geometry(streams[_ANATOMY])
    coords = voxel_coords(shape, affine)
    fractions = _healthy_fractions(coords, geo)
    tissues = physics.jitter_tissues(streams[_TISSUES])
    params = {
        "seed": int(seed), "visit": int(visit), "site": site, "geometry": geo,
        "tissues": {k: dataclasses.asdict(v) for k, v in tissues.items()},
        "provenance": "SYNTHETIC: medsynth_nb phantom (MNI152 2009a anatomy + physics contrasts)",
    }
    subject = Subject(subject_id or f"sub-{seed:06d}", {}, {}, np.zeros(shape, np.uint8),
                      np.zeros(shape, np.uint8), affine, params, fractions)
    if isinstance(tumor, str) and tumor == "random":
        wm_points = coords[fractions[3] > 0.6]
        tumor = random_params(streams[_TUMOR], wm_points) if len(wm_points) else None
    return render(subject, tumor)


def render(subject: Subject, tumor: TumorParams | np.ndarray | None) -> Subject:
    """Re-render ``subject`` with another tumour (parameters or a label map, or None for
    healthy). Anatomy, tissue properties and noise realisation stay the same, so the
    difference to the original is the lesion alone."""
    coords = voxel_coords(subject.shape, subject.affine)
    f = subject.fractions
    if tumor is None:
        labels = np.zeros(subject.shape, np.uint8)
        subject.params.pop("tumor", None)
    elif isinstance(tumor, TumorParams):
        labels = tumor_labels(tumor, coords, f[2] + f[3], f[1] + f[2] + f[3])
        subject.params["tumor"] = tumor.to_json()
    else:
        labels = check_labels(tumor, subject.shape)
        subject.params["tumor"] = "label map given by the caller"
    tissues = {k: physics.Tissue(**v) for k, v in subject.params["tissues"].items()}
    site = physics.SITES[subject.params["site"]]
    fractions = _with_lesion(f, labels)
    if site.slice_mm > 0:  # a thick slice: the signal of every plane across it, averaged
        fractions = np.mean([fractions if not shift.any() else _plane_fractions(subject, coords + shift, tumor, labels)
                             for shift in _slice_shifts(subject.affine, site.slice_mm)], axis=0)
    signals = physics.signal_matrix(tissues, site)
    spacing = np.abs(np.diag(subject.affine)[:3])
    clean = {m: np.tensordot(s.astype(np.float32), fractions, axes=1) for m, s in signals.items()}
    clean["pet"] = _blur(clean["pet"], site.pet_fwhm_mm, spacing)
    subject.clean, subject.tumor = clean, labels
    subject.tissue = _tissue_map(subject.fractions, labels)
    subject.images, subject.noise_free = _acquire(clean, subject, site, signals, coords, spacing)
    return subject


def _with_lesion(healthy: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """All TISSUES' fractions: tumour voxels become their sub-region's tissue (necrosis,
    oedema, enhancing)."""
    lesion = np.stack([labels == k for k in (1, 2, 3)]).astype(np.float32)
    return np.concatenate([healthy * (1 - lesion.sum(0)), lesion])


def _slice_shifts(affine: np.ndarray, slice_mm: float) -> list[np.ndarray]:
    """Offsets (mm) from a slice's centre to the other planes across its thickness: a box
    profile ``slice_mm`` wide along the grid's third axis, one plane per millimetre (the
    width of the phantom's partial-volume edges)."""
    n = max(1, int(np.ceil(slice_mm)))
    normal = affine[:3, 2] / np.linalg.norm(affine[:3, 2])
    positions = (np.arange(n) + 0.5) / n * slice_mm - slice_mm / 2
    return [(p * normal).astype(np.float32) for p in np.where(np.abs(positions) < 1e-6, 0.0, positions)]


def _plane_fractions(subject: Subject, coords: np.ndarray, tumor, centre_labels: np.ndarray) -> np.ndarray:
    """Fractions on a plane parallel to the slice; a painted label map has no thickness, so
    it is used on every plane."""
    healthy = _healthy_fractions(coords, subject.params["geometry"])
    if isinstance(tumor, TumorParams):
        labels = tumor_labels(tumor, coords, healthy[2] + healthy[3], healthy[1] + healthy[2] + healthy[3])
    else:
        labels = centre_labels
    return _with_lesion(healthy, labels)


def rerender(subject: Subject, tumor: TumorParams | np.ndarray | None) -> Subject:
    """A copy of ``subject`` rendered with another tumour (``render`` works in place); the
    copy has the same anatomy, tissue properties and noise, ``subject`` stays as it was."""
    return render(dataclasses.replace(subject, params=copy.deepcopy(subject.params)), tumor)


def _blur(image: np.ndarray, fwhm_mm: float, spacing: np.ndarray) -> np.ndarray:
    if fwhm_mm <= 0:
        return image
    sigma = fwhm_mm / 2.355 / spacing
    sigma[np.array(image.shape) == 1] = 0  # a single slice cannot be blurred across
    return ndimage.gaussian_filter(image, sigma, mode="nearest").astype(np.float32)


def _log_field(subject: Subject, site: physics.Site, coords: np.ndarray, sequence: int | None = None) -> np.ndarray:
    """The log of a multiplicative MR intensity field: with ``sequence`` None the session's
    receive field (one per subject, site and visit: every sequence of a sitting shares it),
    else that sequence's small transmit term (an index into ``physics.MR_MODALITIES``)."""
    session = [subject.params["seed"], list(physics.SITES).index(site.name), subject.params.get("visit", 0)]
    if sequence is None:
        return site.bias_amplitude * plane_wave_field([_RECEIVE, *session], coords, FIELD_WAVELENGTH_MM,
                                                      n_waves=4)[..., 0]
    return site.transmit_amplitude * plane_wave_field([_TRANSMIT, *session, sequence], coords, FIELD_WAVELENGTH_MM,
                                                      n_waves=4)[..., 0]


def _acquire(clean: dict, subject: Subject, site: physics.Site, signals: dict, coords, spacing) -> tuple[dict, dict]:
    """Receive field, blur and noise -> (acquired, noise-free acquired). The noise is drawn
    with a fixed number of random numbers per voxel and scaled by lesion-independent
    quantities (the WM signal sets the MR noise level), so a re-rendered lesion leaves the
    noise elsewhere unchanged."""
    # A later visit draws new noise; the first keeps the stream it always had.
    visit = subject.params.get("visit", 0)
    rng = np.random.default_rng([subject.params["seed"], _NOISE] + ([visit] if visit else []))
    wm = physics.TISSUES.index("wm")
    out, noise_free = {}, {}
    receive = _log_field(subject, site, coords)  # computed once: the whole session shares it
    for i, modality in enumerate(physics.MR_MODALITIES):
        image = _blur(clean[modality], site.blur_mm, spacing) * np.exp(receive + _log_field(subject, site, coords, i))
        noise_free[modality] = image.astype(np.float32)
        sigma = max(float(signals[modality][wm]), 1e-6) / site.mr_snr  # SNR = WM signal / sigma
        real = image + rng.normal(0, sigma, image.shape)
        imag = rng.normal(0, sigma, image.shape)
        out[modality] = np.hypot(real, imag).astype(np.float32)  # magnitude -> Rician
    out["ct"] = (clean["ct"] + rng.normal(0, site.ct_noise_hu, clean["ct"].shape)).astype(np.float32)
    # Counts with Poisson statistics (variance = mean), in the Gaussian approximation so
    # that every voxel consumes exactly one random number.
    mean_counts = np.clip(clean["pet"], 0, None) * site.pet_counts
    counts = np.clip(np.round(mean_counts + np.sqrt(mean_counts) * rng.standard_normal(mean_counts.shape)), 0, None)
    out["pet"] = (counts / site.pet_counts).astype(np.float32)
    noise_free["ct"], noise_free["pet"] = clean["ct"], clean["pet"]
    return out, noise_free


def save_subject(subject, out_dir: str | Path, *, with_clean: bool = False, overwrite: bool = False) -> list[Path]:
    """Write a phantom subject as ``<id>_<modality>.nii.gz`` (+ ``_clean``), ``<id>_tissue``,
    ``<id>_tumor`` and ``<id>.json`` (label codes, physics parameters, seed, provenance)."""
    out = Path(out_dir)
    sid = subject.subject_id
    volumes = {f"{sid}_{m}": v for m, v in subject.images.items()}
    if with_clean:
        volumes.update({f"{sid}_{m}_clean": v for m, v in subject.clean.items()})
    volumes.update({f"{sid}_tissue": subject.tissue, f"{sid}_tumor": subject.tumor})
    meta = out / f"{sid}.json"
    refuse_overwrite([out / f"{n}.nii.gz" for n in volumes] + [meta], overwrite)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, volume in volumes.items():
        dtype = np.uint8 if volume.dtype == np.uint8 else np.float32
        written.append(save_nifti(out / f"{name}.nii.gz", volume.astype(dtype), subject.affine,
                                  sidecar=False, overwrite=overwrite))
    record = {**subject.params, "subject": sid, "synthetic": True,
              "tissue_labels": TISSUE_LABELS, "tumor_labels": LABELS,
              "units": {"t1": "a.u.", "t2": "a.u.", "pd": "a.u.", "flair": "a.u.", "t1ce": "a.u.",
                        "ct": "HU", "pet": "relative FDG uptake (WM = 1)"}}
    atomic_write(meta, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2, sort_keys=True, default=str)))
    return written + [meta]
