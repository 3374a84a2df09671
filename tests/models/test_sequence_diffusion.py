"""Chapter 08's sequence-aware diffusion forecaster: attention over the priors, the time
reaching the network, training, and rebuilding from its config."""
import numpy as np
import pytest
import torch

from medsynth_nb.data.longitudinal import load_longitudinal
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.models import build_model, model_from_config
from medsynth_nb.models.sequence_diffusion import PriorAttention, SequenceDiffusion
from medsynth_nb.profiles import get_profile

SMOKE = get_profile("smoke")


@pytest.fixture(scope="module")
def data():
    return load_longitudinal(4, 32, 2, seed=0, progress=False)


def test_attention_weights_each_prior_and_identical_priors_share_it_equally():
    torch.manual_seed(0)
    attention = PriorAttention(features=8)
    prior, times = torch.rand(2, 1, 16, 16), torch.full((2, 1, 16, 16), 0.5)
    mixed, weights = attention(torch.cat([prior, prior, times, times], 1))  # the same scan twice
    assert mixed.shape == (2, 8, 16, 16) and weights.shape == (2, 2, 16, 16)
    assert torch.allclose(weights, torch.full_like(weights, 0.5))
    single, one = attention(torch.cat([prior, times], 1))
    assert torch.allclose(one, torch.ones_like(one)) and torch.allclose(single, mixed, atol=1e-6)
    _, different = attention(torch.cat([prior, torch.rand(2, 1, 16, 16), times, times], 1))
    assert torch.allclose(different.sum(1), torch.ones(2, 16, 16)) and not torch.allclose(different, weights)


def test_the_time_to_the_target_reaches_the_conditioning():
    # The reason for a norm-free encoder: a constant time map must change what the network sees.
    torch.manual_seed(0)
    attention = PriorAttention(features=8)
    prior = torch.rand(1, 1, 16, 16)
    soon, _ = attention(torch.cat([prior, torch.full_like(prior, 0.1)], 1))
    later, _ = attention(torch.cat([prior, torch.full_like(prior, 0.9)], 1))
    assert (soon - later).abs().mean() > 1e-3


def test_a_short_training_lowers_the_denoising_loss_and_forecasts_every_entry(data):
    torch.manual_seed(0)
    model = build_model("sequence_diffusion", None, SMOKE, n_priors=2, channels=(8, 16, 16))
    history = train(model, data, None, TrainConfig.from_profile(SMOKE, steps=40, batch_size=4, eval_every=10**9,
                                                                max_eval_slices=2), progress=False)
    mse = history.losses["mse"]
    assert np.mean(mse[-8:]) < 0.7 * np.mean(mse[:8]), (mse[:8], mse[-8:])
    assert set(history.val[-1]) == {"step", "psnr", "ssim", "mae"}
    forecast = model.forecast(data.test.batch(None, np.arange(3)))
    assert forecast.shape == (3, 1, 32, 32) and 0 <= forecast.min() and forecast.max() <= 1


def test_the_model_is_rebuilt_from_its_config_and_refuses_a_task():
    model = build_model("sequence_diffusion", None, SMOKE, n_priors=1, channels=(8, 16, 16))
    rebuilt = model_from_config(model.config)
    assert isinstance(rebuilt, SequenceDiffusion) and rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    source = torch.rand(2, 2, 32, 32)
    assert torch.equal(rebuilt.sample(source, steps=3), model.sample(source, steps=3))
    with pytest.raises(ValueError, match="task=None"):
        build_model("sequence_diffusion", "t1:t2", SMOKE)
    with pytest.raises(ValueError, match="n_priors"):
        SequenceDiffusion(n_priors=0)
