"""Exercise checks of chapter 07 (reconstruction as an inverse problem)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from medsynth_nb.data.measurement import UndersampledMRI, cartesian_mask, data_consistency
from medsynth_nb.exercises.coding import Case, CodingExercise
from medsynth_nb.exercises.verdict import check, verdict


@check
def check_measured_fraction(answer_fraction: float, width: int, acceleration: float) -> bool:
    """Chapter 07, exercise 1: the fraction of k-space lines the course's ``acceleration``x
    mask measures at ``width`` lines (fully sampled centre included)."""
    from medsynth_nb.data.inverse_problems import mri_operator

    operator = mri_operator(width, acceleration)
    truth = 1 / operator.acceleration
    ok = bool(abs(float(answer_fraction) - truth) <= 0.01)
    return verdict(ok, f"{int(operator.mask.sum())} of {width} lines = {truth:.3f}: the effective acceleration "
                        f"is {operator.acceleration:.2f}, not {acceleration:g}, because the lines are whole and "
                        "the centre is kept in full.",
                    "Count the True entries of the operator's mask and divide by its length.")


def _data_consistency_cases() -> list[Case]:
    g = torch.Generator().manual_seed(7)
    truth, guess = torch.rand(2, 2, 1, 16, 16, generator=g)
    full = torch.fft.fft2(truth.to(torch.complex64), norm="ortho")
    four, eight = cartesian_mask(16, 4), cartesian_mask(16, 8)
    one = UndersampledMRI(four)
    per_image = UndersampledMRI(torch.stack([four, eight]))  # B x W: a mask for each image
    return [
        Case("every line measured: the measurement alone decides, the result is the truth",
             {"guess": guess, "kspace": full, "lines": torch.ones(16, dtype=torch.bool)}, expected=truth),
        Case("no line measured: nothing to keep, the result is the guess",
             {"guess": guess, "kspace": torch.zeros_like(full), "lines": torch.zeros(16, dtype=torch.bool)},
             expected=guess),
        Case("random images, the 4x mask of 16 lines (seed 7)",
             {"guess": guess, "kspace": one.forward(truth), "lines": one.lines}),
        Case("random images, one mask per image (4x and 8x, lines of shape B x 1 x 1 x W)",
             {"guess": guess, "kspace": per_image.forward(truth), "lines": per_image.lines}),
    ]


check_data_consistency = CodingExercise(
    name="data_consistency",
    course=data_consistency,
    cases=_data_consistency_cases,
    hint="take the guess's k-space (torch.fft.fft2(guess.to(torch.complex64), norm='ortho')), keep the measurement "
         "on the measured lines (torch.where(lines, kspace, guess_k): lines broadcasts over the images), go back "
         "with torch.fft.ifft2(..., norm='ortho') and keep the real part.",
    good="The measured lines come out as the scanner measured them; only the unmeasured ones are the guess's.")


def projection_table(projection, images, test) -> pd.DataFrame:
    """``images`` (N x H x W reconstructions of ``test``'s MRI entries) before and after
    ``projection`` (the student's data_consistency or the course's), each entry with its own
    acceleration's lines: PSNR, SSIM and the data-consistency residual per acceleration."""
    from medsynth_nb.analysis.reconstruction import consistency_residuals, method_table

    batch = test.batch(None, np.arange(len(test)))
    operator = UndersampledMRI(batch["lines"])  # one mask per entry
    guess = torch.from_numpy(np.asarray(images, np.float32)[:, None])
    projected = projection(guess, operator.forward(batch["target"]), operator.lines)
    sets = {"before": np.asarray(images), "after the projection": torch.as_tensor(projected)[:, 0].numpy()}
    quality = method_table(sets, test)[["method", "acceleration", "psnr", "ssim"]]
    return quality.merge(consistency_residuals(sets, test)).set_index(["method", "acceleration"])


@check
def check_fastest_degradation(answer_method: str, table) -> bool:
    """Chapter 07, exercise 3: the MRI method whose PSNR falls most from 4x to 8x
    (``analysis.reconstruction.method_table``)."""
    from medsynth_nb.analysis.reconstruction import degradation

    lost = degradation(table, "psnr")
    truth = str(lost.idxmax())
    ok = str(answer_method).strip().lower() == truth.lower()
    return verdict(ok, f"{truth} loses {lost.max():.1f} dB ({', '.join(f'{k} {v:.1f}' for k, v in lost.items())}).",
                    "Subtract each method's PSNR at the highest acceleration from that at the lowest.")


@check
def check_fragile_uptake(answer: str, uptake, method: str = "low-dose image") -> bool:
    """Chapter 07, exercise 4: which of the tumour's "mean" and "max" uptake departs more from
    the truth at the lowest dose, for ``method`` (``analysis.reconstruction.uptake_table``)."""
    rows = uptake[uptake["method"] == method]
    if rows.empty:
        raise ValueError(f"No rows for {method!r}; the table has {sorted(set(uptake['method']))}.")
    lowest = rows.loc[rows["dose"].idxmin()]
    departures = {"mean": abs(lowest["tumor mean"] - 1), "max": abs(lowest["tumor max"] - 1)}
    truth = max(departures, key=departures.get)
    ok = str(answer).strip().lower() == truth
    return verdict(ok, f"At {lowest['dose']:.0%} dose the tumour's {truth} is off by {departures[truth]:.0%} "
                        f"(the other by {departures['max' if truth == 'mean' else 'mean']:.0%}). "
                        + ("A maximum picks the highest noise spike: it rises as the dose falls."
                           if truth == "max" else "The mean of a small lesion is what smoothing loses first."),
                    "Read the uptake table's row of this method at the lowest dose: which ratio is further from 1?")

