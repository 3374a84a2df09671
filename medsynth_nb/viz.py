"""Figures the chapters show: modalities side by side, predictions with error maps,
training curves, the physics table. Matplotlib only (no widgets), so scripts and tests
can call them too; notebooks display the returned figures inline."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .data import physics
from .data.datasets import base_modality, to_hu

# Display windows in the units the images are in.
WINDOWS_PHYSICAL = {"ct": (-200.0, 1500.0)}        # HU: brain-to-bone window
MODALITY_TITLES = {"t1": "T1w", "t2": "T2w", "pd": "PDw", "flair": "FLAIR", "t1ce": "T1w + Gd",
                   "ct": "CT", "pet": "FDG-PET"}
TUMOR_COLORS = np.array([[0, 0, 0, 0], [0.9, 0.2, 0.2, 0.8], [0.2, 0.8, 0.2, 0.55], [1.0, 0.85, 0.1, 0.8]])
TISSUE_COLORS = plt.get_cmap("tab10")(np.arange(7))


def axial(volume: np.ndarray, k: int) -> np.ndarray:
    """Slice ``k`` of an ``[x, y, z]`` volume in display orientation (anterior up)."""
    return volume[:, ::-1, k].T


def window(modality: str, image: np.ndarray, physical: bool) -> tuple[float, float]:
    if physical and modality in WINDOWS_PHYSICAL:
        return WINDOWS_PHYSICAL[modality]
    if not physical:
        return 0.0, 1.0
    return 0.0, float(np.percentile(image, 99.5)) or 1.0


def overlay(ax, labels: np.ndarray, kind: str = "tumor") -> None:
    colors = TUMOR_COLORS if kind == "tumor" else np.c_[TISSUE_COLORS[:, :3], np.full(7, 0.45)]
    rgba = colors[np.clip(labels, 0, len(colors) - 1)]
    if kind != "tumor":
        rgba[labels == 0, 3] = 0
    ax.imshow(rgba, interpolation="nearest")


def show_modalities(images: dict[str, np.ndarray], tumor: np.ndarray | None = None, *, physical: bool = True,
                    title: str | None = None, size: float = 2.2):
    """One 2-D image per modality side by side (plus the tumour labels if given)."""
    names = list(images)
    n = len(names) + (tumor is not None)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.15), squeeze=False)
    for ax, name in zip(axes[0], names):
        lo, hi = window(name, images[name], physical)
        ax.imshow(images[name], cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(MODALITY_TITLES.get(name, name))
    if tumor is not None:
        ax = axes[0, -1]
        ax.imshow(images[names[0]], cmap="gray", vmin=0, vmax=window(names[0], images[names[0]], physical)[1])
        overlay(ax, tumor)
        ax.set_title("tumour labels")
    for ax in axes[0]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def physics_table(site: str = "A") -> pd.DataFrame:
    """Tissue properties and the resulting signal of each tissue in each contrast
    (MR columns: signal of a pure-tissue voxel, arbitrary units)."""
    tissues = physics.TISSUE_PROPERTIES
    signals = physics.signal_matrix(tissues, physics.SITES[site])
    rows = {}
    for i, name in enumerate(physics.TISSUES):
        t = tissues[name]
        rows[name] = {"T1 (ms)": t.t1_ms, "T2 (ms)": t.t2_ms, "proton density": t.pd,
                      **{f"{MODALITY_TITLES[m]}": round(float(signals[m][i]), 3) for m in physics.MR_MODALITIES},
                      "CT (HU)": t.hu, "FDG uptake": t.fdg}
    return pd.DataFrame(rows).T


def show_predictions(sources: dict[str, np.ndarray], prediction: np.ndarray, target: np.ndarray, *,
                     modality: str, rows: int | None = None, titles: tuple[str, str] = ("synthetic", "real"),
                     error_max: float | None = None):
    """Per row: source(s), prediction, target and |error| (HU for CT). Arrays: N x H x W."""
    n = rows or len(prediction)
    names = list(sources)
    modality = base_modality(modality)
    to_phys = to_hu if modality == "ct" else (lambda x: x)
    cols = len(names) + 3
    fig, axes = plt.subplots(n, cols, figsize=(2.1 * cols, 2.1 * n + 0.3), squeeze=False)
    lo, hi = WINDOWS_PHYSICAL.get(modality, (0.0, 1.0))
    err_max = error_max or (400.0 if modality == "ct" else 0.3)
    for r in range(n):
        for c, name in enumerate(names):
            axes[r, c].imshow(sources[name][r], cmap="gray", vmin=0, vmax=1)
            axes[0, c].set_title(f"input {MODALITY_TITLES.get(name, name)}")
        pred, tgt = to_phys(prediction[r]), to_phys(target[r])
        axes[r, -3].imshow(pred, cmap="gray", vmin=lo, vmax=hi)
        axes[r, -2].imshow(tgt, cmap="gray", vmin=lo, vmax=hi)
        im = axes[r, -1].imshow(np.abs(pred - tgt), cmap="magma", vmin=0, vmax=err_max)
    unit = " (HU)" if modality == "ct" else ""
    axes[0, -3].set_title(f"{titles[0]} {MODALITY_TITLES.get(modality, modality)}")
    axes[0, -2].set_title(f"{titles[1]} {MODALITY_TITLES.get(modality, modality)}")
    axes[0, -1].set_title(f"|error|{unit}")
    for ax in axes.flat:
        ax.axis("off")
    fig.colorbar(im, ax=axes[:, -1].tolist(), shrink=0.8)
    return fig


def plot_history(history, baseline: dict | None = None, axes=None):
    """Training loss and validation metrics against step; ``baseline`` draws the
    lookup table's validation values as dashed lines for comparison."""
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    else:
        fig = axes[0].figure
    for ax in axes:
        ax.clear()
    for name, values in history.losses.items():
        axes[0].plot(history.loss_steps, values, lw=0.8, label=name)
    axes[0].set_yscale("log")
    axes[0].set_title("training loss")
    axes[0].legend(fontsize=8)
    steps = [v["step"] for v in history.val]
    # Synthesis models report PSNR and SSIM; a segmenter its Dice scores (whole tumour, mean).
    shown = (("psnr", "val PSNR (dB)"), ("ssim", "val SSIM"))
    if history.val and "psnr" not in history.val[0]:
        shown = (("dice_wt", "val Dice, whole tumour"), ("dice", "val Dice, mean of regions"))
    for ax, (key, label) in zip(axes[1:], shown):
        ax.plot(steps, [v[key] for v in history.val], "o-", label="model")
        if baseline and key in baseline:
            ax.axhline(baseline[key], ls="--", color="gray", label="lookup baseline")
        ax.set_title(label)
        ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("step")
    fig.tight_layout()
    return fig


