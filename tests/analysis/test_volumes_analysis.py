"""Chapter 09's measurements: the volume table ranks slice-wise errors as discontinuous and
smooth 3-D errors as not, and the training memory is an exact count that grows with the batch."""
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import ndimage

from medsynth_nb.analysis.volumes import activation_memory_mb, method_costs, through_plane_profile, timed, volume_table
from medsynth_nb.data.slices import SliceSet
from medsynth_nb.engine.training import History
from medsynth_nb.metrics.volume import through_plane_gradient_error
from medsynth_nb.models.base import parameter_count
from medsynth_nb.models.unet import UNetRegressor
from medsynth_nb.models.volumetric import PatchUNet3D

DEPTH, SIZE = 10, 32


@pytest.fixture(scope="module")
def volume_set() -> SliceSet:
    """Two subjects of 10 smooth slices (clean), acquired with independent noise per voxel;
    the head is a centred square."""
    rng = np.random.default_rng(0)
    clean = np.concatenate([ndimage.gaussian_filter(rng.random((DEPTH, SIZE, SIZE)), 2.0) * 3 for _ in range(2)])
    acquired = clean + rng.normal(0, 0.02, clean.shape)
    tissue = np.zeros(clean.shape, np.uint8)
    tissue[:, 4:-4, 4:-4] = 1
    images = {"t1": acquired.astype(np.float32), "t2": acquired.astype(np.float32)}
    return SliceSet(images, {m: clean.astype(np.float32) for m in images}, tissue, np.zeros_like(tissue),
                    np.repeat(["a", "b"], DEPTH))


def test_the_volume_table_ranks_slice_wise_errors_above_smooth_3d_ones(volume_set):
    rng = np.random.default_rng(1)
    truth = volume_set.clean["t2"]
    # A 2-D model's error: smooth within each slice, drawn anew for every slice; a 3-D model's: smooth in 3-D.
    per_slice = np.stack([ndimage.gaussian_filter(rng.normal(0, 0.3, (SIZE, SIZE)), 4.0) for _ in truth])
    smooth = ndimage.gaussian_filter(rng.normal(0, 0.3, truth.shape), 4.0)
    smooth *= per_slice.std() / smooth.std()  # the same error size: only its shape across slices differs
    table = volume_table({"2-D": truth + per_slice, "3-D": truth + smooth}, volume_set, "t1:t2",
                         {"3-D": {"parameters": 7}}, reference=True)
    assert list(table.index) == ["acquired", "2-D", "3-D"]
    assert list(table.columns[:5]) == ["psnr", "ssim", "mae", "through_plane_error", "discontinuity_index"]
    assert abs(table.loc["2-D", "psnr"] - table.loc["3-D", "psnr"]) < 1.5, "slice by slice, they look alike"
    assert table.loc["2-D", "discontinuity_index"] > 2 * table.loc["3-D", "discontinuity_index"]
    assert table.loc["2-D", "through_plane_error"] > 2 * table.loc["3-D", "through_plane_error"]
    assert table.loc["acquired", "discontinuity_index"] == pytest.approx(1.0, abs=0.1), "independent noise"
    assert table.loc["acquired", ["psnr", "ssim", "mae"]].isna().all()
    assert table.loc["3-D", "parameters"] == 7 and np.isnan(table.loc["2-D", "parameters"])
    # per subject inside the head, then the mean over subjects
    head, prediction = volume_set.tissue > 0, truth + per_slice
    by_hand = np.mean([through_plane_gradient_error(prediction[s], truth[s], head[s])
                       for s in (slice(0, DEPTH), slice(DEPTH, None))])
    assert table.loc["2-D", "through_plane_error"] == pytest.approx(by_hand)


def test_the_volume_table_refuses_predictions_out_of_shape_and_costs_without_a_method(volume_set):
    truth = volume_set.clean["t2"]
    with pytest.raises(ValueError, match="one image per slice"):
        volume_table({"2-D": truth[:5]}, volume_set, "t1:t2")
    with pytest.raises(ValueError, match="no prediction"):
        volume_table({"2-D": truth}, volume_set, "t1:t2", {"3-D": {"parameters": 1}})


def test_the_through_plane_profile_shows_each_step():
    truth = np.zeros((5, 4, 4))
    offsets = np.array([0.0, 0.1, 0.1, -0.2, 0.0])
    profile = through_plane_profile(truth + offsets[:, None, None], truth)
    np.testing.assert_allclose(profile, np.abs(np.diff(offsets)))
    mask = np.ones(truth.shape, bool)
    mask[2] = False
    assert np.isnan(through_plane_profile(truth, truth, mask)[[1, 2]]).all()


def test_training_memory_grows_with_the_batch_and_is_exact():
    torch.manual_seed(0)
    model = UNetRegressor(1, (8, 16, 32)).eval()
    memory = {b: activation_memory_mb(model, {"source": torch.rand(b, 1, 32, 32)}) for b in (1, 2, 4)}
    assert memory[1] < memory[2] < memory[4]
    # activations grow in proportion to the batch, the parameters do not
    assert memory[4] - memory[2] == pytest.approx(2 * (memory[2] - memory[1]), rel=1e-3)
    assert memory[1] > parameter_count(model) * 4 / 2**20
    assert activation_memory_mb(model, {"source": torch.rand(2, 1, 32, 32)}) == memory[2], "no allocator involved"
    assert not model.training, "the model's mode is restored"
    model3d = PatchUNet3D(channels=(4, 8, 16), patch_size=(8, 16, 16))
    small, large = (activation_memory_mb(model3d, {"source": torch.rand(b, 1, 8, 16, 16)}) for b in (1, 3))
    assert large > small


def test_method_costs_read_the_history_and_time_the_prediction(volume_set):
    model = UNetRegressor(1, (8, 16, 32))
    prediction, seconds = timed(lambda data: data.clean["t2"], volume_set)
    assert prediction.shape == (2 * DEPTH, SIZE, SIZE) and seconds >= 0
    costs = method_costs(model, History(elapsed_s=12.5), volume_set.batch("t1:t2", [0, 1]), seconds)
    assert costs["train s"] == 12.5 and costs["parameters"] == parameter_count(model)
    assert costs["memory MB"] == activation_memory_mb(model, volume_set.batch("t1:t2", [0, 1]))
    assert isinstance(volume_table({"m": prediction}, volume_set, "t1:t2", {"m": costs}), pd.DataFrame)
