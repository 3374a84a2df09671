"""Diffusion model: noise schedule, forward process statistics, deterministic DDIM,
training lowers the loss, samples' shape/range/reproducibility, checkpoints, EMA."""
import numpy as np
import pytest
import torch

from medsynth_nb.engine import TrainConfig, load_trained, train
from medsynth_nb.models import DiffusionSynthesiser, build_model
from medsynth_nb.profiles import get_profile

TASK = "t1:t2"


def _model(seed=0, **overrides):
    torch.manual_seed(seed)
    return build_model("diffusion", TASK, get_profile("smoke"), **overrides)


def test_schedule_is_the_cumulative_product_of_one_minus_beta():
    for schedule in ("linear_beta", "cosine"):
        scheduler = _model(schedule=schedule).scheduler
        betas, abar = scheduler.betas.double(), scheduler.alphas_cumprod.double()
        assert torch.allclose(abar, torch.cumprod(1 - betas, 0), atol=1e-6)
        assert (abar[1:] < abar[:-1]).all(), "signal only decays"
        assert abar[0] > 0.99 and abar[-1] < 1e-3, "starts almost clean, ends almost pure noise"
    linear = _model().scheduler.betas
    assert linear[0].item() == pytest.approx(1e-4) and linear[-1].item() == pytest.approx(0.02)


def test_forward_process_on_a_constant_image_has_the_closed_form_statistics():
    scheduler = _model().scheduler
    x0 = torch.full((4000, 1, 2, 2), 0.5)
    for t in (10, 300, 900):
        xt = scheduler.add_noise(x0, torch.randn_like(x0), torch.full((4000,), t))
        abar = scheduler.alphas_cumprod[t].item()
        assert xt.mean().item() == pytest.approx(0.5 * abar ** 0.5, abs=0.02)
        assert xt.std().item() == pytest.approx((1 - abar) ** 0.5, rel=0.03)


def test_ddim_step_without_noise_is_deterministic_and_ddpm_step_is_not():
    model = _model()
    x, eps = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    ddim = model.make_scheduler("ddim", 10)
    t = int(ddim.timesteps[3])
    first = ddim.step(eps, t, x, eta=0.0, generator=torch.Generator().manual_seed(1))[0]
    second = ddim.step(eps, t, x, eta=0.0, generator=torch.Generator().manual_seed(2))[0]
    assert torch.equal(first, second)
    ddpm = model.make_scheduler("ddpm")
    a = ddpm.step(eps, 500, x, generator=torch.Generator().manual_seed(1))[0]
    b = ddpm.step(eps, 500, x, generator=torch.Generator().manual_seed(2))[0]
    assert not torch.equal(a, b)
    with pytest.raises(ValueError, match="sampler"):
        model.make_scheduler("euler")


def test_short_run_lowers_the_denoising_loss(tiny_data):
    history = train(_model(), tiny_data, TASK, TrainConfig(steps=40, batch_size=8, eval_every=1000,
                                                           max_eval_slices=2), progress=False)
    mse = history.losses["mse"]
    assert np.mean(mse[-8:]) < 0.7 * np.mean(mse[:8]), (mse[:8], mse[-8:])


def test_samples_have_the_right_shape_range_and_reproduce_with_the_seed():
    # Noise prediction: an untrained (zero-output) network still passes the noise through.
    model = _model(prediction="epsilon")
    source = torch.rand(3, 1, 16, 16)
    a = model.sample(source, steps=4, seed=5)
    assert a.shape == (3, 1, 16, 16) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, model.sample(source, steps=4, seed=5))
    assert not torch.equal(a, model.sample(source, steps=4, seed=6)), "another seed, another sample"
    assert torch.equal(model.predict(source), model.sample(source))
    ddpm = model.sample(source[:1], sampler="ddpm", seed=0)
    assert ddpm.shape == (1, 1, 16, 16)


def test_unconditional_model_and_input_errors():
    unconditional = _model(in_channels=0)
    assert not unconditional.conditional
    assert unconditional.sample(n=2, image_size=16, steps=3).shape == (2, 1, 16, 16)
    with pytest.raises(ValueError, match="n .how many samples"):
        unconditional.sample(steps=3)
    with pytest.raises(ValueError, match="source"):
        _model().sample(steps=3)
    with pytest.raises(ValueError, match="1 source channel"):
        _model().sample(torch.rand(1, 2, 16, 16), steps=3)


def test_ema_follows_the_weights_with_warmup():
    model = _model()
    weight = next(model.net.parameters())
    ema_weight = next(model.ema.module.parameters())
    assert torch.equal(weight, ema_weight)
    with torch.no_grad():
        weight.add_(1.0)
    model.ema.update_parameters(model.net)  # first update: the average starts at the weights
    model.ema.update_parameters(model.net)
    with torch.no_grad():
        weight.add_(1.0)
    model.ema.update_parameters(model.net)  # warm-up decay 3/12: moves 0.75 of the way
    moved = (ema_weight - (weight - 1.0)).mean().item()
    assert 0.6 < moved < 0.9