def metric_sensitivity(image: np.ndarray, mask: np.ndarray | None = None, seed: int = 0):
    """PSNR and SSIM of noisy and of blurred copies of one image, at levels chosen so
    that their PSNRs overlap and the two metrics can be compared at equal PSNR."""
    from scipy import ndimage

    from .metrics import psnr, ssim

    rng = np.random.default_rng(seed)
    rows = []
    for level in (0.05, 0.1, 0.2):
        noisy = np.clip(image + rng.normal(0, level, image.shape), 0, 1).astype(np.float32)
        rows.append(("noise", f"sigma={level}", noisy))
    for sigma in (0.4, 0.7, 1.2):
        rows.append(("blur", f"sigma={sigma}px", ndimage.gaussian_filter(image, sigma).astype(np.float32)))
    table = pd.DataFrame([{"degradation": kind, "level": level, "psnr": float(psnr(img, image, mask)[0]),
                           "ssim": float(ssim(img, image, mask)[0])} for kind, level, img in rows])
    fig, axes = plt.subplots(1, len(rows), figsize=(2.1 * len(rows), 2.6))
    for ax, (kind, level, img), (_, r) in zip(axes, rows, table.iterrows()):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{kind} {level}\nPSNR {r.psnr:.1f}  SSIM {r.ssim:.2f}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return table, fig


def bar_by_label(values: dict[str, pd.Series], ylabel: str = ""):
    """Grouped bars: one group per label (e.g. tissue), one bar per method."""
    frame = pd.DataFrame(values)
    ax = frame.plot.bar(figsize=(1.2 * len(frame) + 2, 3.2), rot=0)
    ax.set_ylabel(ylabel)
    ax.figure.tight_layout()
    return ax.figure


