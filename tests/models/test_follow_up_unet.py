"""Chapter 08's follow-up generator: it starts from the last prior, learns the change, and
is rebuilt from its config."""
import numpy as np
import pytest
import torch

from medsynth_nb.data.longitudinal import load_longitudinal
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.models import build_model, model_from_config
from medsynth_nb.models.longitudinal import FollowUpUNet, forecast_set
from medsynth_nb.profiles import get_profile

SMALL = (8, 16)


@pytest.fixture(scope="module")
def data():
    return load_longitudinal(4, 32, 2, seed=0, progress=False)


def test_a_short_training_learns_more_than_no_change(data):
    torch.manual_seed(0)
    model = build_model("follow_up_unet", None, get_profile("smoke"), n_priors=2, channels=SMALL, lr=3e-3)
    config = TrainConfig.from_profile(get_profile("smoke"), steps=120, batch_size=4, eval_every=1000,
                                     max_eval_slices=4)
    history = train(model, data, None, config, progress=False)
    every = data.train.batch(None, np.arange(data.train.n_entries))
    no_change = float((every["source"][:, 1:2] - every["target"]).abs().mean())
    learnt = float((model.forecast(every) - every["target"]).abs().mean())
    assert learnt < 0.9 * no_change, (learnt, no_change)
    scores = history.val[-1]
    assert set(scores) == {"step", "psnr", "ssim", "mae"} and np.isfinite(scores["psnr"]) and 0 < scores["mae"] < 1


def test_the_forecast_is_the_last_prior_plus_a_change_and_stays_in_range(data):
    torch.manual_seed(0)
    model = FollowUpUNet(n_priors=2, channels=SMALL)  # fresh: its change gain is zero
    batch = data.test.batch(None, np.arange(data.test.n_entries))
    assert torch.equal(model.forecast(batch), batch["source"][:, 1:2].clamp(0, 1)), "no change learnt: last prior"
    images = forecast_set(model.forecast, data.test, batch_size=3)
    assert images.shape == (data.test.n_entries, 32, 32)
    assert np.array_equal(images, batch["source"][:, 1].numpy())

    with torch.no_grad():
        model.change_gain.fill_(1.0)
    assert not torch.equal(model.forecast(batch), batch["source"][:, 1:2].clamp(0, 1)), "the net adds its change"
    shifted = {**batch, "source": batch["source"] + 5.0}
    out = model.forecast(shifted)
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="for_priors"):
        model.forecast(data.for_priors(1).test.batch(None, [0]))


def test_the_model_is_rebuilt_from_its_config():
    model = build_model("follow_up_unet", None, get_profile("smoke"), n_priors=1, channels=SMALL)
    rebuilt = model_from_config(model.config)
    assert isinstance(rebuilt, FollowUpUNet) and rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    source = torch.rand(2, 2, 32, 32)
    assert torch.equal(rebuilt.predict(source), model.predict(source))
    with pytest.raises(ValueError, match="task=None"):
        build_model("follow_up_unet", "t1:t2", get_profile("smoke"))
    with pytest.raises(ValueError, match="n_priors"):
        FollowUpUNet(n_priors=0)
