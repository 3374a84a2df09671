"""Chapter 05's attributions: regions, every method's map, completeness of integrated gradients,
per-sequence shares, the cascading randomisation sanity check, and what is refused."""
import numpy as np
import pytest
import torch

from medsynth_nb.analysis import attribution as explain
from medsynth_nb.data.loaders import load_dataset
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.models import build_model
from medsynth_nb.profiles import get_profile

TASK, SOURCES = "t1,t2:flair", ["t1", "t2"]


@pytest.fixture(scope="module")
def trained():
    """A U-Net trained briefly on the smoke phantom, and two test slices of its sources."""
    profile = get_profile("smoke")
    data = load_dataset("phantom", profile=profile, seed=0, progress=False)
    torch.manual_seed(0)
    model = build_model("unet", TASK, profile)
    train(model, data, TASK, TrainConfig.from_profile(profile, seed=0, steps=30, eval_every=30), progress=False)
    return model, data.test.batch(TASK, [0, 1])["source"]


def _center_disc(source, radius=4):
    return explain.region_mask(source.shape[-2:], center=(24, 24), radius=radius)


def test_region_mask_is_a_disc_or_a_box_cut_to_the_image():
    disc = explain.region_mask((9, 9), center=(4, 4), radius=1)
    assert disc.dtype == torch.float32 and disc.sum() == 5, "the centre and its 4 neighbours"
    box = explain.region_mask((6, 8), box=(1, 3, 2, 5))
    assert box.sum() == 2 * 3 and box[1:3, 2:5].all()
    assert explain.region_mask((6, 8), box=(4, 10, 6, 10)).sum() == 2 * 2, "the part outside is cut off"
    assert explain.region_mask((9, 9), center=(0, 0), radius=0).sum() == 1
    with pytest.raises(ValueError, match="no pixel inside"):
        explain.region_mask((6, 8), box=(2, 2, 0, 8))
    with pytest.raises(ValueError, match="no pixel inside"):
        explain.region_mask((6, 8), center=(20, 20), radius=3)
    with pytest.raises(ValueError, match="not both"):
        explain.region_mask((6, 8), center=(2, 2), radius=1, box=(0, 1, 0, 1))


def test_region_output_is_the_mean_output_inside_the_mask_in_eval_mode(trained):
    model, source = trained
    mask = _center_disc(source)
    model.train()
    region = explain.RegionOutput(model, mask)
    assert not model.training, "dropout off: deterministic attributions"
    with torch.no_grad():
        expected = model(source)[:, 0, mask.bool()].mean(1)
        assert torch.allclose(region(source), expected, atol=1e-6)


def test_integrated_gradients_are_complete_on_the_trained_model(trained):
    model, source = trained
    mask = _center_disc(source)
    assert explain.completeness_gap(model, source, mask, n_steps=64) < 0.05
    # From the black image the instance-normalised U-Net changes its output in the first steps
    # of the path only, which 64 points miss: why the blurred input is the default baseline.
    assert explain.completeness_gap(model, source, mask, n_steps=64, baseline="zero") > 0.5
    attribution = explain.attribute(model, source, mask, n_steps=64)
    with torch.no_grad():
        region = explain.RegionOutput(model, mask)
        change = region(source) - region(explain.blurred_baseline(source))
    assert torch.allclose(attribution.sum((1, 2, 3)), change, rtol=0.05)


@pytest.mark.parametrize("method", explain.METHODS)
def test_every_method_gives_a_finite_map_of_the_source_shape(trained, method):
    model, source = trained
    attribution = explain.attribute(model, source, _center_disc(source), method)
    channels = 1 if method == "layer_gradcam" else source.shape[1]
    assert attribution.shape == (source.shape[0], channels, *source.shape[-2:])
    assert torch.isfinite(attribution).all() and attribution.abs().sum() > 0


def test_gradient_shap_is_reproducible_and_leaves_the_callers_generators_alone(trained):
    model, source = trained
    mask = _center_disc(source)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = explain.attribute(model, source, mask, "gradient_shap", n_samples=4, seed=3)
    assert torch.equal(first, explain.attribute(model, source, mask, "gradient_shap", n_samples=4, seed=3))
    assert not torch.equal(first, explain.attribute(model, source, mask, "gradient_shap", n_samples=4, seed=4))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)


def test_modality_shares_sum_to_one_and_a_blank_sequence_gets_no_integrated_gradient_credit(trained):
    model, source = trained
    mask = _center_disc(source)
    shares = explain.modality_shares(explain.attribute(model, source, mask), SOURCES)
    assert list(shares.index) == SOURCES and shares.sum() == pytest.approx(1.0)
    assert shares["t2"] > 0.05, "the trained model uses T2w for FLAIR"
    # A blank sequence is its own blurred baseline: (x - baseline) = 0 there.
    blank = source.clone()
    blank[:, 1] = 0
    assert explain.modality_shares(explain.attribute(model, blank, mask), SOURCES)["t2"] == 0