def edge_profiles(images: dict[str, np.ndarray], row: int | None = None, modality: str = ""):
    """Intensity along one image row for several versions of the same slice (real,
    L1-only, pix2pix, ...): blur shows as rounded steps where the real image jumps."""
    first = next(iter(images.values()))
    row = first.shape[0] // 2 if row is None else row
    fig, (ax_img, ax) = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1, 2.4]})
    ax_img.imshow(first, cmap="gray", vmin=0, vmax=1)
    ax_img.axhline(row, color="tab:orange")
    ax_img.set_title(f"row {row}")
    ax_img.axis("off")
    for name, image in images.items():
        ax.plot(image[row], label=name, lw=1.2)
    ax.set_xlabel("column (pixels)")
    ax.set_ylabel(f"{MODALITY_TITLES.get(modality, modality)} (normalised)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def forward_process(image: np.ndarray, schedulers: dict, steps, seed: int = 0):
    """The diffusion forward process: ``image`` (in [0, 1]) noised to each of ``steps``
    under each schedule (one row per schedule, the same noise everywhere), and beside
    them each schedule's signal-to-noise ratio abar_t / (1 - abar_t), log scale."""
    import torch

    steps = [int(t) for t in np.atleast_1d(steps)]
    x0 = torch.as_tensor(image, dtype=torch.float32)[None, None] * 2 - 1
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    fig, axes = plt.subplots(len(schedulers), len(steps) + 1, squeeze=False,
                             figsize=(2.2 * len(steps) + 3.4, 2.3 * len(schedulers)),
                             gridspec_kw={"width_ratios": [1] * len(steps) + [1.6]})
    for row, (name, scheduler) in zip(axes, schedulers.items()):
        abar = scheduler.alphas_cumprod.double().numpy()
        for ax, t in zip(row, steps):
            noisy = scheduler.add_noise(x0, noise, torch.tensor([t]))[0, 0].numpy()
            ax.imshow((noisy + 1) / 2, cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{name}, t = {t}", fontsize=9)
            ax.axis("off")
        snr = abar / (1 - abar)
        row[-1].semilogy(snr, color="0.3")
        row[-1].semilogy(steps, snr[steps], "o", color="tab:red")
        row[-1].set_xlabel("step t")
        row[-1].set_ylabel("SNR")
        row[-1].set_ylim(1e-5, 1e4)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- attention (chapter 04)
# A query is a token index, as attention matrices are indexed: token (row, col) of a gh x gw
# grid is row * gw + col (ResViT's ``token_at`` gives it for an image pixel).
ATTENTION_CMAP = "inferno"
QUERY_COLOR = "cyan"  # the query patch's outline (and its button in widgets.AttentionExplorer)


def _numpy(x) -> np.ndarray:
    """A torch tensor (any device) or an array-like as a float numpy array."""
    return x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=float)


def _first_image(x, ndim: int) -> np.ndarray:
    """``x`` with a leading batch axis dropped (its first image kept) if it has one."""
    x = _numpy(x)
    return x[0] if x.ndim == ndim + 1 else x


def _image_2d(image) -> np.ndarray:
    """An H x W image from H x W, 1 x H x W or 1 x 1 x H x W (numpy or torch)."""
    image = np.squeeze(_numpy(image))
    if image.ndim != 2:
        raise ValueError(f"Give one 2-D image (H x W, or 1 x 1 x H x W); got shape {np.shape(image)}.")
    return image


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


def _outline_box(ax, box: tuple[int, int, int, int], lw: float = 1.5) -> None:
    """Outline rows r0..r1-1 and columns c0..c1-1 of an image shown with imshow."""
    from matplotlib.patches import Rectangle

    r0, r1, c0, c1 = box
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, edgecolor=QUERY_COLOR, lw=lw))


def _outline_patch(ax, query: int, token_grid: tuple[int, int], patch_px: int) -> None:
    r, c = divmod(int(query), token_grid[1])
    _outline_box(ax, (r * patch_px, (r + 1) * patch_px, c * patch_px, (c + 1) * patch_px))


