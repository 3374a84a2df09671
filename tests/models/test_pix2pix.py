"""pix2pix: loss terms on known inputs, what each optimizer updates, learning, resume."""
import pytest
import torch

from medsynth_nb.engine import load_trained
from medsynth_nb.models import Pix2Pix, build_model
from medsynth_nb.profiles import get_profile

TASK = "t1:t2"


def _model(seed=0, **overrides):
    torch.manual_seed(seed)
    return build_model("pix2pix", TASK, get_profile("smoke"), **overrides)


def _batch(n=2, size=32):
    g = torch.Generator().manual_seed(1)
    return {"source": torch.rand(n, 1, size, size, generator=g), "target": torch.rand(n, 1, size, size, generator=g)}


def test_l1_term_is_zero_for_a_perfect_output():
    model, b = _model(), _batch()
    losses = model.generator_loss(b["source"], b["target"], b["target"].clone())
    assert losses["l1"].item() == 0.0
    assert torch.isclose(losses["g_total"], model.config["lambda_adv"] * losses["g_adv"])


@pytest.mark.parametrize("critic_value, d_loss, g_adv", [(1.0, 0.5, 0.0), (0.0, 0.5, 1.0), (0.5, 0.25, 0.25)])
def test_least_squares_adversarial_terms_on_a_constant_critic(monkeypatch, critic_value, d_loss, g_adv):
    """LSGAN: D minimises (D(real)-1)^2/2 + D(fake)^2/2, G minimises (D(fake)-1)^2."""
    model, b = _model(), _batch()
    monkeypatch.setattr(model, "critic", lambda s, t: torch.full((s.shape[0], 1, 4, 4), critic_value))
    assert model.discriminator_loss(b["source"], b["target"], b["target"]).item() == pytest.approx(d_loss)
    assert model.generator_loss(b["source"], b["target"], b["target"])["g_adv"].item() == pytest.approx(g_adv)


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def _one_step(model):
    optimizers = model.make_optimizers()

    def update(loss, name):
        optimizers[name].zero_grad()
        loss.backward()
        optimizers[name].step()

    return model.train_step(_batch(), update)


def test_a_step_updates_both_networks():
    model = _model()
    g, d = _snapshot(model.generator), _snapshot(model.discriminator)
    losses = _one_step(model)
    assert {"l1", "g_adv", "g_total", "d"} <= set(losses)
    assert _changed(g, model.generator) and _changed(d, model.discriminator)


def test_l1_only_ablation_never_touches_the_discriminator():
    model = _model(lambda_adv=0.0)
    d = _snapshot(model.discriminator)
    losses = _one_step(model)
    assert "d" not in losses and "g_adv" not in losses
    assert not _changed(d, model.discriminator)


def test_generator_step_does_not_leave_gradients_in_a_frozen_critic():
    model = _model()
    _one_step(model)
    assert all(p.requires_grad for p in model.discriminator.parameters()), "critic must be unfrozen after the step"


def test_short_run_lowers_the_l1_loss(assert_l1_falls):
    assert_l1_falls(_model(), TASK, steps=40)


def test_resume_with_two_optimizers_continues_the_same_run(tiny_data, tmp_path, resumed_run):
    _, resumed, _ = resumed_run(_model, tiny_data, TASK, 8, batch_size=4, eval_every=1000, max_eval_slices=4)
    loaded, history = load_trained(tmp_path)
    assert isinstance(loaded, Pix2Pix) and history.step == 8
    x = _batch()["source"]
    assert torch.equal(loaded.predict(x), resumed.predict(x))


def test_cli_trains_pix2pix_and_reports_hu(tmp_path):
    import json

    from medsynth_nb.cli import main

    assert main(["train", "pix2pix", "--task", "t1:ct", "--profile", "smoke", "--steps", "4", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["model"] == "pix2pix" and report["steps"] == 4
    assert {"pix2pix", "lookup_baseline"} <= set(report["test_vs_acquired"])
    assert report["test_vs_acquired"]["pix2pix"]["mae_hu"] > 0
