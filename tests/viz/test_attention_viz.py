"""Chapter 04's attention figures and the AttentionExplorer widget. The figures are checked on
attention matrices built by hand (where the answer is known); the explorer on a tiny
untrained ResViT, its redraws observed through ``widgets.common.show_figure`` (no kernel here)."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from medsynth_nb import viz, widgets
from medsynth_nb.analysis.attention import attention_rollout_matrix, mean_attention_distance
from medsynth_nb.models import build_model
from medsynth_nb.profiles import get_profile

GRID, PATCH_PX = (4, 4), 12  # the smoke ResViT's token grid on its 48 x 48 images
TOKENS = GRID[0] * GRID[1]
QUERY, TARGET = 5, 14  # in the hand-made maps, the query's attention goes to the target token


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _concentrated_maps(layers=2, heads=3, seed=0):
    """Per layer 1 x heads x T x T, rows near-uniform, except the query's: 0.9 on the target."""
    rng = np.random.default_rng(seed)
    maps = []
    for _ in range(layers):
        att = rng.uniform(0.5, 1.5, (1, heads, TOKENS, TOKENS))
        att[:, :, QUERY] = 0.1 / (TOKENS - 1)
        att[:, :, QUERY, TARGET] = 0.9
        maps.append(torch.as_tensor(att / att.sum(-1, keepdims=True)))
    return maps


def _image(seed=1):
    return np.random.default_rng(seed).random((GRID[0] * PATCH_PX, GRID[1] * PATCH_PX))


def _overlays(fig) -> dict[str, np.ndarray]:
    """{panel title: the attention overlay's data} for every panel that has an overlay."""
    return {ax.get_title(): np.asarray(ax.images[1].get_array()) for ax in fig.axes if len(ax.images) == 2}


