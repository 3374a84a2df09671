"""How faithful is a learned lesion render to the physics truth? (chapter 06)

On the phantom every label map has a true rendering (``EditCanvas.physics``), so a learned
renderer can be scored where it matters, inside the lesion, sub-region by sub-region:
- **intensity error**: mean absolute difference between learned and physics pixels inside
  each sub-region (necrosis, oedema, enhancing), per contrast;
- **bias**: the signed mean difference (a renderer that paints oedema too dark has a
  negative bias in FLAIR even where its MAE looks small);
- **appearance distance**: the 1-D Wasserstein distance between the two renders' pixel
  intensities inside a sub-region, pooled over all edits: do the lesions *look* alike as a
  population (texture and spread as well as the mean), the question a distribution
  distance such as FID asks of whole images.
Errors are in the normalised [0, 1] units of ``data.lesion_pairs`` (1 = the healthy
image's 99.5th percentile).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.stats import wasserstein_distance

from medsynth_nb.data.lesion_pairs import CONTRASTS
from medsynth_nb.data.tumor import LABELS

REGIONS = {code: name for code, name in LABELS.items() if code}

RenderFn = Callable[[object, np.ndarray], np.ndarray]  # (EditCanvas, H x W labels) -> 4 x H x W


def _pixels(render_fns: dict[str, RenderFn], canvases, edits) -> dict:
    """{renderer: {(contrast, region): [pixel arrays]}} plus the physics truth under "physics"."""
    pooled = {name: {} for name in ("physics", *render_fns)}
    for canvas_index, labels in edits:
        canvas = canvases[canvas_index]
        renders = {"physics": canvas.physics(labels)}
        renders.update({name: fn(canvas, labels) for name, fn in render_fns.items()})
        for code, region in REGIONS.items():
            inside = labels == code
            if not inside.any():
                continue
            for c, contrast in enumerate(CONTRASTS):
                for name, image in renders.items():
                    pooled[name].setdefault((contrast, region), []).append(image[c][inside])
    return pooled


def fidelity_table(render_fns: dict[str, RenderFn], canvases, edits) -> pd.DataFrame:
    """One row per (renderer, contrast, sub-region): ``mae``, ``bias`` and ``wasserstein``
    against the physics render, over ``edits`` (a list of (canvas index, labels))."""
    if not edits:
        raise ValueError("No edits to score; make some with lesions.study.random_edits(canvases, n, seed).")
    pooled = _pixels(render_fns, canvases, edits)
    rows = []
    for name in render_fns:
        for key, chunks in pooled[name].items():
            truth_chunks = pooled["physics"][key]
            diffs = np.concatenate([a - b for a, b in zip(chunks, truth_chunks)])
            rows.append({"renderer": name, "contrast": key[0], "region": key[1], "pixels": len(diffs),
                         "mae": float(np.abs(diffs).mean()), "bias": float(diffs.mean()),
                         "wasserstein": float(wasserstein_distance(np.concatenate(chunks),
                                                                   np.concatenate(truth_chunks)))})
    return pd.DataFrame(rows)


def fidelity_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per renderer and sub-region, means over the four contrasts (rows: renderers)."""
    means = table.groupby(["renderer", "region"])[["mae", "wasserstein"]].mean().unstack("region")
    means.columns = [f"{metric} {region}" for metric, region in means.columns]
    means["mae (all regions)"] = table.groupby("renderer")["mae"].mean()
    means["wasserstein (all regions)"] = table.groupby("renderer")["wasserstein"].mean()
    return means


def change_outside(render: RenderFn, canvas, before: np.ndarray, after: np.ndarray, margin_px: int) -> dict:
    """How much a render changes between two label maps, near and far from where the maps
    differ: ``near`` (max abs change within ``margin_px`` of a changed pixel) and ``far``
    (max abs change elsewhere). A controllable renderer changes near, not far."""
    changed = before != after
    if not changed.any():
        raise ValueError("The two label maps are identical; change one to see what the renderer changes.")
    near = ndimage.binary_dilation(changed, iterations=margin_px)
    difference = np.abs(render(canvas, after) - render(canvas, before)).max(0)
    return {"near": float(difference[near].max()), "far": float(difference[~near].max(initial=0.0))}
