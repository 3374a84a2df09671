"""A model card names the model's real metrics (from its scorecard, not typed), its data
and its failure modes, and is never written over an existing file."""
import numpy as np
import pytest

from medsynth_nb.analysis.model_card import COURSE_FAILURE_MODES, model_card, write_model_card
from medsynth_nb.analysis.scorecard import score_synthesis


@pytest.fixture(scope="module")
def card(tiny_data):
    test = tiny_data.test
    prediction = np.clip(test.images["t2"] + 0.05, 0, 1)  # a model that brightens every pixel
    return score_synthesis("brightener", prediction, test, "t1:t2")


def test_the_card_names_the_scorecards_numbers_and_the_failure_modes(card, tiny_data):
    text = model_card(card, model_config={"model": "unet", "channels": [8, 16]}, data_info=tiny_data.info,
                      profile="smoke", steps=40, seed=0,
                      measured_failures={"a tumour never seen in training": "contrast kept 0.42"})
    summary = card.summary
    assert f"{summary.loc['psnr', 'mean']:.4g}" in text
    assert f"{summary.loc['mae', 'ci_low']:.4g} to {summary.loc['mae', 'ci_high']:.4g}" in text
    assert "contrast kept 0.42" in text and all(mode in text for mode in COURSE_FAILURE_MODES)
    assert "the course's phantom" in text and "Must not be used for" in text and "SYNTHETIC" in text
    # Sharpness in millimetres against the truth; per-tissue errors on interiors, the edges on a row of their own.
    assert "blur (mm, 0 = as sharp as the truth)" in text and "| boundary |" in text and "interior" in text
    for subject in card.per_subject.index:
        assert subject in text


def test_a_card_is_never_written_over_an_existing_file(card, tiny_data, tmp_path):
    text = model_card(card, model_config={"model": "unet"}, data_info=tiny_data.info, profile="smoke", steps=1, seed=0)
    path = write_model_card(tmp_path / "card.md", text)
    with pytest.raises(FileExistsError):
        write_model_card(path, "something else")
    assert path.read_text() == text
