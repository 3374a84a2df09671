"""Chapter 06's learned renderer, its data and its scoring against the physics truth."""
import numpy as np
import pytest
import torch

from medsynth_nb.data.lesion_pairs import (
    CONTRASTS,
    LesionSlices,
    edit_canvases,
    edit_region,
    load_lesion_pairs,
    margin_px,
)
from medsynth_nb.data.tumor import EDEMA
from medsynth_nb.engine.training import TrainConfig, train
from medsynth_nb.lesions.editor import LabelEditor
from medsynth_nb.lesions.fidelity import change_outside, fidelity_summary, fidelity_table
from medsynth_nb.models import build_model, model_from_config
from medsynth_nb.models.lesion_renderer import IN_CHANNELS, LesionRenderer, renderer_input
from medsynth_nb.profiles import get_profile, seed_everything

SMOKE = get_profile("smoke")


@pytest.fixture(scope="module")
def pairs():
    return load_lesion_pairs(6, 32, 4, seed=0, progress=False)


@pytest.fixture(scope="module")
def canvases():
    return edit_canvases(2, 32, seed=0)


@pytest.fixture(scope="module")
def trained(pairs):
    seed_everything(0)  # the initial weights too: the tests do not depend on the order they run in
    renderer = build_model("lesion_renderer", None, SMOKE)
    train(renderer, pairs, None, TrainConfig.from_profile(SMOKE, steps=100, seconds=None, eval_every=100),
          progress=False)
    return renderer


def edema_spot(canvas, radius=3.0):
    rows, cols = np.nonzero(canvas.brain)
    editor = LabelEditor(np.zeros(canvas.brain.shape, np.uint8), canvas.brain)
    editor.brush(EDEMA, [float(rows.mean()), float(cols.mean())], radius)
    return editor.labels


def test_pairs_differ_only_at_the_tumor_and_share_one_scale(pairs):
    tr = pairs.train
    assert tr.images.shape[1] == len(CONTRASTS) and len(tr.with_lesion) > 0
    outside = np.broadcast_to((tr.labels == 0)[:, None], tr.images.shape)
    np.testing.assert_array_equal(tr.images[outside], tr.healthy[outside])
    inside = np.broadcast_to((tr.labels > 0)[:, None], tr.images.shape)
    assert np.abs(tr.images[inside] - tr.healthy[inside]).mean() > 0.05


def test_training_batches_cover_the_lesion_and_are_reproducible(pairs):
    a = pairs.train.sample_batch(None, 8, torch.Generator().manual_seed(3))
    b = pairs.train.sample_batch(None, 8, torch.Generator().manual_seed(3))
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    assert bool((a["edit_mask"][a["labels"] > 0] == 1).all()), "the edit region must cover every tumour pixel"
    with_decoys = pairs.train.sample_batch(None, 64, torch.Generator().manual_seed(0))
    lesion_only = edit_region(with_decoys["labels"], margin=margin_px(32))
    assert (with_decoys["edit_mask"] > lesion_only).any(), "random healthy discs teach the renderer to erase"


def test_lesion_slices_refuse_invalid_labels(pairs):
    tr = pairs.train
    with pytest.raises(ValueError, match="not tumour codes"):
        LesionSlices(tr.images, np.where(tr.labels > 0, 4, 0).astype(np.uint8), tr.brain, tr.subject_ids)


def test_canvas_physics_without_labels_is_the_healthy_slice(canvases):
    canvas = canvases[0]
    np.testing.assert_allclose(canvas.physics(np.zeros(canvas.brain.shape, np.uint8)), canvas.healthy, atol=1e-6)
    spot = edema_spot(canvas)
    flair = CONTRASTS.index("flair")
    assert canvas.physics(spot)[flair][spot > 0].mean() > canvas.healthy[flair][spot > 0].mean() + 0.1


