"""Figures of attention (chapter 04). A query is a token index, as attention matrices are
indexed: token (row, col) of a gh x gw grid is row * gw + col (ResViT's ``token_at``
gives it for an image pixel)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from medsynth_nb.analysis.attention import attention_rollout_matrix
from medsynth_nb.viz.images import QUERY_COLOR, as_numpy, first_image, image_2d, outline_box

# --------------------------------------------------------------------------- attention (chapter 04)
# A query is a token index, as attention matrices are indexed: token (row, col) of a gh x gw
# grid is row * gw + col (ResViT's ``token_at`` gives it for an image pixel).
ATTENTION_CMAP = "inferno"


def _check_query(query: int, token_grid: tuple[int, int]) -> None:
    gh, gw = token_grid
    if not (isinstance(query, (int, np.integer)) and 0 <= query < gh * gw):
        raise ValueError(f"query {query!r} is not a token of the {gh} x {gw} token grid: give a token index "
                         f"0..{gh * gw - 1} (token (row, col) is row * {gw} + col).")


def _token_map(row: np.ndarray, token_grid: tuple[int, int], patch_px: int, image_shape) -> np.ndarray:
    """One value per token -> an image-sized map, each value filling its token's patch (nearest)."""
    gh, gw = token_grid
    if (gh * patch_px, gw * patch_px) != tuple(image_shape):
        raise ValueError(f"A {gh} x {gw} token grid of {patch_px} px patches covers {gh * patch_px} x "
                         f"{gw * patch_px} pixels, but the image is {image_shape[0]} x {image_shape[1]}.")
    return np.kron(np.asarray(row, dtype=float).reshape(gh, gw), np.ones((patch_px, patch_px)))


def _outline_patch(ax, query: int, token_grid: tuple[int, int], patch_px: int) -> None:
    r, c = divmod(int(query), token_grid[1])
    outline_box(ax, (r * patch_px, (r + 1) * patch_px, c * patch_px, (c + 1) * patch_px))


