"""ResViT: attention maps, rollout and attention distance on known matrices, weight sharing,
the unified model's code, learning, exact resume, config round trip, receptive fields."""
import numpy as np
import pytest
import torch
from torch import nn

from medsynth_nb.analysis.attention import attention_rollout, effective_receptive_field, mean_attention_distance
from medsynth_nb.engine import load_trained
from medsynth_nb.models import ResViT, build_model, model_from_config
from medsynth_nb.profiles import get_profile

TASK, UNIFIED_TASK = "t1:t2", "t1,t2,pd:flair"
SIZE = 32  # the tiny_data fixture's image size


def _model(task=TASK, seed=0, **overrides):
    torch.manual_seed(seed)
    overrides.setdefault("image_size", SIZE)
    return build_model("resvit", task, get_profile("smoke"), **overrides)


def _unified(seed=0, **overrides):
    return _model(UNIFIED_TASK, seed, unified=True, **overrides)


def _images(n=2, channels=1, seed=1):
    return torch.rand(n, channels, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def _random_attention(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).softmax(-1)


def test_attention_maps_are_row_stochastic_per_head_over_the_token_grid():
    model = _model(depth=2)
    gh, gw = model.token_grid
    assert (gh, gw) == (4, 4), "smoke profile: about 16 tokens"
    maps = model.attention_maps(_images(3))
    assert len(maps) == 2 * 2, "two ART blocks with a transformer, two layers each"
    for att in maps:
        assert att.shape == (3, model.config["num_heads"], gh * gw, gh * gw)
        assert torch.allclose(att.sum(-1), torch.ones(()), atol=1e-5)
    assert not torch.equal(maps[0], maps[2]), "the shared encoder's second use has its own attention"


def test_rollout_is_row_stochastic_and_one_layer_is_its_head_average_mixed_with_the_identity():
    one = _random_attention(2, 4, 9, 9)
    expected = 0.5 * one.mean(1) + 0.5 * torch.eye(9)
    assert torch.allclose(attention_rollout([one]), expected, atol=1e-6)
    assert torch.allclose(attention_rollout([one], residual=False), one.mean(1), atol=1e-6)
    two = _random_attention(2, 4, 9, 9, seed=1)
    rollout = attention_rollout([one, two])
    assert rollout.shape == (2, 9, 9) and (rollout >= 0).all()
    assert torch.allclose(rollout.sum(-1), torch.ones(()), atol=1e-5)
    assert torch.allclose(rollout, attention_rollout([two]) @ attention_rollout([one]), atol=1e-6), "later layer left"
    with pytest.raises(ValueError, match="at least one"):
        attention_rollout([])


def test_mean_attention_distance_of_uniform_and_identity_attention():
    grid, patch_px = (3, 4), 8.0
    centers = [(r * patch_px, c * patch_px) for r in range(3) for c in range(4)]
    pairwise = np.mean([np.hypot(a[0] - b[0], a[1] - b[1]) for a in centers for b in centers])
    uniform = torch.full((2, 3, 12, 12), 1 / 12)
    expected = torch.full((3,), pairwise, dtype=torch.float32)
    assert torch.allclose(mean_attention_distance(uniform, grid, patch_px), expected)
    identity = torch.eye(12).expand(2, 3, 12, 12)
    assert torch.equal(mean_attention_distance(identity, grid, patch_px), torch.zeros(3))
    with pytest.raises(ValueError, match="token grid"):
        mean_attention_distance(uniform, (4, 4), patch_px)


def test_sharing_counts_the_transformer_encoder_once():
    blocks = (0, 3, 6)
    shared = _model(transformer_blocks=blocks, n_art_blocks=9)
    unshared = _model(transformer_blocks=blocks, n_art_blocks=9, share_transformer=False)
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert len(shared.generator.transformers) == 1 and len(unshared.generator.transformers) == 3
    assert count(unshared) - count(shared) == (len(blocks) - 1) * count(shared.generator.transformers[0])
    assert count(shared.generator.transformers[0]) > 0
    assert len(shared.attention_maps(_images())) == len(blocks) * shared.config["depth"]
    assert "1 encoder of" in shared.describe() and "3 encoders of" in unshared.describe()


def test_unified_model_reads_the_availability_code_and_the_inputs():
    model = _unified()
    t1, t2 = _images(seed=1), _images(seed=2)
    missing = model.synthesise({"t1": t1}, "flair")
    present_but_black = model.synthesise({"t1": t1, "t2": torch.zeros_like(t2)}, "flair")
    assert not torch.allclose(missing, present_but_black), "the flag alone must change the output"
    with_t2 = model.synthesise({"t1": t1, "t2": t2}, "flair")
    assert not torch.allclose(with_t2, present_but_black), "a present input's image must change the output"
    assert not torch.allclose(model.synthesise({"t1": t1}, "pd"), missing), "the target code must change the output"
    # forward/predict: the task's translation, every source present
    source = torch.cat([t1, t2, _images(seed=3)], 1)
    assert torch.equal(model.predict(source), model.synthesise({"t1": t1, "t2": t2, "pd": source[:, 2:]}, "flair"))
    with pytest.raises(ValueError, match="target not among the inputs"):
        model.synthesise({"t1": t1}, "t1")
    with pytest.raises(ValueError, match="among"):
        model.synthesise({"ct": t1}, "flair")
    with pytest.raises(ValueError, match="unified"):
        _model().synthesise({"t1": t1}, "t2")


def test_random_translation_never_shows_the_target_and_always_shows_something():
    model = _unified()
    batch = {"source": _images(64, 3), "target": _images(64, seed=9)}
    torch.manual_seed(0)
    images, code, target = model.random_translation(batch)
    everything = torch.cat([batch["source"], batch["target"]], 1)
    available, chosen = code[:, :4].bool(), code[:, 4:].argmax(1)
    assert not available[torch.arange(64), chosen].any() and available.any(1).all()
    assert torch.equal(target[:, 0], everything[torch.arange(64), chosen])
    assert torch.equal(images, everything * available[:, :, None, None])
    assert len(set(chosen.tolist())) == 4 and len({tuple(a) for a in available.tolist()}) > 4


def test_short_run_lowers_the_l1_loss(assert_l1_falls):
    assert_l1_falls(_model(), TASK, steps=30)


def test_unified_resume_continues_the_same_run_with_the_same_draws(tiny_data, tmp_path, resumed_run):
    full, resumed, history = resumed_run(_unified, tiny_data, UNIFIED_TASK, 6, batch_size=4, eval_every=1000,
                                         max_eval_slices=4)
    assert history.step == 6 and history.losses["l1"] == full.losses["l1"]
    loaded, _ = load_trained(tmp_path)
    assert isinstance(loaded, ResViT) and loaded.config["unified"]
    t1 = _images()
    assert torch.equal(loaded.synthesise({"t1": t1}, "pd"), resumed.synthesise({"t1": t1}, "pd"))


@pytest.mark.parametrize("unified", [False, True])
def test_config_round_trip_rebuilds_the_same_model(unified):
    model = _unified(transformer_blocks=(1, 2), share_transformer=False) if unified else _model(patch_size=4)
    clone = model_from_config(model.config)
    clone.load_state_dict(model.state_dict())
    source = _images(2, 3 if unified else 1)
    assert clone.describe() == model.describe()
    assert torch.equal(clone.predict(source), model.predict(source))


def test_sizes_errors_and_click_to_token():
    model = _model(patch_size=2)
    assert model.token_grid == (4, 4) and model.patch_pixels == 8
    assert model.token_at(0, 0) == 0 and model.token_at(9, 31) == 4 + 3
    with pytest.raises(ValueError, match=r"patch sizes that work: \[1, 2, 4, 8\]"):
        _model(patch_size=3)
    with pytest.raises(ValueError, match="multiple of 4"):
        _model(image_size=30)
    with pytest.raises(ValueError, match="image_size=48"):
        model(torch.rand(1, 1, 48, 48))
    for profile, tokens in [("smoke", 16), ("cpu", 64), ("gpu", 256)]:
        built = build_model("resvit", TASK, get_profile(profile))
        assert np.prod(built.token_grid) == tokens, profile


def test_effective_receptive_field_of_one_3x3_conv_is_its_window():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 1, 3, padding=1)
    field = effective_receptive_field(conv, torch.rand(1, 2, 9, 9), (4, 6))
    assert field.shape == (1, 9, 9) and field.max() == 1
    window = torch.zeros(9, 9, dtype=torch.bool)
    window[3:6, 5:8] = True
    assert (field[0][window] > 0).all() and (field[0][~window] == 0).all()
    assert conv.weight.grad is None and conv.training, "no weight gradients, training mode restored"
    with pytest.raises(ValueError, match="outside"):
        effective_receptive_field(conv, torch.rand(1, 2, 9, 9), (9, 0))


def test_cli_trains_resvit_on_a_two_source_task(tmp_path):
    from medsynth_nb.cli import main

    assert main(["train", "resvit", "--task", "t1,flair:t2", "--profile", "smoke", "--steps", "2",
                 "--out", str(tmp_path)]) == 0
    loaded, history = load_trained(tmp_path)
    assert isinstance(loaded, ResViT) and loaded.config["in_channels"] == 2 and history.step == 2
