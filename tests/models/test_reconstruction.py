"""Chapter 07's learned reconstructions: the null-space network and DDNM keep the measured
k-space exactly, the post-processing U-Net need not, and training lowers the loss."""
import numpy as np
import pytest
import torch

from medsynth_nb.data.inverse_problems import load_inverse_problem, mri_operator
from medsynth_nb.data.measurement import residual_on_measured
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.models import build_model, model_from_config
from medsynth_nb.profiles import get_profile

SMALL = (8, 16)


@pytest.fixture(scope="module")
def mri(tiny_data):
    return load_inverse_problem(tiny_data, "mri", (4, 8), healthy_training=False)


def _residuals(model, data) -> list[float]:
    """Largest relative |A x - y| on the measured samples, per setting of the test set."""
    out = []
    for setting in data.test.settings:
        part = data.test.at(setting)
        operator = mri_operator(part.truth.shape[-1], setting)
        kspace = operator.forward(torch.from_numpy(part.truth[:, None]))
        with torch.no_grad():
            image = model.reconstruct(part.batch(None, np.arange(len(part))))
        out.append(residual_on_measured(operator, image, kspace) / float(kspace.abs().max()))
    return out


def test_the_null_space_network_keeps_the_measurement_and_the_plain_unet_does_not(mri):
    profile = get_profile("smoke")
    torch.manual_seed(0)
    plain = build_model("reconstruction_unet", None, profile, channels=SMALL)
    null_space = build_model("reconstruction_unet", None, profile, channels=SMALL, null_space=True)
    null_space.load_state_dict(plain.state_dict())  # the same network: only the projection differs
    assert max(_residuals(null_space, mri)) < 1e-5
    assert min(_residuals(plain, mri)) > 1e-3


def test_training_lowers_the_loss_and_the_config_rebuilds_the_model(mri):
    model = build_model("reconstruction_unet", None, get_profile("smoke"), channels=SMALL, null_space=True)
    history = train(model, mri, None, TrainConfig(steps=30, batch_size=8, eval_every=1000, max_eval_slices=8),
                    progress=False)
    l1 = history.losses["l1"]
    assert np.mean(l1[-5:]) < np.mean(l1[:5]), (l1[:5], l1[-5:])
    assert {"psnr", "ssim", "mae"} <= set(history.val[-1])
    rebuilt = model_from_config(model.config)
    assert rebuilt.config["null_space"] and isinstance(rebuilt, type(model))


def test_ddnm_samples_keep_the_measurement_exactly_and_differ_only_where_unmeasured(mri):
    prior = build_model("zero_shot_diffusion", None, get_profile("smoke"), channels=(8, 16, 16), sample_steps=4,
                        samples=2)
    assert not prior.conditional
    train(prior, mri, None, TrainConfig(steps=4, batch_size=4, eval_every=1000, max_eval_slices=4), progress=False)
    assert max(_residuals(prior, mri)) < 1e-5
    part = mri.test.at(8)
    batch = part.batch(None, np.arange(len(part)))
    with torch.no_grad():
        samples = prior.reconstruct_samples(batch)
    assert samples.shape == (len(part), 2, *part.truth.shape[1:])
    operator = mri_operator(part.truth.shape[-1], 8)
    difference = torch.fft.fft2((samples[:, :1] - samples[:, 1:]).to(torch.complex64), norm="ortho")
    assert float(difference[..., operator.lines].abs().max()) < 1e-5, "samples agree on every measured line"
    assert float(difference.abs().max()) > 1e-3, "and differ elsewhere: the prior's guesses"


def test_a_correction_needs_a_model_that_predicts_the_clean_image():
    model = build_model("zero_shot_diffusion", None, get_profile("smoke"), channels=(8, 16, 16),
                        prediction="epsilon")
    with pytest.raises(ValueError, match="prediction='sample'"):
        model.sample(n=1, image_size=16, correct=lambda x: x)


def test_sampling_from_a_start_image_walks_only_the_last_steps():
    model = build_model("zero_shot_diffusion", None, get_profile("smoke"), channels=(8, 16, 16), sample_steps=10)
    calls = []
    model.ema.module.register_forward_hook(lambda *args: calls.append(1))
    start = torch.rand(1, 1, 16, 16)
    model.sample(n=1, image_size=16, start=start, strength=0.3)
    assert len(calls) == 3, "30 % of a 10-step schedule"
    with pytest.raises(ValueError, match="strength"):
        model.sample(n=1, image_size=16, start=start, strength=0)


def test_a_total_preserving_denoiser_keeps_each_images_total_activity(tiny_data):
    pet = load_inverse_problem(tiny_data, "pet", (0.1,), healthy_training=False)
    model = build_model("reconstruction_unet", None, get_profile("smoke"), channels=SMALL, residual=False,
                        preserve_total=True)
    batch = pet.test.batch(None, np.arange(len(pet.test)))
    with torch.no_grad():
        output = model.reconstruct(batch)
    assert torch.allclose(output.sum((-2, -1)), batch["source"].sum((-2, -1)), rtol=1e-4)
