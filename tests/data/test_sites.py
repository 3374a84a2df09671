"""Two scanner sites: the same subjects rendered with site B's protocol line up slice for
slice with site A's, so harmonisation and site shift can be measured against the truth."""
import numpy as np
import pytest

from medsynth_nb import metrics
from medsynth_nb.data.loaders import load_dataset
from medsynth_nb.tasks import parse_task

SIZES = dict(n_subjects=4, image_size=32, slices_per_subject=2, seed=3, progress=False)


@pytest.fixture(scope="module")
def two_sites():
    return load_dataset("phantom", site="A", **SIZES).with_site(load_dataset("phantom", site="B", **SIZES))


def test_site_qualified_tasks_parse():
    task = parse_task("T1@b:t1")
    assert task.sources == ("t1@B",) and task.target == "t1"
    with pytest.raises(ValueError, match="t1@C"):
        parse_task("t1@C:t1")
    with pytest.raises(ValueError, match="nothing to synthesise"):
        parse_task("t1@B:t1@B")


def test_site_b_images_are_the_same_anatomy_with_another_protocol(two_sites):
    test = two_sites.test
    assert {"t1", "t1@B", "ct@B"} <= set(test.images)
    a, b = test.clean["t1"], test.clean["t1@B"]
    assert a.shape == b.shape and not np.allclose(a, b)
    # Same anatomy: the two sites' clean T1w images are strongly correlated inside the head.
    head = test.tissue > 0
    assert np.corrcoef(a[head], b[head])[0, 1] > 0.9
    # Site B is noisier: its acquired-vs-clean error is larger.
    err_a = np.abs(test.images["t1"] - test.clean["t1"])[head].mean()
    err_b = np.abs(test.images["t1@B"] - test.clean["t1@B"])[head].mean()
    assert err_b > err_a


def test_batches_and_metrics_accept_site_names(two_sites):
    batch = two_sites.test.batch("t1@B:ct", [0, 1])
    assert batch["source"].shape[1] == 1
    scores = metrics.evaluate(two_sites.test.images["ct@B"], two_sites.test, "t1:ct@B")
    assert "mae_hu" in scores.columns and scores["mae_hu"].max() < 1e-3  # an image against itself


def test_with_site_refuses_other_subjects():
    a = load_dataset("phantom", site="A", **SIZES)
    other_seed = load_dataset("phantom", site="B", **{**SIZES, "seed": 4})
    with pytest.raises(ValueError, match="same subjects"):
        a.with_site(other_seed)
    with pytest.raises(ValueError, match="same subjects"):
        a.with_site(a)


def test_training_can_be_restricted_to_a_few_subjects(two_sites):
    first = two_sites.train.subjects[:1]
    few = two_sites.with_training_subjects(first)
    assert few.train.subjects == first and few.test is two_sites.test
    with pytest.raises(ValueError, match="training subject"):
        two_sites.with_training_subjects(["nobody"])


def test_unpaired_domains_can_differ_in_tumor_prevalence(two_sites):
    train = two_sites.train
    with_tumor = train.subjects_with_tumor
    assert all(train.tumor[train.subject_ids == s].any() for s in with_tumor)
    healthy = [s for s in train.subjects if s not in with_tumor]
    if with_tumor and healthy:
        view = two_sites.unpaired(source_subjects=with_tumor, target_subjects=healthy).train
        assert not view.target_set.tumor.any()


def test_lesion_contrast_is_positive_for_bright_lesions_and_zero_when_erased(two_sites):
    test = two_sites.test
    bright = test.clean["t2"].copy()
    contrast = metrics.lesion_contrast(bright, test)
    erased = bright.copy()
    for i in contrast.index:
        erased[i][test.tumor[i] > 0] = bright[i][test.tissue[i] == 3].mean()
    assert np.allclose(metrics.lesion_contrast(erased, test), 0, atol=1e-5)
    if len(contrast):
        assert (contrast > 0).all(), "tumours are brighter than white matter on T2w"


def test_transfer_curve_compares_fine_tuning_with_scratch_without_touching_the_pretrained(two_sites):
    import torch

    from medsynth_nb.analysis.transfer import FINE_TUNED, FROM_SCRATCH, transfer_curve
    from medsynth_nb.engine import TrainConfig
    from medsynth_nb.models import build_model
    from medsynth_nb.profiles import get_profile

    torch.manual_seed(0)
    build = lambda: build_model("unet", "t1@B:t2@B", get_profile("smoke"))  # noqa: E731
    pretrained = build()
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    config = TrainConfig(steps=2, batch_size=2, eval_every=1000, max_eval_slices=2)
    table = transfer_curve(pretrained, two_sites, "t1@B:t2@B", [1, 2], config, build)
    assert list(table["k"]) == [1, 1, 2, 2] and set(table["start"]) == {FINE_TUNED, FROM_SCRATCH}
    assert table[["mae", "psnr", "ssim"]].notna().all().all()
    assert all(torch.equal(before[k], v) for k, v in pretrained.state_dict().items())
    # No training steps: the fine-tuned arm is the pretrained model, scored as such.
    untrained = transfer_curve(pretrained, two_sites, "t1@B:t2@B", [1], TrainConfig(steps=0, eval_every=1000), build)
    expected = metrics.evaluate_model(pretrained.predict, two_sites.test, "t1@B:t2@B")["mae"].mean()
    assert untrained.loc[untrained["start"] == FINE_TUNED, "mae"].item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="between 1 and"):
        transfer_curve(pretrained, two_sites, "t1@B:t2@B", [99], config, build)


def test_tumor_free_keeps_exactly_the_slices_without_labels(two_sites):
    test = two_sites.test
    free = test.tumor_free()
    has_tumor = test.tumor.reshape(len(test), -1).any(1)
    assert len(free) == int((~has_tumor).sum()) and not free.tumor.any()
