"""What chapter 08 measures about enhancing a low-field scan to high-field quality.

Every function takes ``images``, ``{method: N x H x W}`` enhanced versions of the same
test slices (a ``SliceSet`` holding the high-field target and the low-field input, e.g.
``"t1"`` and ``"t1@LF"``), and judges them against the high-field scan's noise-free
truth, which the phantom knows and a real study never has.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from medsynth_nb.data.slices import SliceSet
from medsynth_nb.metrics.evaluation import evaluate, lesion_fidelity
from medsynth_nb.metrics.image_quality import noise_in_region, resolution_fwhm_mm
from medsynth_nb.tasks import parse_task

GM, WM = 2, 3  # tissue codes (phantom.TISSUE_LABELS)


def gm_wm_contrast(images: np.ndarray, test: SliceSet) -> float:
    """(WM - GM) / WM of the mean intensities over the test slices: the T1w contrast that
    a low field loses (its T1s are shorter and closer together). Signed: below 0 where grey
    matter, with its higher proton density, comes out brighter than white matter."""
    wm, gm = images[test.tissue == WM].mean(), images[test.tissue == GM].mean()
    return float((wm - gm) / wm)


def _deep_white_matter(test: SliceSet) -> np.ndarray:
    """White matter at least two pixels from any other tissue: uniform, so whatever varies
    there is noise, not anatomy."""
    return np.stack([ndimage.binary_erosion(t == WM, iterations=2) for t in test.tissue])


def enhancement_table(images: dict, test: SliceSet, task: str, pixel_mm: float) -> pd.DataFrame:
    """One row per method, against the clean high-field target (inside the head): PSNR,
    SSIM, MAE and ``blur_mm`` (``metrics.evaluate``'s extra blur against the truth, FWHM in
    mm; fair only for an image in the truth's contrast), means over test subjects; effective
    resolution (``resolution_fwhm_mm``, against the tissue map: fair whatever the contrast,
    so also for the low-field input), the noise left in deep white matter, and the GM/WM
    contrast (the truth's in its own row)."""
    task = parse_task(task)
    truth = test.clean[task.target]
    head, deep_wm = test.tissue > 0, _deep_white_matter(test)
    rows = {}
    for method, stack in {**images, "high-field truth": truth}.items():
        scores = evaluate(stack, test, task, against="clean").mean()
        rows[method] = {"psnr": scores["psnr"], "ssim": scores["ssim"], "mae": scores["mae"],
                        "blur_mm": scores["blur_mm"],
                        "resolution_fwhm_mm": resolution_fwhm_mm(stack, test.tissue, head, pixel_mm),
                        "wm_noise": noise_in_region(stack, truth, deep_wm),
                        "gm_wm_contrast": gm_wm_contrast(stack, test)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")


def unseen_lesion_table(images: dict, test: SliceSet, task: str) -> pd.DataFrame:
    """``metrics.lesion_fidelity`` of every method on the test tumours, against the clean
    high-field target: contrast kept and lesion / brain error. Train on
    ``SynthesisData.healthy_training()`` so that no method has seen a tumour."""
    truth = test.clean[parse_task(task).target]
    return pd.DataFrame.from_dict({method: lesion_fidelity(stack, truth, test) for method, stack in images.items()},
                                  orient="index").rename_axis("method")
