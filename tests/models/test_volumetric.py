"""Chapter 09's models: the 2.5-D U-Net on slice stacks and the 3-D patch U-Net, both trained
by the course's engine; the 3-D one predicts and validates whole volumes."""
import json

import numpy as np
import pytest
import torch

from medsynth_nb.data.volumes import load_volumes, stacked, volume_patches
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.models.unet import UNetRegressor
from medsynth_nb.models.volumetric import PatchUNet3D, for_context
from medsynth_nb.profiles import PROFILES
from medsynth_nb.tasks import parse_task

PATCH = (8, 16, 16)


@pytest.fixture(scope="module")
def volumes():
    return load_volumes(4, 32, 12, seed=0, progress=False)  # 2 training subjects, 1 val, 1 test


def patch_model(seed: int = 0, **overrides) -> PatchUNet3D:
    torch.manual_seed(seed)
    return PatchUNet3D(in_channels=1, channels=(8, 16, 32), patch_size=PATCH, task="t1:t2", **overrides)


def test_the_3d_model_trains_through_the_engine_and_validates_on_whole_volumes(volumes):
    model = patch_model()
    history = train(model, volume_patches(volumes, PATCH), "t1:t2",
                    TrainConfig(steps=25, batch_size=4, eval_every=1000, max_eval_slices=64), progress=False)
    l1 = history.losses["l1"]
    assert np.mean(l1[-5:]) < np.mean(l1[:5]), (l1[:5], l1[-5:])
    assert set(history.val[-1]) == {"step", "psnr", "ssim", "mae"}
    assert all(np.isfinite(v) for v in history.val[-1].values())
    prediction = model.predict_slices(volumes.test, "t1:t2")
    assert prediction.shape == volumes.test.images["t2"].shape and prediction.dtype == np.float32
    assert 0 <= prediction.min() and prediction.max() <= 1


def test_predict_volume_covers_volumes_of_any_size_and_refuses_slices(volumes):
    model = patch_model()
    assert model.predict_volume(torch.rand(1, 5, 20, 28)).shape == (5, 20, 28), "smaller than a patch: padded"
    with pytest.raises(ValueError, match="1 x D x H x W"):
        model.predict_volume(torch.rand(4, 1, 32, 32))
    with pytest.raises(ValueError, match="volume_patches"):
        model(volumes.train.batch("t1:t2", [0, 1])["source"])  # 2-D slices, not blocks
    # validation keeps the first slices, which may cut a subject short: that volume is predicted as it is
    first = volumes.val.select(np.arange(7))
    assert model.predict_slices(first, "t1:t2").shape == (7, 32, 32)


def test_the_3d_model_resumes_to_the_same_weights(volumes, resumed_run):
    resumed_run(lambda seed=0: patch_model(seed), volume_patches(volumes, PATCH), "t1:t2", 6, batch_size=2,
                eval_every=1000, max_eval_slices=12)


def test_the_3d_config_is_plain_data_that_rebuilds_the_model():
    model = PatchUNet3D.for_task(parse_task("t1,pd:t2"), PROFILES["smoke"], patch_size=PATCH)
    config = json.loads(json.dumps(model.config))
    assert config["in_channels"] == 2 and config["channels"] == list(PROFILES["smoke"].channels[:3])
    rebuilt = PatchUNet3D(**{k: v for k, v in config.items() if k != "task"})
    assert rebuilt.load_state_dict(model.state_dict()) is not None and rebuilt.patch_size == PATCH


def test_the_3d_model_refuses_bad_settings(volumes):
    with pytest.raises(ValueError, match="multiple of 4"):
        PatchUNet3D(patch_size=(6, 16, 16))
    with pytest.raises(ValueError, match="2 sources"):
        PatchUNet3D(in_channels=1, task="t1,pd:t2")
    with pytest.raises(ValueError, match="must know its task"):
        PatchUNet3D(patch_size=PATCH).validation_scores(volumes.val, "cpu")


@pytest.mark.parametrize("task, context, channels", [("t1:t2", 1, 3), ("t1,pd:t2", 2, 10), ("t1:t2", 0, 1)])
def test_the_25d_model_is_a_unet_with_a_channel_per_source_and_slice(task, context, channels):
    model = for_context(task, PROFILES["smoke"], context)
    assert type(model) is UNetRegressor and model.config["in_channels"] == channels
    assert model.config["model"] == "unet" and model.config["task"] == task
    assert model(torch.rand(2, channels, 32, 32)).shape == (2, 1, 32, 32)


def test_the_25d_model_trains_and_validates_on_slice_stacks(volumes):
    torch.manual_seed(0)
    model = for_context("t1:t2", PROFILES["smoke"], 1)
    history = train(model, stacked(volumes, 1), "t1:t2",
                    TrainConfig(steps=4, batch_size=4, eval_every=1000, max_eval_slices=12), progress=False)
    assert np.isfinite(history.val[-1]["psnr"])
    with pytest.raises(ValueError, match="neighbours"):
        for_context("t1:t2", PROFILES["smoke"], -1)
