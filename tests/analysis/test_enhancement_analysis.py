"""Chapter 08's enhancement tables on a small paired low-/high-field set."""
import numpy as np
import pytest

from medsynth_nb.analysis import enhancement
from medsynth_nb.data import load_dataset

TASK = "t1@LF:t1"


@pytest.fixture(scope="module")
def paired():
    sizes = dict(seed=3, n_subjects=4, image_size=48, slices_per_subject=2, tumor_prob=1.0, progress=False)
    return load_dataset("phantom", **sizes).with_site(load_dataset("phantom", site="LF", visit=1, **sizes)).test


def test_the_table_scores_the_truth_perfectly_and_the_low_field_scan_as_blurred_noisy_and_flat(paired):
    table = enhancement.enhancement_table({"low-field input": paired.images["t1@LF"],
                                           "high-field scan": paired.images["t1"]}, paired, TASK, pixel_mm=230 / 48)
    truth, low, high = table.loc["high-field truth"], table.loc["low-field input"], table.loc["high-field scan"]
    assert truth["wm_noise"] == 0 and truth["ssim"] == pytest.approx(1) and truth["blur_mm"] == pytest.approx(0)
    assert low["resolution_fwhm_mm"] > truth["resolution_fwhm_mm"] + 1.0
    assert low["wm_noise"] > high["wm_noise"]
    assert low["gm_wm_contrast"] < 0.8 * truth["gm_wm_contrast"]
    assert high["psnr"] > low["psnr"]


def test_the_unseen_lesion_table_keeps_the_truths_contrast_and_sees_an_erased_tumour(paired):
    truth = paired.clean["t1"]
    erased = truth.copy()
    for i in np.flatnonzero(paired.tumor.reshape(len(paired), -1).any(1)):
        erased[i][paired.tumor[i] > 0] = truth[i][paired.tissue[i] == 3].mean()  # painted over with white matter
    table = enhancement.unseen_lesion_table({"truth": truth, "erased": erased}, paired, TASK)
    assert table.loc["truth", "contrast kept"] == pytest.approx(1.0)
    assert abs(table.loc["erased", "contrast kept"]) < 0.05
    assert table.loc["erased", "lesion / brain error"] > 1.0
