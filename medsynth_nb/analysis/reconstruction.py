"""What chapter 07 measures about reconstructions: quality against the measurement's size,
whether the measurement is kept, error per tissue, uptake in a lesion, and what happens
to a lesion no network has seen.

Every function takes ``images``, ``{method: N x H x W}`` reconstructions of the same
``MeasuredSlices`` test set (``metrics.reconstruct_set``), and returns a tidy table with
one row per method and setting (acceleration, views or dose).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from medsynth_nb.data.intensity import to_hu
from medsynth_nb.data.inverse_problems import PROBLEMS, most_measured_first, mri_operator, setting_column
from medsynth_nb.data.measurement import residual_on_measured
from medsynth_nb.data.phantom import TISSUE_LABELS
from medsynth_nb.metrics.evaluation import BRAIN_TISSUES, error_by_label, lesion_fidelity
from medsynth_nb.metrics.reconstruction import score_reconstruction


def _rows(images: dict, test, measure) -> pd.DataFrame:
    """``measure(method_images_at_setting, test_at_setting) -> dict`` for every method and
    setting, as one table."""
    name = PROBLEMS[test.problem]["setting"]
    rows = []
    for method, stack in images.items():
        for setting in test.settings:
            index = np.flatnonzero(test.setting == setting)
            rows.append({"method": method, name: setting, **measure(stack[index], test.select(index))})
    return pd.DataFrame(rows)


def method_table(images: dict, test) -> pd.DataFrame:
    """PSNR, SSIM and MAE (HU for CT) per method and setting: mean and standard deviation
    over the test subjects (the independent samples)."""
    def measure(stack, part):
        per_subject = score_reconstruction(stack, part)
        return {**per_subject.mean().to_dict(), **per_subject.std(ddof=1).add_suffix("_sd").to_dict(),
                "subjects": len(per_subject)}
    return _rows(images, test, measure)


def consistency_residuals(images: dict, test) -> pd.DataFrame:
    """MRI: the largest |A x - y| on the measured k-space samples, relative to the largest
    |y|: 0 to float precision for a method that keeps the measurement."""
    if test.problem != "mri":
        raise ValueError("Data consistency is measured here for MRI; this set is "
                         f"{test.problem!r}.")

    def measure(stack, part):
        operator = mri_operator(part.truth.shape[-1], float(part.setting[0]))
        kspace = operator.forward(torch.from_numpy(part.truth[:, None]))
        residual = residual_on_measured(operator, torch.from_numpy(np.asarray(stack, np.float32)[:, None]), kspace)
        return {"relative residual": residual / float(kspace.abs().max())}
    return _rows(images, test, measure)


def hu_error_by_tissue(images: dict, test) -> pd.DataFrame:
    """CT: mean absolute error in HU per method and number of views, by
    ``metrics.error_by_label``: one column per tissue (and the tumour) on its interior pixels,
    and one ``boundary`` column for the pixels next to another tissue, where the edges'
    blur and streaks land. A thin layer (CSF, skull, scalp fat) is mostly boundary at the
    course's sizes, so its interior column rests on few pixels (NaN where there are none)."""
    if test.problem != "ct":
        raise ValueError(f"HU errors need the CT problem; this set is {test.problem!r}.")
    tissues = {code: name for code, name in TISSUE_LABELS.items() if code > 0}

    def measure(stack, part):
        return error_by_label(to_hu(np.asarray(stack)), to_hu(part.truth), part.tissue, tissues).to_dict()
    return _rows(images, test, measure)


def uptake_table(images: dict, test) -> pd.DataFrame:
    """PET: the mean uptake (an SUV-mean) in the tumour, in the small tumours (the tumour
    slices with less than the median tumour area) and in the whole brain, and the tumour's
    maximum (SUV-max), each as reconstructed / true on the tumour slices. 1 means
    preserved; a denoiser that smooths lowers a small hot lesion's mean first, while noise
    raises its maximum."""
    if test.problem != "pet":
        raise ValueError(f"Uptake needs the PET problem; this set is {test.problem!r}.")

    def measure(stack, part):
        slices = np.flatnonzero(part.tumor.reshape(len(part), -1).any(1))
        area = (part.tumor[slices] > 0).reshape(len(slices), -1).sum(1)
        ratios = {"tumor mean": [], "small tumor mean": [], "tumor max": [], "brain mean": []}
        for i, small in zip(slices, area < np.median(area) if len(area) else []):
            lesion, brain = part.tumor[i] > 0, np.isin(part.tissue[i], BRAIN_TISSUES) | (part.tumor[i] > 0)
            ratios["tumor mean"].append(stack[i][lesion].mean() / part.truth[i][lesion].mean())
            if small:
                ratios["small tumor mean"].append(ratios["tumor mean"][-1])
            ratios["tumor max"].append(stack[i][lesion].max() / part.truth[i][lesion].max())
            ratios["brain mean"].append(stack[i][brain].mean() / part.truth[i][brain].mean())
        return {k: float(np.mean(v)) if v else float("nan") for k, v in ratios.items()}
    return _rows(images, test, measure)


def hallucination_table(images: dict, test) -> pd.DataFrame:
    """``metrics.lesion_fidelity`` of every method and setting on the test tumours, which no
    network saw in training (``healthy_training``): contrast kept, lesion / brain error."""
    return _rows(images, test, lambda stack, part: lesion_fidelity(stack, part.truth, part))


def degradation(table: pd.DataFrame, metric: str = "psnr") -> pd.Series:
    """How much each method loses from the most to the least measured setting (e.g. PSNR
    at 4x minus at 8x): the method whose error grows fastest has the largest value."""
    problem, setting = setting_column(table)
    wide = table.pivot(index="method", columns=setting, values=metric)
    order = most_measured_first(problem, wide.columns)
    return (wide[order[0]] - wide[order[-1]]).rename(f"{metric} lost")