def _attention_overlay(ax, image: np.ndarray, values: np.ndarray, title: str) -> None:
    """The image in grey, ``values`` (image-sized) over it, scaled to their own maximum."""
    ax.imshow(image, cmap="gray")
    ax.imshow(values, cmap=ATTENTION_CMAP, alpha=0.6, vmin=0, vmax=values.max() or 1.0, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def attention_rollout_matrix(maps) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020) of ``maps`` (per layer B x heads x T x T or
    heads x T x T; torch or numpy), for the first image: a T x T numpy matrix."""
    import torch

    from .models.receptive_field import attention_rollout

    layers = [torch.as_tensor(_first_image(m, 3))[None] for m in maps]
    return attention_rollout(layers)[0].numpy()


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
    image = _image_2d(image)
    maps = [_first_image(m, 3) for m in maps]
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

    from .models.receptive_field import mean_attention_distance

    values = np.stack([_numpy(d) for d in distances]) if len(distances) else np.empty(0)
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
    image = _image_2d(image)
    row, col = pixel
    if not (0 <= row < image.shape[0] and 0 <= col < image.shape[1]):
        raise ValueError(f"pixel {pixel} is outside the {image.shape[0]} x {image.shape[1]} image.")
    n = len(fields) + 1
    fig, axes = plt.subplots(1, n, figsize=(2.7 * n + 1.0, 3.2), squeeze=False, layout="constrained")
    axes = axes[0]
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title(f"input, output pixel\n(row {row}, col {col})", fontsize=9)
    for ax, (name, field) in zip(axes[1:], fields.items()):
        field = _first_image(field, 2)
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
    image = _image_2d(image)
    _check_query(query, token_grid)
    steps = sorted(snapshots)
    fig, axes = plt.subplots(1, len(steps), figsize=(2.4 * len(steps), 2.8), squeeze=False)
    for ax, step in zip(axes[0], steps):
        rollout = _first_image(snapshots[step], 2)
        _attention_overlay(ax, image, _token_map(rollout[query], token_grid, patch_px, image.shape),
                           f"step {step}")
        _outline_patch(ax, query, token_grid, patch_px)
    fig.suptitle("Attention rollout of the outlined patch during training", fontsize=10)
    fig.tight_layout()
    return fig


def token_cost_plot(table: pd.DataFrame):
    """Step time and attention memory against the token count (from ``engine.cost.token_cost``);
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


