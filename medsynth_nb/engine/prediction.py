"""A trained run applied to a patient's whole volume (``medsynth predict``).

1. The inputs (one NIfTI file or DICOM series folder per source modality of the run's task,
   on one voxel grid) are read and checked (``data.scans.read_scan``).
2. They go to the model's grid: ``data.scans.to_course_grid`` (MONAI orientation, in-plane
   spacing of the run's image size, crop/pad; the scan's own slice spacing, so every
   acquired slice is predicted), normalised as in training.
3. Every axial slice is predicted (batches, with progress), the volume is assembled and the
   same MONAI transforms are inverted: the synthetic volume lands **on the input's own
   grid and affine**, voxel for voxel, in the target's units (CT in HU; MR and PET in the
   course's normalised [0, 1] scale, which the provenance says).
4. ``write_prediction`` stamps it SYNTHETIC (NIfTI header + provenance sidecar: run, model,
   task, input file hashes, profile) and can also write it as a new DICOM series.

Uncertainty (``uncertainty=True``) is the spread of ``n_samples`` diffusion samples, or the
heteroscedastic model's predicted standard deviation (sqrt(2) times its Laplace scale);
other models have none and say so.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from medsynth_nb.data.intensity import CT_WINDOW_HU, to_hu
from medsynth_nb.data.scans import ScanError, read_scan, to_course_grid
from medsynth_nb.engine.training import load_trained
from medsynth_nb.io import refuse_overwrite, save_nifti
from medsynth_nb.orientation import display_slices, slab_from_display
from medsynth_nb.profiles import get_profile
from medsynth_nb.tasks import parse_task


@dataclass
class Prediction:
    volume: np.ndarray                 # on the first input's grid
    affine: np.ndarray                 # the first input's affine
    uncertainty: np.ndarray | None     # same grid; None unless asked for
    provenance: dict
    dicom_reference: object = None     # the input series' first header, when the input was DICOM


def file_hash(path: Path) -> str:
    """SHA-256 of a file, or of a DICOM folder's files (order-independent: the sorted hashes)."""
    if path.is_dir():
        hashes = sorted(file_hash(p) for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        return hashlib.sha256("".join(hashes).encode()).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_run(run: str | Path) -> dict:
    """The run's ``metrics.json`` (task, profile, data), with a clear error for a wrong folder."""
    report = Path(run) / "metrics.json"
    if not report.exists():
        raise FileNotFoundError(f"{report} not found: pass the --out folder of a finished 'medsynth train' run.")
    return json.loads(report.read_text())


def run_image_size(report: dict) -> int:
    """The image size a run was trained at (from its ``metrics.json``): its data's, else its profile's."""
    return int(report.get("dataset", {}).get("image_size") or get_profile(report["profile"]).image_size)


def _predict_slices(model, source: torch.Tensor, batch_size: int, uncertainty: bool, n_samples: int, seed: int,
                    progress: bool) -> tuple[np.ndarray, np.ndarray | None]:
    means, spreads = [], []
    for start in tqdm(range(0, len(source), batch_size), desc="predicting slices", disable=not progress,
                      leave=False):
        batch = source[start:start + batch_size]
        if uncertainty and hasattr(model, "sample_many"):
            samples = model.sample_many(batch, n_samples, seed=seed)
            mean, spread = samples.mean(0), samples.std(0)
        elif uncertainty and hasattr(model, "predict_with_scale"):
            mean, scale = model.predict_with_scale(batch)
            spread = scale * 2 ** 0.5
        else:
            mean, spread = model.predict(batch), None
        means.append(mean[:, 0].float().numpy())
        spreads.append(None if spread is None else spread[:, 0].float().numpy())
    return np.concatenate(means), (np.concatenate(spreads) if uncertainty else None)


def predict_scan(run: str | Path, inputs, *, uncertainty: bool = False, n_samples: int = 8, seed: int = 0,
                 batch_size: int = 16, progress: bool = True) -> Prediction:
    """The run's synthetic target for a patient (see the module docstring). ``inputs``: one
    path per source modality of the run's task, in its order (or {modality: path})."""
    report = read_run(run)
    task = parse_task(report["task"])
    paths = [Path(inputs[m]) for m in task.sources] if isinstance(inputs, dict) else [Path(p) for p in inputs]
    if len(paths) != len(task.sources):
        raise ValueError(f"The run {run} synthesises {task.target} from {', '.join(task.sources)}: pass "
                         f"{len(task.sources)} input(s) in that order; got {len(paths)}.")
    model, _ = load_trained(run)
    if uncertainty and not (hasattr(model, "sample_many") or hasattr(model, "predict_with_scale")):
        raise ValueError(f"A {report['model']} run gives no per-voxel uncertainty; --uncertainty works with "
                         "diffusion (spread of samples) and heteroscedastic runs.")
    scans = [read_scan(p) for p in paths]
    for modality, scan in zip(task.sources[1:], scans[1:]):
        if not scan.same_grid(scans[0]):
            raise ScanError(f"The {modality} input {scan.describe()} is not on the grid of the {task.sources[0]} "
                            f"input {scans[0].describe()}. Register it to that scan first; the output lands on the "
                            "first input's grid.")
    image_size = run_image_size(report)
    grid, inverse = to_course_grid({m: s.array for m, s in zip(task.sources, scans)}, scans[0].affine,
                                   image_size=image_size)
    source = torch.from_numpy(np.stack([display_slices(grid[m]) for m in task.sources], 1))
    torch.manual_seed(seed)
    mean, spread = _predict_slices(model, source, batch_size, uncertainty, n_samples, seed, progress)
    volume = inverse(slab_from_display(mean))
    units = "normalised [0, 1] (/ p99.5 inside the head, as the training data)"
    if task.target == "ct":
        volume, units = to_hu(volume), "HU"
    spread_volume = None
    if spread is not None:
        spread_volume = inverse(slab_from_display(spread))
        hu_per_unit = CT_WINDOW_HU[1] - CT_WINDOW_HU[0]  # to_hu is linear: a spread scales by its slope
        spread_volume = np.clip(spread_volume * (hu_per_unit if task.target == "ct" else 1.0), 0, None)
    provenance = {
        "run": str(Path(run).resolve()), "model": report["model"], "task": str(task), "profile": report["profile"],
        "training_steps": report.get("steps"), "training_seed": report.get("seed"),
        "inputs": {m: {"path": str(p.resolve()), "sha256": file_hash(p)} for m, p in zip(task.sources, paths)},
        "grid": f"the {task.sources[0]} input's own grid and affine", "units": units,
        "model_grid": f"{image_size} px over the course's in-plane field of view, the input's slice spacing",
        "uncertainty": None if spread is None else (f"std of {n_samples} samples" if hasattr(model, "sample_many")
                                                    else "predicted std (sqrt(2) x Laplace scale)"),
        "seed": seed,
    }
    return Prediction(volume.astype(np.float32), scans[0].affine, spread_volume, provenance,
                      scans[0].dicom["reference"] if scans[0].dicom else None)


def write_prediction(prediction: Prediction, out: str | Path, *, dicom_dir: str | Path | None = None,
                     overwrite: bool = False) -> list[Path]:
    """``out`` (.nii.gz, stamped SYNTHETIC + sidecar), ``<out>_uncertainty.nii.gz`` when there is
    one, and optionally a new DICOM series in ``dicom_dir``. Nothing existing is replaced
    without ``overwrite``; all targets are checked before anything is written."""
    out = Path(out)
    if not out.name.endswith((".nii.gz", ".nii")):
        raise ValueError(f"--out {out}: name the synthetic volume .nii.gz (e.g. patient_t2_synthetic.nii.gz).")
    stem = out.name.removesuffix(".gz").removesuffix(".nii")
    spread_path = out.with_name(f"{stem}_uncertainty.nii.gz")
    targets = [out, out.with_name(f"{stem}.json")]
    if prediction.uncertainty is not None:
        targets += [spread_path, spread_path.with_name(f"{stem}_uncertainty.json")]
    if dicom_dir is not None and Path(dicom_dir).exists() and any(Path(dicom_dir).iterdir()):
        targets.append(Path(dicom_dir))
    refuse_overwrite(targets, overwrite)
    written = [save_nifti(out, prediction.volume, prediction.affine, provenance=prediction.provenance,
                          overwrite=overwrite)]
    if prediction.uncertainty is not None:
        written.append(save_nifti(spread_path, prediction.uncertainty, prediction.affine, overwrite=overwrite,
                                  provenance={**prediction.provenance, "image": "per-voxel uncertainty"}))
    if dicom_dir is not None:
        from medsynth_nb.dicom import write_series

        task = parse_task(prediction.provenance["task"])
        written += write_series(dicom_dir, prediction.volume, prediction.affine,
                                modality="CT" if task.target == "ct" else "MR",
                                series_description=f"{task.target} from {','.join(task.sources)} "
                                                   f"({prediction.provenance['model']})",
                                provenance=prediction.provenance, reference=prediction.dicom_reference,
                                overwrite=overwrite)
    return written