def test_layers_are_listed_from_the_output_back_to_the_input(trained):
    model, source = trained
    layers = explain.layers_output_to_input(model, source)
    assert len(layers) == len(set(layers)) > 10
    assert model.get_submodule(layers[0]).out_channels == 1, "the last convolution makes the image"
    assert model.get_submodule(layers[-1]).in_channels == len(SOURCES), "the first one reads the sources"


def test_cascading_randomization_changes_gradient_maps_and_leaves_the_model_alone(trained):
    model, source = trained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    table = explain.cascading_randomization(model, source, _center_disc(source),
                                            methods=("saliency", "integrated_gradients"), n_stages=2, n_steps=16)
    assert list(table["stage"].unique()) == ["none", f"top {table['layers_randomized'].max() // 2}", "all"]
    none, everything = table[table.stage == "none"], table[table.stage == "all"].set_index("method")
    assert np.allclose(none[["rank_correlation", "ssim"]], 1.0)
    assert everything.loc["saliency", "rank_correlation"] < 0.5, everything
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the caller's weights are kept"


def test_bad_requests_are_refused_with_what_to_do(trained):
    model, source = trained
    mask = _center_disc(source)
    with pytest.raises(ValueError, match="integrated_gradients, saliency"):
        explain.attribute(model, source, mask, "lime")
    with pytest.raises(ValueError, match="no layer 'net.nowhere'.*named_modules"):
        explain.attribute(model, source, mask, "layer_gradcam", layer="net.nowhere")
    with pytest.raises(ValueError, match=r"patch=7 does not tile.*\[1, 2, 3, 4, 6, 8, 12, 16, 24, 48\]"):
        explain.attribute(model, source, mask, "occlusion", patch=7)
    with pytest.raises(ValueError, match="'zero' \\(the black image\\)"):
        explain.attribute(model, source, mask, baseline="black")
    with pytest.raises(ValueError, match="region_mask"):
        explain.attribute(model, source, torch.ones(8, 8), "saliency")
    with pytest.raises(ValueError, match="one channel per source"):
        explain.modality_shares(torch.ones(1, 1, 4, 4), SOURCES)
    with pytest.raises(ValueError, match="zero everywhere"):
        explain.modality_shares(torch.zeros(1, 2, 4, 4), SOURCES)
    with pytest.raises(ValueError, match="one or more of"):
        explain.cascading_randomization(model, source, mask, methods=("guided_backprop",))


def test_resvit_attributions_with_its_default_gradcam_layer():
    torch.manual_seed(0)
    model = build_model("resvit", "t1:t2", get_profile("smoke"))
    source = torch.rand(1, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    mask = _center_disc(source)
    layer = explain.default_gradcam_layer(model)
    assert layer.startswith("generator.art_blocks.")
    assert not any(name.startswith("discriminator") for name in explain.layers_output_to_input(model, source))
    for method in ("integrated_gradients", "layer_gradcam"):  # one source: Grad-CAM's shape is the source's too
        attribution = explain.attribute(model, source, mask, method, n_steps=8)
        assert attribution.shape == source.shape and torch.isfinite(attribution).all()


def test_attention_vs_attribution_on_the_token_grid():
    from medsynth_nb.analysis.attention import attention_rollout

    torch.manual_seed(0)
    model = build_model("resvit", "t1:t2", get_profile("smoke"))
    source = torch.rand(1, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    px, (gh, gw) = model.patch_pixels, model.token_grid
    mask = explain.region_mask((48, 48), box=(px, 2 * px, 2 * px, 3 * px))  # exactly token (1, 2)
    result = explain.attention_vs_attribution(model, source, mask, n_steps=8)
    assert result["attention"].shape == result["attribution"].shape == (gh, gw)
    assert result["attention"].sum() == pytest.approx(1.0, abs=1e-5)
    assert result["attribution"].sum() == pytest.approx(1.0, abs=1e-5)
    rollout = attention_rollout(model.attention_maps(source))[0]
    assert np.allclose(result["attention"].ravel(), rollout[1 * gw + 2].numpy(), atol=1e-6), "the query token's row"
    assert -1 <= result["rank_correlation"] <= 1 and 0 <= result["top_token_agreement"] <= 1
    with pytest.raises(ValueError, match="one image"):
        explain.attention_vs_attribution(model, source.expand(2, -1, -1, -1), mask)
