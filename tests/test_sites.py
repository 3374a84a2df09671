"""Two scanner sites: the same subjects rendered with site B's protocol line up slice for
slice with site A's, so harmonisation and site shift can be measured against the truth."""
import numpy as np
import pytest

from medsynth_nb import metrics
from medsynth_nb.data.datasets import load_dataset, parse_task

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
