"""Exercise checks of chapter 03 (diffusion models)."""
from __future__ import annotations

import numpy as np

from medsynth_nb.exercises.verdict import check, verdict


@check
def check_snr_crossing(answer_step: int, scheduler) -> bool:
    """Chapter 03, exercise 1: the first step t at which the schedule's signal-to-noise
    ratio abar_t / (1 - abar_t) falls below 1 (signal and noise equally strong)."""
    abar = scheduler.alphas_cumprod.double().numpy()
    truth = int(np.argmax(abar / (1 - abar) < 1))
    ok = abs(int(answer_step) - truth) <= max(5, 0.02 * len(abar))
    return verdict(ok, f"t = {truth}: from there on a noised image holds more noise than anatomy.",
                    "SNR < 1 means abar_t < 1/2: find where the cumulative product of (1 - beta) crosses 0.5.")


@check
def check_fewest_ddim_steps(answer_steps: int, table, tolerance_db: float = 0.5) -> bool:
    """Chapter 03, exercise 2: the fewest DDIM steps whose PSNR is within ``tolerance_db``
    of the best PSNR in the sampling table (columns sampler, steps, psnr)."""
    ddim = table[table["sampler"] == "ddim"].sort_values("steps")
    good = ddim[ddim["psnr"] >= table["psnr"].max() - tolerance_db]
    truth = int(good["steps"].iloc[0]) if len(good) else None
    ok = answer_steps == truth
    return verdict(ok, f"{truth} DDIM steps: more steps cost time in proportion and buy less than "
                        f"{tolerance_db} dB here." if truth is not None else
                    f"No DDIM setting came within {tolerance_db} dB: DDPM's full chain was needed.",
                    "Read the PSNR column: which is the smallest step count close enough to the best row?")
