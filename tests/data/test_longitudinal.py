"""Chapter 08's follow-up data: tumours that grow by their subject's law on a fixed anatomy,
and entries whose inputs hold the right priors and days."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from medsynth_nb.data.growth import sphere_volume_ml
from medsynth_nb.data.longitudinal import (
    GAP_DAYS,
    N_VISITS,
    PAIRS,
    RATE_PER_DAY,
    SLICE_GAP_MM,
    FollowUpSlices,
    growing_tumor_series,
    load_longitudinal,
)
from medsynth_nb.data.tumor import ENHANCING, NECROSIS
from medsynth_nb.orientation import FOV_MM


@pytest.fixture(scope="module")
def data():
    return load_longitudinal(4, 32, 2, seed=0, progress=False)


def test_the_rendered_core_grows_as_the_subjects_law_says():
    size = 96
    visits, law, days = growing_tumor_series(np.random.default_rng(3), size, 14, subject_id="s")
    voxel_ml = (FOV_MM / size) ** 2 * SLICE_GAP_MM / 1000
    core_ml = np.array([np.isin(v.tumor, (NECROSIS, ENHANCING)).sum() * voxel_ml for v in visits])
    expected = law.volume_ml(sphere_volume_ml(visits[0].params["tumor"]["radius_mm"]), days)
    assert np.all(np.diff(days) > 0) and np.all(np.diff(core_ml) > 0), core_ml
    # 5 mm slices sample the volume coarsely, and a lobulated core is no sphere (a shape factor that
    # stays as the tumour grows): the growth relative to visit 1, the first well-sampled core, is compared.
    assert core_ml[2:] / core_ml[1] == pytest.approx(expected[2:] / expected[1], rel=0.05), (core_ml, expected)


def test_visits_share_the_anatomy_outside_the_tumour(data):
    visits, _, _ = growing_tumor_series(np.random.default_rng(1), 32, 3, subject_id="s")
    grown = ndimage.binary_dilation(np.any([v.tumor > 0 for v in visits], 0), iterations=1)
    for visit in visits[1:]:
        assert np.array_equal(visit.tissue[~grown], visits[0].tissue[~grown])
        assert np.array_equal(visit.affine, visits[0].affine), "registered: the baseline's grid"
    ever = ndimage.binary_dilation((data.train.tumor > 0).any(1), iterations=1)
    for k in range(1, N_VISITS):
        assert np.allclose(data.train.clean[:, k][~ever], data.train.clean[:, 0][~ever])
        assert not np.allclose(data.train.images[:, k][~ever], data.train.images[:, 0][~ever]), "new noise"
        assert (data.train.tumor[:, k] > 0).sum() >= (data.train.tumor[:, k - 1] > 0).sum()


def test_every_subject_has_its_own_rate_a_tumour_in_its_slab_and_ordered_visits(data):
    subjects = data.info["subjects"]
    rates = [s["rate_per_day"] for s in subjects.values()]
    assert len(set(rates)) == len(rates) and all(RATE_PER_DAY[0] <= r <= RATE_PER_DAY[1] for r in rates)
    for part in (data.train, data.val, data.test):
        assert part.images.shape[1] == N_VISITS and part.images.dtype == np.float32
        assert part.tumor.dtype == np.uint8 and part.tumor.max() <= 3
        assert (part.tumor[:, 0] > 0).reshape(len(part), -1).any(1).all(), "the slab is centred on the tumour"
        gaps = np.diff(part.days, axis=1)
        assert np.all(part.days[:, 0] == 0) and np.all((gaps >= GAP_DAYS[0]) & (gaps <= GAP_DAYS[1]))
        for sid in part.subjects:
            assert np.all(part.rate_per_day[part.subject_ids == sid] == subjects[sid]["rate_per_day"])
    assert not set(data.train.subjects) & (set(data.val.subjects) | set(data.test.subjects))


def test_a_batch_holds_the_priors_and_the_days_to_the_target(data):
    part = data.test
    entries = part.entries()
    assert part.n_entries == len(part) * 2 and list(entries["target"][:2]) == [2, 3], "pairs interleaved"
    batch = part.batch(None, np.arange(part.n_entries))
    n = part.n_entries
    assert batch["source"].shape == (n, 4, 32, 32) and batch["target"].shape == (n, 1, 32, 32)
    for i in range(n):
        row, target = entries["slice"][i], entries["target"][i]
        assert torch.equal(batch["source"][i, 0], torch.from_numpy(part.images[row, 0]))
        assert torch.equal(batch["source"][i, 1], torch.from_numpy(part.images[row, 1]))
        for k in (0, 1):
            expected = (part.days[row, target] - part.days[row, k]) / 365
            assert torch.allclose(batch["source"][i, 2 + k], torch.tensor(expected, dtype=torch.float32))
        assert torch.equal(batch["target_clean"][i, 0], torch.from_numpy(part.clean[row, target]))
        assert torch.equal(batch["tumor"][i, 0], torch.from_numpy(part.tumor[row, target]))
        assert batch["gap_days"][i] == pytest.approx(part.days[row, target] - part.days[row, 1])

    one = data.for_priors(1).test
    single = one.batch(None, np.arange(n))
    assert single["source"].shape[1] == 2 and one.pairs == PAIRS[1]
    assert torch.equal(single["source"][:, 0], batch["source"][:, 1]), "the same last prior"
    assert torch.equal(single["target"], batch["target"]), "the same targets: one and two priors compared fairly"
    gen = torch.Generator().manual_seed(0)
    assert part.sample_batch(None, 5, gen)["source"].shape == (5, 4, 32, 32)


def test_selection_keeps_the_pairs_and_visits_feed_a_segmenter(data):
    subject = data.train.subjects[0]
    chosen = data.train.by_subjects([subject])
    assert set(chosen.subject_ids) == {subject} and chosen.pairs == data.train.pairs
    visits = data.train.visit_slices()
    assert len(visits) == len(data.train) * N_VISITS and visits.images.shape[1:] == (1, 32, 32)
    batch = visits.sample_batch(None, 3, torch.Generator().manual_seed(0))
    assert batch["labels"].dtype == torch.int64 and batch["images"].shape == (3, 1, 32, 32)
    assert len(data.visit_slices().val) == len(data.val) * N_VISITS


def test_bad_arguments_say_what_to_do(data):
    with pytest.raises(ValueError, match="modality"):
        load_longitudinal(4, 32, 2, modality="t3", progress=False)
    with pytest.raises(ValueError, match="at least 3 subjects"):
        load_longitudinal(2, 32, 2, progress=False)
    with pytest.raises(ValueError, match="16 px"):
        load_longitudinal(4, 8, 2, progress=False)
    with pytest.raises(ValueError, match="pairs="):
        data.for_priors(3)
    with pytest.raises(ValueError, match="same number of priors"):
        data.train.with_pairs([((0, 1), 2), ((1,), 3)])
    with pytest.raises(ValueError, match="earlier visits"):
        data.train.with_pairs([((2,), 1)])
    with pytest.raises(ValueError, match="earlier visits"):
        data.train.with_pairs([((0,), 4)])
    with pytest.raises(IndexError, match="entries"):
        data.train.batch(None, [data.train.n_entries])
    assert isinstance(data.train, FollowUpSlices)