def explain_panel(inputs: dict, output, uncertainty, *, truth=None, attribution=None, region=None,
                  shares: pd.Series | None = None, captions: dict[str, str] | None = None,
                  title: str = "", target: str = ""):
    """Chapter 05's "explain this image" picture. Top row: the inputs ({modality: H x W}), the
    synthetic ``output`` and the ``truth`` when there is one; bottom row: the absolute error
    (with a truth), the ``uncertainty`` (std), the ``attribution`` of the ``region`` (a box
    (r0, r1, c0, c1), outlined) to the first input's pixels (summed over inputs) and the
    share of each input sequence. ``captions``: plain-language text per panel, keyed
    "inputs", "output", "truth", "error", "uncertainty", "attribution"."""
    import textwrap

    captions = captions or {}
    inputs = {m: _image_2d(v) for m, v in inputs.items()}
    output, uncertainty = _image_2d(output), _image_2d(uncertainty)
    name = MODALITY_TITLES.get(target, target)
    n_top = len(inputs) + 1 + (truth is not None)
    n_cols = max(n_top, 4)
    fig, axes = plt.subplots(2, n_cols, figsize=(2.55 * n_cols, 6.4), layout="constrained", squeeze=False)
    for ax in axes.flat:
        ax.axis("off")

    def show(ax, image, heading, caption_key, **kw):
        im = ax.imshow(image, **{"cmap": "gray", "vmin": 0, "vmax": 1, **kw})
        ax.set_title(heading, fontsize=9)
        if captions.get(caption_key):
            ax.text(0.5, -0.03, textwrap.fill(captions[caption_key], 34), transform=ax.transAxes, ha="center",
                    va="top", fontsize=7.5)
        return im

    top = list(axes[0])
    for i, (m, image) in enumerate(inputs.items()):
        show(top[i], image, f"input: {MODALITY_TITLES.get(m, m)}", "inputs" if i == 0 else "")
    show(top[len(inputs)], output, f"synthetic {name}", "output")
    if truth is not None:
        truth = _image_2d(truth)
        show(top[len(inputs) + 1], truth, f"acquired {name} (truth)", "truth")
        error = np.abs(output - truth)
        im = show(axes[1, 0], error, "|synthetic − truth|", "error", cmap="inferno", vmax=max(0.25, float(error.max())))
        fig.colorbar(im, ax=axes[1, 0], shrink=0.7)
    else:
        axes[1, 0].text(0.5, 0.5, "no truth for this image:\nthe error cannot be shown", ha="center", va="center",
                        fontsize=8, transform=axes[1, 0].transAxes)
    im = show(axes[1, 1], uncertainty, "uncertainty (std)", "uncertainty", cmap="viridis",
              vmax=float(np.percentile(uncertainty, 99.5)) or 1.0)
    fig.colorbar(im, ax=axes[1, 1], shrink=0.7)
    if attribution is not None:
        values = np.abs(_numpy(attribution)).reshape(-1, *output.shape).sum(0)
        show(axes[1, 2], next(iter(inputs.values())), "attribution of the box", "attribution")
        axes[1, 2].imshow(values, cmap=ATTENTION_CMAP, alpha=0.65, vmin=0, vmax=values.max() or 1.0)
    else:
        axes[1, 2].text(0.5, 0.5, textwrap.fill(captions.get("attribution", "no attribution"), 30), ha="center",
                        va="center", fontsize=8, transform=axes[1, 2].transAxes)
    if region is not None:
        for ax in (axes[0, len(inputs)], axes[1, 2]):
            _outline_box(ax, region)
    if shares is not None:
        ax = axes[1, 3]
        ax.axis("on")
        ax.barh([MODALITY_TITLES.get(m, m) for m in shares.index], shares.values, color="tab:blue")
        ax.set_xlim(0, 1)
        ax.set_title("which input it used here", fontsize=9)
        ax.set_xlabel("share of |attribution|", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def uncertainty_maps(estimates: dict[str, dict], truth: np.ndarray, index: int):
    """One slice (``index``) through every method's eyes. Columns: the truth, then per
    method ({name: ``uncertainty.estimate_set`` result}) its synthetic image's error (one
    colour scale for all) and its uncertainty."""
    truth = _image_2d(truth[index])
    n = len(estimates)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.3 * (n + 1), 4.9), layout="constrained", squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(truth, cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title("truth", fontsize=9)
    errors = {name: np.abs(e["mean"][index] - truth) for name, e in estimates.items()}
    stds = {name: e["std"][index] for name, e in estimates.items()}
    error_max = max(float(np.percentile(np.concatenate([e.ravel() for e in errors.values()]), 99.5)), 1e-3)
    for col, name in enumerate(estimates, start=1):
        im_e = axes[0, col].imshow(errors[name], cmap="inferno", vmin=0, vmax=error_max)
        axes[0, col].set_title(f"{name}\n|error|", fontsize=8.5)
        std = stds[name]
        # Each method's std on its own scale: their ranking of pixels, not their units, is compared.
        axes[1, col].imshow(std, cmap="viridis", vmin=0, vmax=float(np.percentile(std, 99.5)) or 1.0)
        axes[1, col].set_title(f"uncertainty (std)\nmax {std.max():.3f}", fontsize=8.5)
    fig.colorbar(im_e, ax=list(axes[0, 1:]), shrink=0.8, label="|error|")
    return fig


def aleatoric_epistemic(estimate: dict, index: int, name: str = "", mask=None):
    """The two parts of one method's uncertainty on one slice, side by side with the total.
    With ``mask`` (N x H x W, e.g. the head) only its pixels are shown and averaged: outside
    the head a predicted scale was never trained against anything but air."""
    keep = np.ones_like(estimate["std"][index], bool) if mask is None else np.asarray(mask[index], bool)
    parts = {k: np.where(keep, estimate[k][index], 0.0) for k in ("aleatoric", "epistemic", "std")}
    fig, axes = plt.subplots(1, 3, figsize=(8.4, 3.0), layout="constrained")
    titles = {"aleatoric": "aleatoric (in the data)", "epistemic": "epistemic (in the model)", "std": "total"}
    vmax = float(np.percentile(parts["std"][keep], 99.5)) or 1.0
    for ax, (key, image) in zip(axes, parts.items()):
        im = ax.imshow(image, cmap="viridis", vmin=0, vmax=vmax)
        ax.set_title(f"{titles[key]}\nmean {image[keep].mean():.4f}", fontsize=9)
        ax.axis("off")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="std")
    if name:
        fig.suptitle(name, fontsize=10)
    return fig


