"""The phantom: determinism, contrast physics, tumours, caller-painted label maps, grids.

Contrast tests use literature facts about brain MRI/CT/PET (orderings and ranges), never
numbers copied from the phantom's own output. They are measured on the *clean* images,
in voxels that hold more than 95 % of one tissue, over several healthy subjects: each
subject gets its own jittered tissue properties, and every one of them must look like a
brain.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medsynth_nb.data import phantom, physics
from medsynth_nb.data.tumor import LABELS, TumorParams

ALL_MODALITIES = ("t1", "t2", "pd", "flair", "t1ce", "ct", "pet")
CH = {name: i for i, name in enumerate(physics.TISSUES[:7])}  # channels of Subject.fractions
PHYSICS_SEEDS = range(16)
PURE = 0.95


def _pure(subject, tissue: str) -> np.ndarray:
    return subject.fractions[CH[tissue]] > PURE


def _mean(subject, modality: str, tissue: str) -> float:
    mask = _pure(subject, tissue)
    assert mask.sum() >= 5, f"seed {subject.params['seed']}: only {mask.sum()} pure {tissue} voxels"
    return float(subject.clean[modality][mask].mean())


@pytest.fixture(scope="module")
def healthy_subjects():
    grid = phantom.axial_grid(96, 1)
    return [phantom.make_subject(seed, *grid, tumor=None) for seed in PHYSICS_SEEDS]


def _check_all(subjects, condition, describe):
    """Assert ``condition(subject)`` for every subject; the message lists every failure."""
    failures = [describe(s) for s in subjects if not condition(s)]
    assert not failures, f"{len(failures)} of {len(subjects)} healthy subjects fail:\n" + "\n".join(failures)


# --------------------------------------------------------------------------- determinism


def _assert_same(a, b):
    for m in ALL_MODALITIES:
        assert np.array_equal(a.images[m], b.images[m]), f"acquired {m} differs"
        assert np.array_equal(a.clean[m], b.clean[m]), f"clean {m} differs"
    assert np.array_equal(a.tissue, b.tissue)
    assert np.array_equal(a.tumor, b.tumor)
    assert np.array_equal(a.affine, b.affine)
    assert a.params == b.params


def test_same_seed_gives_identical_subjects():
    grid = phantom.axial_grid(48, 2)
    a = phantom.make_subject(7, *grid)
    b = phantom.make_subject(7, *grid)
    assert set(a.images) == set(a.clean) == set(ALL_MODALITIES)
    _assert_same(a, b)


def test_different_seeds_give_different_subjects():
    grid = phantom.axial_grid(48, 2)
    a = phantom.make_subject(7, *grid)
    b = phantom.make_subject(8, *grid)
    for m in ALL_MODALITIES:
        assert not np.array_equal(a.images[m], b.images[m]), f"acquired {m} is the same for two seeds"
        assert not np.array_equal(a.clean[m], b.clean[m]), f"clean {m} is the same for two seeds"
    assert not np.array_equal(a.tissue, b.tissue), "anatomy does not depend on the seed"
    assert a.params["tissues"] != b.params["tissues"]


def test_volume_grid_renders_3d_and_is_deterministic():
    shape, affine = phantom.volume_grid(4.0)
    assert len(shape) == 3 and min(shape) > 1
    a = phantom.make_subject(3, shape, affine)
    b = phantom.make_subject(3, shape, affine)
    assert a.shape == tuple(shape)
    for m in ALL_MODALITIES:
        assert a.images[m].shape == tuple(shape) and a.clean[m].shape == tuple(shape)
    assert a.tumor.shape == a.tissue.shape == tuple(shape)
    # A whole head: brain, skull and air are all present in 3-D.
    assert {0, 1, 2, 3, 4}.issubset(set(np.unique(a.tissue).tolist()))
    _assert_same(a, b)


# --------------------------------------------------------------------------- contrast physics


def test_t1w_order_wm_gm_csf(healthy_subjects):
    _check_all(healthy_subjects,
               lambda s: _mean(s, "t1", "wm") > _mean(s, "t1", "gm") > _mean(s, "t1", "csf"),
               lambda s: f"  seed {s.params['seed']}: T1w WM {_mean(s, 't1', 'wm'):.4f}, GM {_mean(s, 't1', 'gm'):.4f}, "
                         f"CSF {_mean(s, 't1', 'csf'):.4f} (expected WM > GM > CSF)")


def test_t2w_order_csf_gm_wm(healthy_subjects):
    _check_all(healthy_subjects,
               lambda s: _mean(s, "t2", "csf") > _mean(s, "t2", "gm") > _mean(s, "t2", "wm"),
               lambda s: f"  seed {s.params['seed']}: T2w CSF {_mean(s, 't2', 'csf'):.4f}, GM {_mean(s, 't2', 'gm'):.4f}, "
                         f"WM {_mean(s, 't2', 'wm'):.4f} (expected CSF > GM > WM)")


def test_flair_suppresses_csf(healthy_subjects):
    _check_all(healthy_subjects,
               lambda s: _mean(s, "flair", "csf") < 0.1 * _mean(s, "flair", "gm"),
               lambda s: f"  seed {s.params['seed']}: FLAIR CSF {_mean(s, 'flair', 'csf'):.4f} = "
                         f"{_mean(s, 'flair', 'csf') / _mean(s, 'flair', 'gm'):.0%} of GM "
                         f"(CSF T1 of this subject {s.params['tissues']['csf']['t1_ms']:.0f} ms; expected < 10 % of GM)")


def test_pd_wm_lowest(healthy_subjects):
    _check_all(healthy_subjects,
               lambda s: _mean(s, "pd", "wm") < min(_mean(s, "pd", "gm"), _mean(s, "pd", "csf")),
               lambda s: f"  seed {s.params['seed']}: PD WM {_mean(s, 'pd', 'wm'):.4f}, GM {_mean(s, 'pd', 'gm'):.4f}, "
                         f"CSF {_mean(s, 'pd', 'csf'):.4f} (expected WM lowest)")


def test_ct_bone_and_air_hounsfield_units(healthy_subjects):
    def bone(s):
        return float(s.clean["ct"][s.tissue == 4].mean())

    _check_all(healthy_subjects, lambda s: bone(s) >= 700,
               lambda s: f"  seed {s.params['seed']}: mean CT of bone voxels {bone(s):.0f} HU (expected >= 700)")
    _check_all(healthy_subjects, lambda s: abs(_mean(s, "ct", "air") + 1000) < 5,
               lambda s: f"  seed {s.params['seed']}: CT of air {_mean(s, 'ct', 'air'):.1f} HU (expected -1000)")
    # Soft tissue of the brain is close to water (0 HU): between fat (< 0) and bone.
    _check_all(healthy_subjects, lambda s: all(-20 < _mean(s, "ct", t) < 80 for t in ("csf", "gm", "wm")),
               lambda s: f"  seed {s.params['seed']}: brain CT not in (-20, 80) HU")


def test_pet_grey_matter_uptake(healthy_subjects):
    _check_all(healthy_subjects,
               lambda s: _mean(s, "pet", "gm") > 2 * _mean(s, "pet", "wm"),
               lambda s: f"  seed {s.params['seed']}: PET GM {_mean(s, 'pet', 'gm'):.2f}, WM {_mean(s, 'pet', 'wm'):.2f} "
                         "(expected GM > 2 x WM)")


def test_acquired_mr_background_is_rician(healthy_subjects):
    """Magnitude images: the background is not zero-mean. Where the signal is zero the
    magnitude of complex Gaussian noise is Rayleigh-distributed, mean / sd = 1.913."""
    rayleigh = np.sqrt(np.pi / 2) / np.sqrt(2 - np.pi / 2)
    s = healthy_subjects[0]
    air = s.fractions[CH["air"]] > 0.999
    for m in physics.MR_MODALITIES:
        background = s.images[m][air]
        assert background.min() >= 0, f"{m}: negative magnitude"
        assert background.mean() > 0, f"{m}: background mean is not positive"
        ratio = background.mean() / background.std()
        assert ratio == pytest.approx(rayleigh, rel=0.1), f"{m}: background mean/sd {ratio:.2f}, Rayleigh gives 1.91"


# --------------------------------------------------------------------------- tumours


def _wm_point(subject) -> np.ndarray:
    """Index of a deep white-matter voxel (the one with the most WM around it)."""
    wm = subject.fractions[CH["wm"]]
    deep = ndimage.uniform_filter(wm[..., 0], size=7)
    deep[wm[..., 0] <= 0.9] = 0
    i, j = np.unravel_index(np.argmax(deep), deep.shape)
    assert wm[i, j, 0] > 0.9
    return np.array([i, j, 0])


@pytest.fixture(scope="module")
def tumor_subject():
    grid = phantom.axial_grid(64, 1)
    healthy = phantom.make_subject(11, *grid, tumor=None)
    index = _wm_point(healthy)
    center = phantom.voxel_coords(*grid)[tuple(index)]
    params = TumorParams(center_mm=tuple(float(c) for c in center), radius_mm=14.0, necrosis_fraction=0.4,
                         edema_margin=0.8, irregularity=0.0)
    return phantom.make_subject(11, *grid, tumor=params), healthy, index


def test_tumor_params_give_nested_subregions(tumor_subject):
    subject, _, index = tumor_subject
    labels = subject.tumor
    assert set(np.unique(labels).tolist()) == {0, 1, 2, 3}
    assert labels[tuple(index)] == 1, "the centre of a tumour with a necrotic core is necrosis"
    ii, jj = np.meshgrid(*[np.arange(n) for n in labels.shape[:2]], indexing="ij")
    dist = np.hypot(ii - index[0], jj - index[1])
    d = {k: dist[labels[..., 0] == k].mean() for k in (1, 2, 3)}
    assert d[1] < d[3] < d[2], f"expected necrosis inside the enhancing rim inside the oedema, mean radii {d}"
    assert np.all(subject.tissue[labels > 0] == 6)
    assert "tumor" in subject.params


def test_gadolinium_enhances_only_the_enhancing_tumor(tumor_subject):
    subject, _, _ = tumor_subject
    et = subject.tumor == 3
    for images in (subject.clean, subject.images):
        assert images["t1ce"][et].mean() > 1.2 * images["t1"][et].mean(), "enhancing tumour not brighter on T1ce"
    # An intact blood-brain barrier keeps gadolinium out of healthy tissue.
    healthy_wm = (subject.tumor == 0) & (subject.fractions[CH["wm"]] > PURE)
    np.testing.assert_allclose(subject.clean["t1ce"][healthy_wm], subject.clean["t1"][healthy_wm], rtol=1e-3)


def test_edema_is_bright_on_flair_and_t2(tumor_subject):
    subject, healthy, _ = tumor_subject
    ed = subject.tumor == 2
    wm = (subject.tumor == 0) & (subject.fractions[CH["wm"]] > PURE)
    for m in ("flair", "t2"):
        assert subject.clean[m][ed].mean() > 1.5 * subject.clean[m][wm].mean(), f"oedema not hyperintense on {m}"


def _painted(shape, center, r_et=3.0, r_ed=5.5) -> np.ndarray:
    ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    d = np.hypot(ii - center[0], jj - center[1])
    labels = np.zeros(shape, np.uint8)
    labels[..., 0][d <= r_ed] = 2
    labels[..., 0][d <= r_et] = 3
    return labels


@pytest.fixture(scope="module")
def painted():
    grid = phantom.axial_grid(64, 1)
    healthy = phantom.make_subject(5, *grid, tumor=None)
    labels = _painted(healthy.shape, _wm_point(healthy))
    return grid, healthy, labels


def test_label_map_is_used_exactly(painted):
    grid, _, labels = painted
    subject = phantom.make_subject(5, *grid, tumor=labels)
    assert subject.tumor.dtype == np.uint8
    assert np.array_equal(subject.tumor, labels)
    assert np.all(subject.tissue[labels > 0] == 6)
    # A float map of whole numbers (as NIfTI readers return it) is accepted too.
    again = phantom.make_subject(5, *grid, tumor=labels.astype(np.float32))
    assert np.array_equal(again.tumor, labels)


def test_render_none_restores_the_healthy_subject(painted):
    grid, healthy, labels = painted
    subject = phantom.make_subject(5, *grid, tumor=labels)
    restored = phantom.render(subject, None)
    assert not restored.tumor.any()
    assert "tumor" not in restored.params
    _assert_same(restored, healthy)


def test_a_lesion_changes_images_only_near_the_lesion(painted):
    """``render``: 'the difference to the original is the lesion alone' - same anatomy,
    same tissue properties and the same noise realisation everywhere else."""
    grid, _, labels = painted
    subject = phantom.make_subject(5, *grid, tumor=labels)
    lesioned = {m: v.copy() for m, v in subject.images.items()}
    lesioned_clean = {m: v.copy() for m, v in subject.clean.items()}
    restored = phantom.render(subject, None)
    spacing = float(np.abs(grid[1][0, 0]))
    # Neighbourhood: the lesion plus 12 mm (beyond the 5 mm FWHM PET blur kernel's reach).
    near = ndimage.binary_dilation(labels > 0, iterations=int(np.ceil(12.0 / spacing)))
    far = ~near
    assert far.sum() > 0.8 * far.size
    for m in ALL_MODALITIES:
        np.testing.assert_allclose(restored.clean[m][far], lesioned_clean[m][far], rtol=1e-5, atol=1e-6,
                                   err_msg=f"clean {m} changed far from the lesion")
    changed = {}
    for m in ALL_MODALITIES:
        differs = restored.images[m][far] != lesioned[m][far]
        if differs.any():
            changed[m] = f"{differs.mean():.0%} of voxels far from the lesion, max |diff| " \
                         f"{np.abs(restored.images[m][far] - lesioned[m][far]).max():.3g}"
    assert not changed, f"acquired images differ far from the lesion (noise realisation not kept): {changed}"
    # Inside the lesion the images do change (the lesion is visible).
    assert not np.array_equal(restored.images["flair"][labels > 0], lesioned["flair"][labels > 0])


def test_bad_label_maps_are_rejected_with_a_helpful_message(painted):
    grid, healthy, labels = painted
    shape = healthy.shape
    with pytest.raises(ValueError) as err:
        phantom.make_subject(5, *grid, tumor=np.zeros((shape[0] - 1, shape[1], 1), np.uint8))
    msg = str(err.value)
    assert "shape" in msg and str(tuple(shape)) in msg

    five = labels.copy()
    five[labels == 3] = 5
    with pytest.raises(ValueError) as err:
        phantom.make_subject(5, *grid, tumor=five)
    msg = str(err.value)
    assert "5" in msg and "allowed" in msg
    assert all(name in msg for name in LABELS.values())

    fractional = labels.astype(np.float32)
    fractional[labels == 3] = 2.5
    with pytest.raises(ValueError, match="fractional"):
        phantom.make_subject(5, *grid, tumor=fractional)

    negative = labels.astype(np.int16)
    negative[labels == 3] = -1
    with pytest.raises(ValueError, match="allowed"):
        phantom.make_subject(5, *grid, tumor=negative)


def test_unknown_site_and_missing_affine_are_errors():
    shape, _ = phantom.axial_grid(32, 1)
    with pytest.raises(ValueError, match="affine"):
        phantom.make_subject(1, shape, None)
    with pytest.raises(ValueError, match="site"):
        phantom.make_subject(1, *phantom.axial_grid(32, 1), site="Z")


def test_site_b_is_noisier_than_site_a():
    grid = phantom.axial_grid(64, 1)
    a = phantom.make_subject(2, *grid, site="A", tumor=None)
    b = phantom.make_subject(2, *grid, site="B", tumor=None)
    air = a.fractions[CH["air"]] > 0.999
    for m in physics.MR_MODALITIES:
        # Background level relative to the brain signal = 1 / SNR.
        brain = a.fractions[CH["wm"]] > PURE
        rel = lambda s: s.images[m][air].mean() / np.median(s.clean[m][brain])  # noqa: E731
        assert rel(b) > rel(a), f"{m}: site B (SNR 18) not noisier than site A (SNR 30)"


def test_a_fresh_machine_gets_the_atlas_that_later_runs_read_from_the_cache(tmp_path, monkeypatch):
    """The first run derives the atlas and caches it in float16; it must render with the
    same numbers as every later run, which reads the cache (a fresh clone once printed
    other chapter-00 scores than its re-run)."""
    from dataclasses import fields

    from medsynth_nb.data import anatomy

    monkeypatch.setenv("MEDSYNTH_CACHE", str(tmp_path))
    first = anatomy.load_atlas()
    assert (tmp_path / anatomy._cache_file().name).exists()
    again = anatomy.load_atlas()
    for field in fields(anatomy.Atlas):
        a, b = getattr(first, field.name), getattr(again, field.name)
        assert a.dtype == b.dtype and np.array_equal(a, b), field.name


# --------------------------------------------------------------------------- the session's fields, the skull


def _field_in_deep_wm(subject, modality: str) -> np.ndarray:
    """The smoothed log-ratio acquired / clean in deep white matter (WM over 95 % and two
    voxels from anything else, where blur does not move the signal): the intensity field
    the scanner put on this image, with the noise averaged out."""
    deep = ndimage.binary_erosion(_pure(subject, "wm"), np.ones((3, 3, 1)))
    weight = ndimage.gaussian_filter(deep.astype(float), (3, 3, 0))
    ratio = np.log(np.maximum(subject.images[modality], 1e-6) / np.maximum(subject.clean[modality], 1e-6))
    smoothed = ndimage.gaussian_filter(np.where(deep, ratio, 0.0), (3, 3, 0)) / np.maximum(weight, 1e-6)
    return smoothed[deep]


@pytest.mark.parametrize("seed", [0, 7])
def test_one_session_shares_its_receive_field_and_another_site_does_not(seed):
    """T1w and T2w of one sitting carry the same receive field (only a small per-sequence
    transmit term differs), so their fields vary together; the same head on another scanner
    (site B) has a field of its own. (With a field per sequence, the difference of two
    sequences' fields spread 1.0-1.9 times as much as each one.)"""
    grid = phantom.axial_grid(96, 3, 15.0, 20.0)  # slices far apart: the field varies over the whole brain
    site_a = phantom.make_subject(seed, *grid, tumor=None)
    site_b = phantom.make_subject(seed, *grid, tumor=None, site="B")
    t1, t2, b1 = (_field_in_deep_wm(s, m) for s, m in ((site_a, "t1"), (site_a, "t2"), (site_b, "t1")))
    assert min(t1.std(), t2.std()) > 0.02  # a real field to compare
    assert (t1 - t2).std() < 0.5 * min(t1.std(), t2.std())
    assert (t1 - b1).std() > 0.7 * max(t1.std(), b1.std())


def test_a_new_visit_is_a_new_positioning_in_the_coil():
    grid = phantom.axial_grid(64, 1)
    first, second = (phantom.make_subject(2, *grid, tumor=None, visit=v) for v in (0, 1))
    ratio = lambda s: s.noise_free["t1"] / np.maximum(s.clean["t1"], 1e-6)  # noqa: E731
    head = first.fractions[2] + first.fractions[3] > 0.9
    assert not np.allclose(ratio(first)[head], ratio(second)[head], rtol=0.02)


def test_the_noise_free_acquisition_is_the_acquired_image_without_its_noise():
    subject = phantom.make_subject(4, *phantom.axial_grid(96, 1), tumor=None)
    wm = _pure(subject, "wm")
    for modality in ("t1", "t2", "flair"):
        residual = subject.images[modality][wm] - subject.noise_free[modality][wm]
        sigma = subject.noise_free[modality][wm].mean() / physics.SITES["A"].mr_snr
        assert abs(residual.mean()) < 0.2 * sigma  # Rician bias is small at this SNR
        assert residual.std() == pytest.approx(sigma, rel=0.35)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fractions_sum_to_one_everywhere(seed):
    subject = phantom.make_subject(seed, *phantom.volume_grid(6.0), tumor=None)
    np.testing.assert_allclose(subject.fractions.sum(0), 1.0, atol=1e-5)


def test_the_frontal_sinus_is_air():
    """The sinus inside the frontal bone renders as air: about -1000 HU on the noise-free CT
    and no brighter than air on every MR contrast, and the tissue map calls it air."""
    found = 0
    for seed in range(6):
        shape, affine = phantom.axial_grid(128, 3, 4.0, 6.0)
        subject = phantom.make_subject(seed, shape, affine, tumor=None)
        inside_head = ndimage.binary_fill_holes(subject.fractions[0] < 0.5, np.ones((3, 3, 1)))
        sinus = inside_head & (subject.fractions[0] > 0.99)
        sinus &= ndimage.binary_erosion(inside_head, np.ones((9, 9, 1)))  # well inside the skull, not the scalp
        found += int(sinus.sum())
        if sinus.any():
            assert subject.clean["ct"][sinus].max() <= -900
            assert (subject.tissue[sinus] == 0).all()
            for modality in physics.MR_MODALITIES:
                assert subject.clean[modality][sinus].max() < 0.05 * subject.clean[modality].max()
    assert found > 0, "no subject's sinus crossed the test slices"
