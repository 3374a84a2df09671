"""Chapter 09's volumes: isotropic slabs, volumes read back from dataset order, 2.5-D stacks
whose neighbours stay in their subject, and 3-D patches cut inside one subject."""
import numpy as np
import pytest
import torch

from medsynth_nb.data.phantom_slices import load_phantom
from medsynth_nb.data.slices import SliceSet, SynthesisData
from medsynth_nb.data.volumes import (
    SliceStack,
    VolumePatches,
    load_volumes,
    slices_from_volumes,
    stacked,
    subject_volumes,
    volume_patches,
)
from medsynth_nb.orientation import FOV_MM


def coded_slices(depths=(3, 4), size: int = 6) -> SliceSet:
    """Subjects s0, s1, ... one after another; every pixel of t1 holds 100 * subject + slice
    (so a value names where it came from), t2 is t1 + 1000, pd t1 + 2000; clean is 2 x the images."""
    ids = np.concatenate([[f"s{i}"] * d for i, d in enumerate(depths)])
    codes = np.concatenate([100 * i + np.arange(d) for i, d in enumerate(depths)]).astype(np.float32)
    t1 = np.broadcast_to(codes[:, None, None], (len(codes), size, size)).copy()
    images = {"t1": t1, "t2": t1 + 1000, "pd": t1 + 2000}
    return SliceSet(images, {m: 2 * v for m, v in images.items()}, np.ones(t1.shape, np.uint8),
                    np.zeros(t1.shape, np.uint8), ids)


def test_the_default_slice_gap_leaves_load_phantom_unchanged_and_another_gap_changes_it():
    sizes = dict(n_subjects=3, image_size=24, slices_per_subject=2, seed=3, progress=False)
    default, explicit = load_phantom(**sizes), load_phantom(**sizes, slice_gap_mm=5.0)
    wider = load_phantom(**sizes, slice_gap_mm=9.0)
    assert default.info["slice_gap_mm"] == 5.0
    for name in ("train", "val", "test"):
        a, b = getattr(default, name), getattr(explicit, name)
        for m in a.images:
            np.testing.assert_array_equal(a.images[m], b.images[m])
            np.testing.assert_array_equal(a.clean[m], b.clean[m])
        np.testing.assert_array_equal(a.tissue, b.tissue)
        np.testing.assert_array_equal(a.subject_ids, b.subject_ids)
    assert not np.array_equal(default.train.tissue, wider.train.tissue)


def test_load_volumes_gives_isotropic_contiguous_subjects():
    data = load_volumes(3, 24, 5, seed=1, progress=False)
    assert data.info["slice_gap_mm"] == pytest.approx(FOV_MM / 24)
    assert data.info["voxel_mm"] == [pytest.approx(FOV_MM / 24)] * 3
    for part in (data.train, data.val, data.test):
        runs = [k for k, i in enumerate(part.subject_ids) if k == 0 or i != part.subject_ids[k - 1]]
        assert len(runs) == len(part.subjects), "each subject's slices lie together"
        assert len(part) == 5 * len(part.subjects)
    with pytest.raises(ValueError, match="at least 2 slices"):
        load_volumes(3, 24, 1, progress=False)


def test_subject_volumes_and_back_round_trip_even_interleaved():
    rng = np.random.default_rng(0)
    ids = np.array(["b", "a", "b", "a", "a", "c"])
    slices = rng.random((6, 4, 5))
    volumes = subject_volumes(slices, ids)
    assert list(volumes) == ["b", "a", "c"] and volumes["a"].shape == (3, 4, 5)
    np.testing.assert_array_equal(volumes["a"], slices[[1, 3, 4]])
    np.testing.assert_array_equal(slices_from_volumes(volumes, ids), slices)
    with pytest.raises(ValueError, match="one volume per subject"):
        slices_from_volumes({"a": volumes["a"]}, ids)
    with pytest.raises(ValueError, match="has 3 slices"):
        slices_from_volumes({**volumes, "a": volumes["a"][:2]}, ids)
    with pytest.raises(ValueError, match="one id per slice"):
        subject_volumes(slices, ids[:3])


def test_slice_stack_neighbours_stay_in_their_subject_and_clamp_at_the_ends():
    stack = SliceStack.around(coded_slices((3, 4)), context=1)
    source = stack.batch("t1:t2", np.arange(7))["source"][:, :, 0, 0].numpy()
    np.testing.assert_array_equal(source, [[0, 0, 1], [0, 1, 2], [1, 2, 2],
                                           [100, 100, 101], [100, 101, 102], [101, 102, 103], [102, 103, 103]])
    wide = SliceStack.around(coded_slices((3, 4)), context=2).batch("t1:t2", [0, 6])["source"][:, :, 0, 0]
    np.testing.assert_array_equal(wide.numpy(), [[0, 0, 0, 1, 2], [101, 102, 103, 103, 103]])


