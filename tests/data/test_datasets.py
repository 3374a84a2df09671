"""Slice datasets: subject-level splits, tasks, normalisation, batches."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medsynth_nb.data import phantom, physics
from medsynth_nb.data.intensity import CT_WINDOW_HU, normalize, to_hu
from medsynth_nb.data.loaders import load_dataset
from medsynth_nb.tasks import Task, parse_task


def _sizes(data):
    return {k: data.info[k] for k in ("n_subjects", "image_size", "slices_per_subject", "seed")}


def _splits(data):
    return {"train": data.train, "val": data.val, "test": data.test}


def test_split_is_by_subject(tiny_data):
    sets = {name: set(s.subject_ids.tolist()) for name, s in _splits(tiny_data).items()}
    assert not sets["train"] & sets["val"]
    assert not sets["train"] & sets["test"]
    assert not sets["val"] & sets["test"]
    assert all(sets.values()), "every split needs at least one subject"
    assert len(set.union(*sets.values())) == tiny_data.info["n_subjects"]
    # All slices of one subject sit in one split.
    for s in _splits(tiny_data).values():
        ids, counts = np.unique(s.subject_ids, return_counts=True)
        assert np.all(counts == tiny_data.info["slices_per_subject"]), dict(zip(ids, counts))
        assert len(s) == len(ids) * tiny_data.info["slices_per_subject"]


def test_same_seed_same_dataset(tiny_data):
    again = load_dataset("phantom", progress=False, **_sizes(tiny_data))
    for name, s in _splits(tiny_data).items():
        a = _splits(again)[name]
        assert np.array_equal(a.subject_ids, s.subject_ids)
        for m in physics.MODALITIES:
            assert np.array_equal(a.images[m], s.images[m]), f"{name} {m}"


def test_keeping_some_modalities_keeps_the_same_images(tiny_data):
    """A chapter that needs two contrasts keeps two (less memory), and gets exactly the images
    a full load gives: the subjects are rendered the same way either way."""
    some = load_dataset("phantom", progress=False, modalities=("t2", "t1"), **_sizes(tiny_data))
    assert list(some.train.images) == ["t2", "t1"] and list(some.test.clean) == ["t2", "t1"]
    for name, s in _splits(tiny_data).items():
        for m in ("t1", "t2"):
            assert np.array_equal(_splits(some)[name].images[m], s.images[m]), f"{name} {m}"
            assert np.array_equal(_splits(some)[name].clean[m], s.clean[m]), f"{name} {m}"
        assert np.array_equal(_splits(some)[name].tumor, s.tumor)
    with pytest.raises(ValueError, match="dwi"):
        load_dataset("phantom", progress=False, modalities=("t1", "dwi"), **_sizes(tiny_data))


@pytest.mark.parametrize("text, sources, target", [
    ("t1,flair:t2", ("t1", "flair"), "t2"),
    ("t1:t2", ("t1",), "t2"),
    (" T1 , PD : CT ", ("t1", "pd"), "ct"),
])
def test_parse_task_accepts(text, sources, target):
    task = parse_task(text)
    assert task == Task(sources, target)
    assert parse_task(str(task)) == task
    assert parse_task(task) is task


@pytest.mark.parametrize("text, words", [
    ("t1", ["SOURCE:TARGET"]),
    ("t1:t1", ["target", "source"]),
    ("t1:xyz", ["xyz", "t2"]),
    ("t1:t2:ct", ["SOURCE:TARGET"]),
    (":t2", ["missing"]),
])
def test_parse_task_rejects(text, words):
    with pytest.raises(ValueError) as err:
        parse_task(text)
    for word in words:
        assert word in str(err.value), f"{word!r} not in {err.value}"


def test_normalized_images_are_in_unit_range(tiny_data):
    for name, s in _splits(tiny_data).items():
        for kind in ("images", "clean"):
            for m, v in getattr(s, kind).items():
                assert v.dtype == np.float32
                assert np.isfinite(v).all()
                assert v.min() >= 0.0 and v.max() <= 1.0, f"{name} {kind} {m}: [{v.min()}, {v.max()}]"


def test_mr_is_scaled_by_a_high_percentile_per_subject(tiny_data):
    """Each subject's MR image reaches 1 (its top 0.5 % is clipped) and its median inside
    the head is well below 1 (a percentile, not the mean, sets the scale)."""
    s = tiny_data.train
    for sid in s.subjects:
        one = s.by_subjects([sid])
        head = one.tissue > 0
        for m in physics.MR_MODALITIES:
            v = one.images[m]
            assert v.max() == pytest.approx(1.0), f"{sid} {m}"
            assert 0.02 < np.median(v[head]) < 0.9, f"{sid} {m}"


def test_to_hu_inverts_ct_normalization():
    subject = phantom.make_subject(4, *phantom.axial_grid(48, 1))
    hu = subject.clean["ct"]
    lo, hi = CT_WINDOW_HU
    assert lo <= hu.min() and hu.max() <= hi, "clean phantom CT outside the normalisation window"
    back = to_hu(normalize(hu, "ct", subject.head_mask))
    np.testing.assert_allclose(back, hu, atol=0.05)
    # Works on tensors too.
    back_t = to_hu(torch.from_numpy(normalize(hu, "ct", subject.head_mask)))
    np.testing.assert_allclose(back_t.numpy(), hu, atol=0.05)


def test_dataset_ct_in_hu_is_physical(tiny_data):
    s = tiny_data.train
    hu = to_hu(s.clean["ct"])
    assert np.median(hu[s.tissue == 0]) == pytest.approx(-1000, abs=10), "air is not -1000 HU"
    assert hu[s.tissue == 4].mean() >= 700, "bone is not >= 700 HU"
    brain = (s.tissue == 2) | (s.tissue == 3)
    assert -20 < np.median(hu[brain]) < 80


def test_halves_have_disjoint_subjects(tiny_data):
    a, b = tiny_data.train.halves(seed=0)
    assert not set(a.subjects) & set(b.subjects)
    assert set(a.subjects) | set(b.subjects) == set(tiny_data.train.subjects)
    assert len(a) + len(b) == len(tiny_data.train)
    assert len(a.subjects) >= 1 and len(b.subjects) >= 1
    a2, _ = tiny_data.train.halves(seed=0)
    assert a2.subjects == a.subjects


def test_batch_shapes_and_channels(tiny_data):
    s = tiny_data.train
    index = [0, 3, 1]
    size = tiny_data.info["image_size"]
    batch = s.batch("t1,flair:t2", index)
    assert batch["source"].shape == (3, 2, size, size)
    assert batch["source"].dtype == torch.float32
    for key in ("target", "target_clean", "tissue", "tumor"):
        assert batch[key].shape == (3, 1, size, size), key
    # Channels in the task's order, slices in the index's order.
    assert torch.equal(batch["source"][:, 0], torch.from_numpy(s.images["t1"][index]))
    assert torch.equal(batch["source"][:, 1], torch.from_numpy(s.images["flair"][index]))
    assert torch.equal(batch["target"][:, 0], torch.from_numpy(s.images["t2"][index]))
    assert torch.equal(batch["target_clean"][:, 0], torch.from_numpy(s.clean["t2"][index]))
    single = s.batch("t1:ct", [2])
    assert single["source"].shape == (1, 1, size, size)


def test_sample_batch_is_reproducible(tiny_data):
    s = tiny_data.train
    a = s.sample_batch("t1:t2", 4, torch.Generator().manual_seed(3))
    b = s.sample_batch("t1:t2", 4, torch.Generator().manual_seed(3))
    assert a["source"].shape == (4, 1, tiny_data.info["image_size"], tiny_data.info["image_size"])
    assert torch.equal(a["source"], b["source"])


def test_slice_rows_run_front_to_back(tiny_data):
    """Display orientation: rows are the anterior-posterior axis, columns left-right. An
    axial slice of a head is longer front-to-back than left-to-right."""
    head = tiny_data.train.tissue > 0
    rows = head.any(2).sum(1).mean()
    cols = head.any(1).sum(1).mean()
    assert rows > cols


def test_load_dataset_errors():
    with pytest.raises(ValueError, match="phantom"):
        load_dataset("brats")
    with pytest.raises(ValueError, match="3 subjects"):
        load_dataset("phantom", n_subjects=2, image_size=32, slices_per_subject=1, progress=False)
    with pytest.raises(ValueError, match="split"):
        load_dataset("phantom", n_subjects=3, image_size=32, slices_per_subject=1, split=(0.5, 0.5, 0.5),
                     progress=False)


def test_profile_sizes_the_dataset():
    from medsynth_nb.profiles import get_profile

    profile = get_profile()
    assert profile.name == "smoke", "conftest forces the smoke profile"
    data = load_dataset("phantom", profile=profile, n_subjects=3, slices_per_subject=1, progress=False)
    assert data.train.images["t1"].shape[1:] == (profile.image_size, profile.image_size)


def test_largest_lesion_points_at_the_biggest_tumor_and_its_center_row(tiny_data):
    test = tiny_data.train
    index, row = test.largest_lesion()
    sizes = (test.tumor > 0).reshape(len(test), -1).sum(1)
    assert sizes[index] == sizes.max()
    if sizes.max() > 0:
        assert (test.tumor[index][row] > 0).any() or (test.tumor[index] > 0).any(1)[row - 1 : row + 2].any()
    else:
        assert row is None