def _token_of_pixel(overlay: np.ndarray) -> int:
    row, col = np.unravel_index(np.argmax(overlay), overlay.shape)
    return (row // PATCH_PX) * GRID[1] + col // PATCH_PX


@pytest.mark.parametrize("layer, head, panels", [(None, None, 2 * 3), (None, "mean", 2), (1, None, 3), (1, 2, 1)])
def test_attention_panel_shows_the_input_the_chosen_layers_and_heads_and_the_rollout(layer, head, panels):
    fig = viz.attention_panel(_image(), _concentrated_maps(), GRID, PATCH_PX, QUERY, layer=layer, head=head)
    assert len(fig.axes) == panels + 2
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("input") and sum("rollout" in t for t in titles) == 1
    if head is None:
        assert f"layer {(layer or 0) + 1}, head 3" in titles
    if head == "mean":
        assert "layer 2, mean of 3 heads" in titles
    if layer == 1 and head == 2:
        assert titles[1] == "layer 2, head 3"


def test_attention_panel_puts_the_maximum_on_the_attended_token_and_outlines_the_query():
    fig = viz.attention_panel(_image(), _concentrated_maps(), GRID, PATCH_PX, QUERY)
    overlays = _overlays(fig)
    assert len(overlays) == 2 * 3 + 1, "every head of both layers, and the rollout"
    for title, overlay in overlays.items():
        assert overlay.shape == _image().shape, title
        assert _token_of_pixel(overlay) == TARGET, title
    assert overlays["layer 1, head 1"].max() == pytest.approx(0.9), "the query's row, not its column"
    outline = fig.axes[0].patches[0]
    row, col = divmod(QUERY, GRID[1])
    assert outline.get_xy() == (col * PATCH_PX - 0.5, row * PATCH_PX - 0.5)


@pytest.mark.parametrize("kwargs, message", [
    ({"query": TOKENS}, "not a token of the 4 x 4 token grid"),
    ({"query": -1}, "not a token"),
    ({"query": 2.0}, "not a token"),
    ({"query": QUERY, "layer": 2}, "layer=2"),
    ({"query": QUERY, "head": 3}, "head=3"),
])
def test_attention_panel_rejects_bad_choices_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        viz.attention_panel(_image(), _concentrated_maps(), GRID, PATCH_PX, **kwargs)


def test_attention_panel_rejects_maps_or_images_that_do_not_fit_the_grid():
    with pytest.raises(ValueError, match="T = 9 tokens"):
        viz.attention_panel(_image(), _concentrated_maps(), (3, 3), PATCH_PX, 0)
    with pytest.raises(ValueError, match="covers 48 x 48 pixels"):
        viz.attention_panel(_image()[:40], _concentrated_maps(), GRID, PATCH_PX, QUERY)


def test_attention_distance_plot_has_a_point_per_head_and_layer_and_the_uniform_line():
    maps = _concentrated_maps(layers=3, heads=2)
    distances = [mean_attention_distance(m, GRID, PATCH_PX) for m in maps]
    fig = viz.attention_distance_plot(distances, GRID, PATCH_PX)
    (ax,) = fig.axes
    *heads, uniform = ax.lines
    assert len(heads) == 2 and all(len(line.get_xdata()) == 3 for line in heads)
    expected = mean_attention_distance(torch.full((1, TOKENS, TOKENS), 1 / TOKENS), GRID, PATCH_PX)[0]
    assert uniform.get_ydata()[0] == pytest.approx(float(expected))
    assert "pixels" in ax.get_ylabel()


def test_receptive_fields_side_by_side_with_the_pixel_marked():
    rng = np.random.default_rng(0)
    fields = {"pix2pix": rng.random((1, 48, 48)), "ResViT": rng.random((48, 48))}
    fig = viz.receptive_fields(fields, _image(), (20, 30))
    assert len(fig.axes) == 1 + 2 + 1, "input, one per model, colour bar"
    assert [ax.get_title().splitlines()[0] for ax in fig.axes[1:3]] == ["pix2pix", "ResViT"]
    assert all(tuple(ax.lines[0].get_xydata()[0]) == (30, 20) for ax in fig.axes[:3]), "(x, y) = (col, row)"
    with pytest.raises(ValueError, match="outside"):
        viz.receptive_fields(fields, _image(), (48, 0))


def test_attention_snapshots_one_panel_per_step_in_step_order():
    rollout = attention_rollout_matrix(_concentrated_maps())
    fig = viz.attention_snapshots({100: rollout, 0: rollout[None], 50: rollout}, _image(), GRID, PATCH_PX, QUERY)
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 50", "step 100"]
    assert all(_token_of_pixel(o) == TARGET for o in _overlays(fig).values())


@pytest.mark.parametrize("draw", [
    lambda: viz.attention_panel(_image(), [], GRID, PATCH_PX, QUERY),
    lambda: viz.attention_distance_plot([], GRID, PATCH_PX),
    lambda: viz.receptive_fields({}, _image(), (0, 0)),
    lambda: viz.attention_snapshots({}, _image(), GRID, PATCH_PX, QUERY),
])
def test_figures_given_nothing_to_draw_say_so(draw):
    with pytest.raises(ValueError, match="give|needs"):
        draw()


# --------------------------------------------------------------------------- the explorer
@pytest.fixture(scope="module")
def resvit():
    torch.manual_seed(0)
    model = build_model("resvit", "t1:t2", get_profile("smoke"))
    assert model.token_grid == GRID and model.patch_pixels == PATCH_PX
    return model


@pytest.fixture
def drawn(monkeypatch):
    """Every picture the explorer shows: (output widget, {panel title: overlay data})."""
    shown = []

    def record(out, fig):
        shown.append((out, _overlays(fig)))
        plt.close(fig)

    monkeypatch.setattr(widgets.common, "show_figure", record)
    return shown


def test_explorer_starts_at_the_center_and_a_click_or_select_moves_the_query(resvit, drawn, monkeypatch):
    source = torch.rand(1, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    explorer = widgets.AttentionExplorer(resvit, source)
    assert explorer.query == 2 * GRID[1] + 2 and len(drawn) == 1 and drawn[0][0] is explorer.figure
    assert len(explorer.patches.buttons) == TOKENS
    assert set(drawn[0][1]) == {"layer 1, mean of 4 heads", "layer 2, mean of 4 heads", "layer 3, mean of 4 heads",
                                "layer 4, mean of 4 heads", "rollout through\nall 4 layers"}
    # Redraws re-plot the attention computed once: the model is not run again.
    monkeypatch.setattr(resvit, "attention_maps", lambda *_: pytest.fail("attention recomputed on redraw"))
    explorer.select(0, 3)
    assert explorer.query == 3 and len(drawn) == 2
    assert any(not np.array_equal(drawn[0][1][t], drawn[1][1][t]) for t in drawn[0][1]), "picture unchanged"
    assert "medsynth-attention-selected" in explorer.patches.buttons[3]._dom_classes
    assert "medsynth-attention-selected" not in explorer.patches.buttons[10]._dom_classes
    explorer.patches.buttons[TOKENS - 1].click()  # what the browser's click does
    assert explorer.query == TOKENS - 1 and len(drawn) == 3
    explorer.head.value = "every"
    assert len(drawn) == 4 and len(drawn[-1][1]) == 4 * 4 + 1


def test_explorer_rejects_a_patch_outside_the_grid_and_keeps_its_query(resvit, drawn):
    explorer = widgets.AttentionExplorer(resvit, np.random.default_rng(0).random((48, 48)), query=(1, 1))
    assert explorer.query == GRID[1] + 1
    with pytest.raises(ValueError, match="outside the 4 x 4 grid"):
        explorer.select(4, 0)
    assert explorer.query == GRID[1] + 1 and len(drawn) == 1