@pytest.mark.parametrize("conditioning", ["concat", "spade"])
def test_renderer_leaves_everything_outside_the_edit_region_alone(conditioning, pairs):
    renderer = LesionRenderer(conditioning, channels=(8, 16, 32))
    batch = pairs.train.tensors(pairs.train.with_lesion[:2])
    region = edit_region(batch["labels"], margin=margin_px(32))
    source = renderer_input(batch["images"], region, batch["labels"])
    assert source.shape[1] == IN_CHANNELS
    assert float(source[:, :4][region.expand(-1, 4, -1, -1) > 0].abs().max()) == 0, "the lesion is blanked out"
    out = renderer.predict(source)
    keep = region.expand_as(out) == 0
    torch.testing.assert_close(out[keep], batch["images"][keep])


@pytest.mark.parametrize("conditioning", ["concat", "spade"])
def test_config_rebuilds_the_same_renderer(conditioning):
    renderer = build_model("lesion_renderer", None, SMOKE, conditioning=conditioning)
    rebuilt = model_from_config(renderer.config)
    rebuilt.load_state_dict(renderer.state_dict())
    x = renderer_input(torch.rand(1, 4, 32, 32), torch.ones(1, 1, 32, 32), torch.zeros(1, 1, 32, 32, dtype=torch.long))
    torch.testing.assert_close(rebuilt.predict(x), renderer.predict(x))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="conditioning"):
        LesionRenderer("film")
    with pytest.raises(ValueError, match="task=None"):
        build_model("lesion_renderer", "t1:t2", SMOKE)


def test_training_lowers_the_lesion_error(pairs, trained):
    seed_everything(0)
    fresh = build_model("lesion_renderer", None, SMOKE)  # the trained renderer's own initial weights
    before, after = fresh.validation_scores(pairs.val, "cpu"), trained.validation_scores(pairs.val, "cpu")
    assert after["mae"] < 0.7 * before["mae"], (before, after)


def test_an_edit_changes_the_render_near_it_and_nowhere_else(trained, canvases):
    canvas = canvases[1]
    before = np.zeros(canvas.brain.shape, np.uint8)
    change = change_outside(trained.render_on, canvas, before, edema_spot(canvas), margin_px(32) + 1)
    assert change["near"] > 0.05 and change["far"] == 0.0, change


def test_fidelity_scores_zero_for_the_truth_and_see_a_biased_renderer(canvases):
    edits = [(0, edema_spot(canvases[0])), (1, edema_spot(canvases[1], 4.0))]

    def brighter(canvas, labels):
        return canvas.physics(labels) + 0.1 * (labels > 0)

    table = fidelity_table({"truth": lambda c, l: c.physics(l), "healthy": lambda c, l: c.healthy,
                            "brighter": brighter}, canvases, edits)
    by = table.set_index(["renderer", "contrast"])
    assert np.allclose(by.loc["truth", ["mae", "bias", "wasserstein"]], 0)
    np.testing.assert_allclose(by.loc["brighter", "bias"], 0.1, atol=1e-5)
    np.testing.assert_allclose(by.loc["brighter", "wasserstein"], 0.1, atol=1e-5)
    assert by.loc[("healthy", "flair"), "mae"] > 0.1 and set(table["region"]) == {"edema"}
    summary = fidelity_summary(table)
    assert summary.loc["truth", "mae (all regions)"] == 0 < summary.loc["healthy", "mae (all regions)"]
    with pytest.raises(ValueError, match="No edits"):
        fidelity_table({"truth": brighter}, canvases, [])


def test_a_synthesis_dataset_with_four_contrasts_becomes_lesion_data():
    from medsynth_nb.data.lesion_pairs import lesion_slices
    from medsynth_nb.data.phantom_slices import load_phantom

    source = load_phantom(4, 32, 2, seed=0, tumor_prob=1.0, progress=False)
    converted = lesion_slices(source)
    assert converted.train.healthy is None and len(converted.test) == len(source.test)
    np.testing.assert_array_equal(converted.train.images[:, CONTRASTS.index("flair")], source.train.images["flair"])
    np.testing.assert_array_equal(converted.train.labels, source.train.tumor)
    del source.train.images["t1ce"]
    with pytest.raises(ValueError, match="lacks"):
        lesion_slices(source)