def test_checkpoint_round_trip_keeps_the_ema_samples(tiny_data, tmp_path):
    model = _model()
    train(model, tiny_data, TASK, TrainConfig(steps=3, batch_size=2, eval_every=1000, max_eval_slices=2),
          out_dir=tmp_path, progress=False)
    loaded, history = load_trained(tmp_path)
    assert isinstance(loaded, DiffusionSynthesiser) and history.step == 3
    source = torch.rand(2, 1, 32, 32)
    assert torch.equal(loaded.sample(source, steps=3), model.sample(source, steps=3))


def test_rank_correlation_ranks():
    from medsynth_nb.metrics.stats import rank_correlation

    error = np.random.default_rng(0).random((4, 8, 8))
    assert rank_correlation(2 * error + 1, error) == pytest.approx(1.0)
    assert rank_correlation(-error, error) == pytest.approx(-1.0)
    mask = np.zeros(error.shape, bool)
    mask[:, :4] = True
    assert rank_correlation(np.where(mask, error, 0), error, mask) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        rank_correlation(error[:2], error)


def test_cli_trains_then_writes_samples_mean_and_uncertainty(tmp_path):
    import json

    from medsynth_nb.cli import main
    from medsynth_nb.io import is_synthetic, load_nifti

    run, out = tmp_path / "run", tmp_path / "samples"
    assert main(["train", "diffusion", "--task", TASK, "--profile", "smoke", "--steps", "3", "--out", str(run)]) == 0
    args = ["sample", str(run), "--n-samples", "3", "--steps", "2", "--seed", "4", "--out", str(out)]
    assert main(args) == 0
    files = sorted(out.glob("*.nii.gz"))
    assert [f.name.split("_", 2)[-1] for f in files] == ["sample-mean.nii.gz", "sample-std.nii.gz", "samples.nii.gz"]
    mean, _ = load_nifti(files[0])
    std, _ = load_nifti(files[1])
    samples, _ = load_nifti(files[2])
    assert samples.shape == (*mean.shape, 3) and np.allclose(samples.mean(-1), mean, atol=1e-5)
    assert (std >= 0).all() and std.max() > 0 and is_synthetic(files[0])
    sidecar = json.loads(files[1].with_name(files[1].name.replace(".nii.gz", ".json")).read_text())
    assert sidecar["seeds"] == [4, 5, 6] and sidecar["sampler"] == "ddim" and sidecar["steps"] == 2
    assert main(args) == 2, "never overwrites without --overwrite"
    assert main(args + ["--overwrite"]) == 0
    assert main(["sample", str(run), "--subject", "nobody", "--out", str(out)]) == 2


def test_cli_sample_refuses_a_model_that_cannot_sample(tmp_path):
    from medsynth_nb.cli import main

    assert main(["train", "unet", "--task", TASK, "--profile", "smoke", "--steps", "2", "--out", str(tmp_path)]) == 0
    assert main(["sample", str(tmp_path), "--out", str(tmp_path / "s")]) == 2


def test_forward_process_figure_and_viewer_follow_the_slider(monkeypatch):
    import matplotlib.pyplot as plt

    from medsynth_nb import viz, widgets

    schedulers = {"linear": _model().scheduler, "cosine": _model(schedule="cosine").scheduler}
    image = np.random.default_rng(0).random((16, 16))
    fig = viz.forward_process(image, schedulers, [0, 500, 999])
    assert len(fig.axes) == 2 * 4 and fig.axes[1].get_title() == "linear, t = 500"
    clean = fig.axes[0].images[0].get_array()
    assert np.abs(clean - image).max() < 0.05, "t = 0 is (almost) the image itself"
    plt.close(fig)
    titles = []
    monkeypatch.setattr(widgets.common, "show_figure", lambda out, f: (titles.append(f.axes[0].get_title()), plt.close(f)))
    viewer = widgets.ForwardProcessViewer(image, schedulers)
    viewer.step.value = 700
    assert titles == ["linear, t = 249", "linear, t = 700"] and viewer.step.max == 999


def test_compare_samplers_times_and_scores_each_setting(tiny_data):
    from medsynth_nb.metrics import compare_samplers

    model = _model(num_train_timesteps=50)
    slices = tiny_data.test.select([0, 1])
    table = compare_samplers(model, slices, TASK, [("ddpm", None), ("ddim", 5)])
    assert list(table["steps"]) == [50, 5] and list(table["sampler"]) == ["ddpm", "ddim"]
    assert (table["seconds"] > 0).all() and table[["psnr", "ssim", "mae"]].notna().all().all()
    assert table["seconds"][0] > table["seconds"][1], "ten times the steps take longer"


def test_unconditional_predict_ignores_the_source():
    model = _model(in_channels=0, sample_steps=2)
    a = model.predict(torch.rand(3, 1, 16, 16))
    assert a.shape == (3, 1, 16, 16) and torch.equal(a, model.predict(torch.zeros(3, 1, 16, 16)))


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction", "sample"])
def test_every_prediction_target_trains_and_samples(tiny_data, prediction):
    model = _model(prediction=prediction)
    history = train(model, tiny_data, TASK, TrainConfig(steps=2, batch_size=2, eval_every=1000, max_eval_slices=2),
                    progress=False)
    assert np.isfinite(history.losses["mse"]).all()
    assert model.make_scheduler("ddim", 5).prediction_type == prediction
    assert model.sample(torch.rand(1, 1, 32, 32), steps=3).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="prediction"):
        _model(prediction="noise")