def _attention_overlay(ax, image: np.ndarray, values: np.ndarray, title: str) -> None:
    """The image in grey, ``values`` (image-sized) over it, scaled to their own maximum."""
    ax.imshow(image, cmap="gray")
    ax.imshow(values, cmap=ATTENTION_CMAP, alpha=0.6, vmin=0, vmax=values.max() or 1.0, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def attention_panel(image, maps, token_grid: tuple[int, int], patch_px: int, query: int,
                    layer: int | None = None, head: int | str | None = None):
    """Where one query patch looks. ``maps``: per transformer layer, in forward order, the
    attention (B x heads x T x T or heads x T x T; the first image is shown), e.g.
    ``model.attention_maps(source)``. ``query``: a token index, row * gw + col on the gh x gw grid.
    ``layer``: a layer index (0 = first), None = every layer. ``head``: a head index, "mean" =
    the average of the heads, None = every head.

    Layout: the input with the query patch outlined, the chosen layers' panels (a row per
    layer when several heads are shown), then the rollout through all layers: how much each
    patch flows into the query's output after the whole transformer chain. Each overlay is
    scaled to its own maximum."""
    image = image_2d(image)
    maps = [first_image(m, 3) for m in maps]
    tokens = token_grid[0] * token_grid[1]
    if not maps or any(m.ndim != 3 or m.shape[1:] != (tokens, tokens) for m in maps):
        raise ValueError(f"maps: give each layer's attention as B x heads x T x T (or heads x T x T) with T = {tokens} "
                         f"tokens ({token_grid[0]} x {token_grid[1]}); got shapes {[m.shape for m in maps]}.")
    _check_query(query, token_grid)
    n_heads = maps[0].shape[0]
    if layer is not None and not (isinstance(layer, (int, np.integer)) and 0 <= layer < len(maps)):
        raise ValueError(f"layer={layer!r}: give None (every layer) or an index 0..{len(maps) - 1}.")
    if head is not None and head != "mean" and not (isinstance(head, (int, np.integer)) and 0 <= head < n_heads):
        raise ValueError(f"head={head!r}: give None (every head), 'mean' or an index 0..{n_heads - 1}.")
    layers = range(len(maps)) if layer is None else [layer]
    heads = range(n_heads) if head is None else [head]
    panels = [(l, h) for l in layers for h in heads]
    # A row per layer when several heads are shown; with one head per layer, the layers in one row.
    n_rows = len(layers) if len(heads) > 1 else 1
    per_row = len(panels) // n_rows
    fig, axes = plt.subplots(n_rows, per_row + 2, figsize=(2.1 * (per_row + 2), 2.4 * n_rows + 0.5), squeeze=False)
    first, last = axes[0, 0], axes[0, -1]
    first.imshow(image, cmap="gray")
    _outline_patch(first, query, token_grid, patch_px)
    first.set_title("input, query patch\noutlined", fontsize=9)
    first.axis("off")
    for i, (l, h) in enumerate(panels):
        ax = axes[i // per_row, 1 + i % per_row]
        att = maps[l].mean(0) if h == "mean" else maps[l][h]
        name = f"mean of {n_heads} heads" if h == "mean" else f"head {h + 1}"
        _attention_overlay(ax, image, _token_map(att[query], token_grid, patch_px, image.shape),
                           f"layer {l + 1}, {name}")
        _outline_patch(ax, query, token_grid, patch_px)
    rollout = attention_rollout_matrix(maps)
    _attention_overlay(last, image, _token_map(rollout[query], token_grid, patch_px, image.shape),
                       f"rollout through\nall {len(maps)} layers")
    _outline_patch(last, query, token_grid, patch_px)
    for ax in [*axes[1:, 0], *axes[1:, -1]]:  # input and rollout are shown once, in the first row
        fig.delaxes(ax)
    fig.suptitle("Where the outlined patch looks\n(bright = more attention; each panel scaled to its own maximum)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def attention_distance_plot(distances, token_grid: tuple[int, int], patch_px: int):
    """Mean attention distance (pixels) of every head, layer by layer: ``distances`` holds one
    per-head vector per layer (e.g. ``[mean_attention_distance(m, grid, px) for m in maps]``,
    or a layers x heads array). The dashed line is where a head that attends to every patch
    equally would sit: far below it = a local head (like a convolution), near it = global."""
    import torch

    from medsynth_nb.analysis.attention import mean_attention_distance

    values = np.stack([as_numpy(d) for d in distances]) if len(distances) else np.empty(0)
    if values.ndim != 2 or not values.size:
        raise ValueError(f"distances: give one per-head vector per layer (layers x heads); got shape {values.shape}.")
    n_layers, n_heads = values.shape
    tokens = token_grid[0] * token_grid[1]
    uniform = float(mean_attention_distance(torch.full((n_heads, tokens, tokens), 1 / tokens), token_grid, patch_px)[0])
    fig, ax = plt.subplots(figsize=(1.1 * n_layers + 3.2, 3.4))
    layers = np.arange(1, n_layers + 1)
    offsets = np.linspace(-0.2, 0.2, n_heads) if n_heads > 1 else [0.0]
    for h, offset in enumerate(offsets):
        ax.plot(layers + offset, values[:, h], "o", label=f"head {h + 1}")
    ax.axhline(uniform, ls="--", color="gray", label="uniform attention\n(every patch equally)")
    ax.set_xticks(layers)
    ax.set_xlabel("transformer layer (in the order the image passes them)")
    ax.set_ylabel("mean attention distance (pixels)")
    ax.set_ylim(0, max(values.max(), uniform) * 1.15)
    ax.set_title("How far each attention head looks")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def receptive_fields(fields: dict, image, pixel: tuple[int, int], floor: float = 1e-3):
    """Effective receptive fields ({model name: H x W map, e.g. ``effective_receptive_field``'s
    first image}) side by side, log scale: how strongly each input pixel moves the output at
    ``pixel`` (row, col), marked with a cross. Each title gives the share of the image whose
    influence is at least 1 % of the strongest."""
    if not fields:
        raise ValueError("receptive_fields needs at least one model's field: {name: H x W map}.")
    image = image_2d(image)
    row, col = pixel
    if not (0 <= row < image.shape[0] and 0 <= col < image.shape[1]):
        raise ValueError(f"pixel {pixel} is outside the {image.shape[0]} x {image.shape[1]} image.")
    n = len(fields) + 1
    fig, axes = plt.subplots(1, n, figsize=(2.7 * n + 1.0, 3.2), squeeze=False, layout="constrained")
    axes = axes[0]
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title(f"input, output pixel\n(row {row}, col {col})", fontsize=9)
    for ax, (name, field) in zip(axes[1:], fields.items()):
        field = first_image(field, 2)
        field = field / (field.max() or 1.0)
        im = ax.imshow(np.log10(np.maximum(field, floor)), cmap="magma", vmin=np.log10(floor), vmax=0)
        ax.set_title(f"{name}\n≥1 % of peak: {(field >= 0.01).mean():.0%} of image", fontsize=9)
    for ax in axes:
        ax.plot(col, row, "+", color=QUERY_COLOR, ms=10, mew=1.5)
        ax.axis("off")
    fig.colorbar(im, ax=list(axes[1:]), shrink=0.8, label="influence, log10 (0 = strongest)")
    return fig


def attention_snapshots(snapshots: dict, image, token_grid: tuple[int, int], patch_px: int, query: int):
    """How the query's attention rollout changes during training: ``snapshots`` maps a
    training step to the rollout then (T x T or B x T x T, e.g. ``attention_rollout_matrix(
    model.attention_maps(source))``); one panel per step, in step order."""
    if not snapshots:
        raise ValueError("attention_snapshots needs at least one {training step: rollout}.")
    image = image_2d(image)
    _check_query(query, token_grid)
    steps = sorted(snapshots)
    # At least two panels wide, so that the title fits above a single snapshot.
    fig, axes = plt.subplots(1, len(steps), figsize=(2.4 * max(len(steps), 2), 2.8), squeeze=False)
    for ax, step in zip(axes[0], steps):
        rollout = first_image(snapshots[step], 2)
        _attention_overlay(ax, image, _token_map(rollout[query], token_grid, patch_px, image.shape),
                           f"step {step}")
        _outline_patch(ax, query, token_grid, patch_px)
    fig.suptitle("Attention rollout of the outlined patch during training", fontsize=10)
    fig.tight_layout()
    return fig


def token_cost_plot(table: pd.DataFrame):
    """Step time and attention memory against the token count (from ``analysis.cost.token_cost``);
    memory on log-log axes, where a slope of 2 is quadratic growth."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, column in zip(axes, ["ms per step", "attention MB"]):
        ax.plot(table["tokens"], table[column], "o-")
        ax.set_xscale("log")
        for _, row in table.iterrows():
            ax.annotate(f"patch {int(row['patch'])}", (row["tokens"], row[column]), fontsize=8)
        ax.set_xlabel("tokens per slice")
        ax.set_ylabel(column)
    axes[1].set_yscale("log")
    axes[0].set_title("generator step (forward + backward)")
    axes[1].set_title("attention matrices alone")
    fig.tight_layout()
    return fig


def attention_vs_attribution(result: dict, image, region: tuple[int, int, int, int]):
    """``explain.attention_vs_attribution``'s two token maps over the ``image`` side by side,
    the explained ``region`` (a box r0, r1, c0, c1) outlined, their agreement in the title."""
    image = image_2d(image)
    grid = result["attention"].shape
    patch_px = image.shape[0] // grid[0]
    fig, axes = plt.subplots(1, 2, figsize=(6.0, 3.3), layout="constrained")
    for ax, key, title in ((axes[0], "attention", "attention rollout\n(where the tokens looked)"),
                           (axes[1], "attribution", "attribution, per token\n(what moved the output)")):
        _attention_overlay(ax, image, _token_map(result[key], grid, patch_px, image.shape), title)
        outline_box(ax, region)
    fig.suptitle(f"rank correlation {result['rank_correlation']:+.2f}; top-quarter tokens shared "
                 f"{result['top_token_agreement']:.0%} (IoU)", fontsize=9)
    return fig