def test_slice_stack_orders_channels_by_source_then_offset_and_keeps_the_centre_target():
    batch = SliceStack.around(coded_slices((3, 4)), context=1).batch("t1,t2:pd", [4])
    assert batch["source"].shape == (1, 6, 6, 6)
    np.testing.assert_array_equal(batch["source"][0, :, 0, 0].numpy(), [100, 101, 102, 1100, 1101, 1102])
    assert batch["target"][0, 0, 0, 0] == 2101 and batch["target_clean"][0, 0, 0, 0] == 2 * 2101
    with pytest.raises(ValueError, match="context"):
        SliceStack.around(coded_slices(), context=-1)


def test_selection_keeps_the_stack_and_its_neighbours_follow_the_selection():
    stack = SliceStack.around(coded_slices((3, 4)), context=1)
    kept = stack.by_subjects(["s1"])
    assert isinstance(kept, SliceStack) and kept.context == 1
    np.testing.assert_array_equal(kept.batch("t1:t2", [0])["source"][0, :, 0, 0].numpy(), [100, 100, 101])
    first = stack.select(np.arange(5))  # the engine's validation keeps the first slices: s1 cut after 2
    np.testing.assert_array_equal(first.batch("t1:t2", [4])["source"][0, :, 0, 0].numpy(), [100, 101, 101])
    data = stacked(SynthesisData(coded_slices(), coded_slices(), coded_slices((2,)), {"name": "x"}), context=2)
    assert all(isinstance(s, SliceStack) and s.context == 2 for s in (data.train, data.val, data.test))
    assert data.info == {"name": "x", "context": 2}


def test_volume_patches_lie_inside_one_subject_and_are_reproducible():
    slices = coded_slices((5, 7, 4), size=12)
    rows, cols = np.meshgrid(np.arange(12), np.arange(12), indexing="ij")
    slices.images["t2"] = slices.images["t1"] + 1000 * rows + 100_000 * cols  # where in-plane, too
    patches = VolumePatches(slices, (3, 4, 5))
    batch = patches.sample_batch("t1:t2", 64, torch.Generator().manual_seed(0))
    assert batch["source"].shape == (64, 1, 3, 4, 5) and batch["tissue"].shape == (64, 1, 3, 4, 5)
    codes = batch["source"][:, 0, :, 0, 0].numpy()  # patch x slice
    assert np.all(codes // 100 == codes[:, :1] // 100), "one subject per patch"
    assert np.all(np.diff(codes, axis=1) == 1), "consecutive slices, in order"
    assert np.all(codes[:, -1] % 100 < np.array([5, 7, 4])[codes[:, 0].astype(int) // 100]), "inside the slab"
    assert len(np.unique(codes[:, 0])) > 6, "corners vary"
    in_plane = (batch["target"][:, 0, 0] - batch["source"][:, 0, 0]).numpy()  # 1000 row + 100000 col
    row0, col0 = in_plane[:, 0, 0] % 100_000 // 1000, in_plane[:, 0, 0] // 100_000
    np.testing.assert_array_equal(in_plane[:, 3, 4], in_plane[:, 0, 0] + 3 * 1000 + 4 * 100_000)
    assert row0.max() <= 12 - 4 and col0.max() <= 12 - 5
    again = patches.sample_batch("t1:t2", 64, torch.Generator().manual_seed(0))
    other = patches.sample_batch("t1:t2", 64, torch.Generator().manual_seed(1))
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    assert not torch.equal(batch["source"], other["source"])


def test_volume_patches_select_like_slices_and_refuse_patches_that_do_not_fit():
    patches = VolumePatches(coded_slices((5, 7, 4), size=12), (3, 4, 4))
    assert len(patches) == 16 and patches.subjects == ["s0", "s1", "s2"]
    only = patches.by_subjects(["s1"])
    assert isinstance(only, VolumePatches) and only.subjects == ["s1"] and only.patch_size == (3, 4, 4)
    codes = only.sample_batch("t1:t2", 8, torch.Generator().manual_seed(0))["source"][:, 0, :, 0, 0]
    assert torch.all(codes // 100 == 1)
    with pytest.raises(ValueError, match="does not fit"):
        VolumePatches(coded_slices((5, 3), size=12), (4, 4, 4))
    with pytest.raises(ValueError, match="empty"):
        patches.by_subjects(["nobody"])
    with pytest.raises(ValueError, match="does not fit"):
        VolumePatches(coded_slices((5,), size=12), (2, 16, 4))
    data = volume_patches(SynthesisData(coded_slices(), coded_slices(), coded_slices(), {}), (2, 4, 4))
    assert isinstance(data.train, VolumePatches) and isinstance(data.val, SliceSet)
    assert data.info["patch_size"] == [2, 4, 4]
