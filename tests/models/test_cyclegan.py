"""CycleGAN: image pool, cycle loss of identity generators and as the model computes it, loss terms, unpaired data,
learning and exact resume."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from medsynth_nb.cli import main
from medsynth_nb.data.slices import UnpairedSlices
from medsynth_nb.engine import TrainConfig, load_trained, train
from medsynth_nb.models import CycleGAN, build_model
from medsynth_nb.models.cyclegan import ImagePool, cycle_loss
from medsynth_nb.profiles import get_profile

TASK = "t1:t2"


def _model(seed=0, **overrides):
    torch.manual_seed(seed)
    overrides.setdefault("image_size", 32)  # the size of the tiny_data fixture
    return build_model("cyclegan", TASK, get_profile("smoke"), **overrides)


def test_pool_fills_first_then_mixes_old_and_new_images():
    torch.manual_seed(0)
    pool = ImagePool(4, (1, 2, 2))
    first = torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 1, 2, 2)
    assert torch.equal(pool.query(first), first)  # filling: returns what it got
    assert int(pool.count) == 4
    new = (100.0 + torch.arange(64.0)).reshape(64, 1, 1, 1).expand(64, 1, 2, 2)
    out = pool.query(new)
    from_history = (out[:, 0, 0, 0] != new[:, 0, 0, 0]).sum().item()
    assert 16 < from_history < 48, "about half of the answers should come from the history"
    assert (pool.images >= 100).any(), "returned history images are replaced by the new ones"


def test_pool_of_size_zero_passes_images_through_and_rejects_other_sizes():
    images = torch.rand(3, 1, 4, 4)
    assert torch.equal(ImagePool(0, (1, 4, 4)).query(images), images)
    with pytest.raises(ValueError, match="image_size"):
        ImagePool(2, (1, 8, 8)).query(images)


def test_identity_generators_reconstruct_perfectly(monkeypatch):
    model = _model()
    model.g_ab, model.g_ba = nn.Identity(), nn.Identity()
    a, b = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    losses, fake_a, fake_b = model.generator_losses(a, b)
    assert losses["cycle"].item() == 0.0
    assert torch.equal(fake_b, a) and torch.equal(fake_a, b)


def test_the_models_cycle_term_is_cycle_loss_with_or_without_the_fakes_given():
    model = _model()
    a, b = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        losses, fake_a, fake_b = model.generator_losses(a, b)
        alone = cycle_loss(a, b, model.g_ab, model.g_ba)
    assert torch.equal(losses["cycle"], alone)
    assert torch.equal(cycle_loss(a, b, model.g_ab, model.g_ba, fake_b=fake_b, fake_a=fake_a), alone)


def test_identity_term_only_when_asked():
    a, b = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    assert "identity" not in _model().generator_losses(a, b)[0]
    with_identity = _model(lambda_identity=0.5)
    with_identity.g_ab, with_identity.g_ba = nn.Identity(), nn.Identity()
    losses = with_identity.generator_losses(a, b)[0]
    assert losses["identity"].item() == 0.0


def test_unpaired_view_draws_sources_and_targets_from_different_subjects(tiny_data):
    unpaired = tiny_data.unpaired(seed=0)
    assert isinstance(unpaired.train, UnpairedSlices)
    assert not set(unpaired.train.source_set.subjects) & set(unpaired.train.target_set.subjects)
    batch = unpaired.train.sample_batch(TASK, 4, torch.Generator().manual_seed(0))
    assert batch["source"].shape == batch["target"].shape
    assert unpaired.val is tiny_data.val and unpaired.test is tiny_data.test
    with pytest.raises(ValueError, match="share subjects"):
        UnpairedSlices(tiny_data.train, tiny_data.train)


def test_short_unpaired_run_lowers_the_cycle_loss(tiny_data):
    history = train(_model(), tiny_data.unpaired(), TASK,
                    TrainConfig(steps=30, batch_size=4, eval_every=1000, max_eval_slices=4), progress=False)
    cycle = history.losses["cycle"]
    assert np.mean(cycle[-5:]) < np.mean(cycle[:5]), (cycle[:5], cycle[-5:])


def test_resume_is_exact_including_the_image_pool(tiny_data, tmp_path):
    data = tiny_data.unpaired()
    config = dict(batch_size=2, eval_every=1000, max_eval_slices=4)
    one_go = _model(pool_size=3)
    train(one_go, data, TASK, TrainConfig(steps=6, **config), progress=False)
    train(_model(pool_size=3), data, TASK, TrainConfig(steps=3, **config), out_dir=tmp_path, progress=False)
    resumed = _model(seed=9, pool_size=3)
    train(resumed, data, TASK, TrainConfig(steps=6, **config), out_dir=tmp_path, resume=True, progress=False)
    for (name, x), y in zip(one_go.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(x, y), name
    loaded, _ = load_trained(tmp_path)
    assert isinstance(loaded, CycleGAN)


def test_cli_trains_cyclegan_on_unpaired_data(tmp_path):
    assert main(["train", "cyclegan", "--task", TASK, "--profile", "smoke", "--steps", "3", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["dataset"]["training"] == "unpaired"
    assert "cyclegan" in report["test_vs_acquired"]


def test_harmonisation_generators_start_as_the_identity():
    model = build_model("cyclegan", "t1@B:t1", get_profile("smoke"), image_size=32)
    assert model.config["residual"] and model.config["lambda_identity"] > 0
    images = torch.rand(2, 1, 32, 32)
    assert torch.equal(model(images), images)  # before training: "change nothing"
    assert not build_model("cyclegan", TASK, get_profile("smoke"), image_size=32).config["residual"]
    with pytest.raises(ValueError, match="one source channel"):
        CycleGAN(in_channels=2, image_size=32, residual=True)
