"""Exercise checks of chapter 07 (reconstruction as an inverse problem)."""
from __future__ import annotations

import torch

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


@check
def check_projection(answer_image, guess: torch.Tensor, kspace: torch.Tensor, operator) -> bool:
    """Chapter 07, exercise 2: the data-consistency projection A^H y + (I - A^H A) guess,
    computed by the student with FFTs, against the course's ``operator.data_consistency``."""
    from medsynth_nb.data.measurement import residual_on_measured

    truth = operator.data_consistency(guess, kspace)
    answer = torch.as_tensor(answer_image).reshape(truth.shape).to(truth.dtype)
    residual = residual_on_measured(operator, answer, kspace)
    ok = bool(torch.allclose(answer, truth, atol=1e-5))
    return verdict(ok, f"Your projection keeps the measured lines (largest residual {residual:.1e}) and the guess "
                        "everywhere else: the network can change only what the scanner did not see.",
                    f"Largest difference to the projection {float((answer - truth).abs().max()):.3g}. Take the "
                    "guess's k-space (fft2, norm='ortho'), put the measured k-space on the measured lines "
                    "(torch.where(operator.lines, kspace, guess_k)), go back with ifft2 and keep the real part.")


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