def sparsification_plot(curves: dict[str, pd.DataFrame]):
    """Sparsification curves ({method: ``uncertainty_eval.sparsification`` table}): remove the
    most uncertain pixels first; the error of what is left should fall as fast as when the
    truly worst pixels are removed (the oracle, dashed, one per method)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
    for i, (name, curve) in enumerate(curves.items()):
        color = f"C{i}"
        ax.plot(curve["fraction_removed"], curve["by_uncertainty"], color=color, label=name)
        ax.plot(curve["fraction_removed"], curve["oracle"], color=color, ls="--", lw=0.8)
    ax.axhline(1.0, color="grey", lw=0.8, ls=":", label="random order")
    ax.set_xlabel("fraction of pixels removed (most uncertain first)")
    ax.set_ylabel("mean error of the rest / mean error")
    ax.legend(fontsize=8)
    ax.set_ylim(bottom=0)
    return fig


def calibration_plot(coverages: dict[str, pd.DataFrame]):
    """Observed against nominal coverage of the predicted intervals ({method:
    ``uncertainty_eval.interval_coverage`` table}); on the diagonal = calibrated, below it =
    over-confident (intervals too narrow)."""
    fig, ax = plt.subplots(figsize=(4.4, 4.2), layout="constrained")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":", label="calibrated")
    for name, table in coverages.items():
        ax.plot(table["nominal"], table["observed"], "o-", label=name)
    ax.set_xlabel("nominal coverage of the interval")
    ax.set_ylabel("observed: truth inside the interval")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return fig


def attribution_maps(maps: dict, image, region: tuple[int, int, int, int] | None = None, *, title: str = ""):
    """Attribution maps of one output region ({method: C x H x W or H x W}) over the input
    ``image``; |attribution| summed over input channels, each on its own scale (methods
    differ in units), the region outlined."""
    image = _image_2d(image)
    n = len(maps) + 1
    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.8), layout="constrained", squeeze=False)
    axes = axes[0]
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("input", fontsize=9)
    for ax, (name, values) in zip(axes[1:], maps.items()):
        values = np.abs(_numpy(values)).reshape(-1, *image.shape).sum(0)
        ax.imshow(image, cmap="gray")
        ax.imshow(values, cmap=ATTENTION_CMAP, alpha=0.7, vmin=0, vmax=values.max() or 1.0)
        ax.set_title(name.replace("_", " "), fontsize=9)
    for ax in axes:
        if region is not None:
            _outline_box(ax, region, lw=1.2)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def randomisation_plot(table: pd.DataFrame):
    """The cascading randomisation check (``explain.cascading_randomisation``'s table: columns
    method, stage, rank_correlation, in stage order): per method, how similar its map stays to the
    trained model's as layers are re-initialised from the output backwards. Flat near 1 =
    the map ignores the model."""
    stages = list(dict.fromkeys(table["stage"]))
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for method, rows in table.groupby("method", sort=False):
        rows = rows.set_index("stage").loc[stages]
        ax.plot(range(len(stages)), rows["rank_correlation"], "o-", label=method.replace("_", " "))
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(len(stages)), stages, rotation=20, ha="right", fontsize=8)
    ax.set_xlabel("layers re-initialised (from the output backwards)")
    ax.set_ylabel("rank correlation with the\ntrained model's map")
    ax.set_ylim(-0.2, 1.05)
    ax.legend(fontsize=8)
    return fig


def attention_vs_attribution(result: dict, image, region: tuple[int, int, int, int]):
    """``explain.attention_vs_attribution``'s two token maps over the ``image`` side by side,
    the explained ``region`` (a box r0, r1, c0, c1) outlined, their agreement in the title."""
    image = _image_2d(image)
    grid = result["attention"].shape
    patch_px = image.shape[0] // grid[0]
    fig, axes = plt.subplots(1, 2, figsize=(6.0, 3.3), layout="constrained")
    for ax, key, title in ((axes[0], "attention", "attention rollout\n(where the tokens looked)"),
                           (axes[1], "attribution", "attribution, per token\n(what moved the output)")):
        _attention_overlay(ax, image, _token_map(result[key], grid, patch_px, image.shape), title)
        _outline_box(ax, region)
    fig.suptitle(f"rank correlation {result['rank_correlation']:+.2f}; top-quarter tokens shared "
                 f"{result['top_token_agreement']:.0%} (IoU)", fontsize=9)
    return fig
