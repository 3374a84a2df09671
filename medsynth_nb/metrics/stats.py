"""Statistics over scores: paired comparisons of two models on the same subjects, and one
rank correlation for every "does A follow B" question of the course."""
from __future__ import annotations

import numpy as np
import pandas as pd


def paired_comparison(a: pd.DataFrame, b: pd.DataFrame, columns=("psnr", "ssim", "mae")) -> pd.DataFrame:
    """Two models' per-subject tables (from ``evaluate``) compared subject by subject: mean
    difference a - b and the Wilcoxon signed-rank p-value (subjects are the samples; a test
    over slices would count one patient many times)."""
    from scipy.stats import wilcoxon

    shared = a.index.intersection(b.index)
    if len(shared) < 2:
        raise ValueError(f"Need the same subjects in both tables to pair them; they share {len(shared)}.")
    rows = {}
    for col in columns:
        diff = a.loc[shared, col] - b.loc[shared, col]
        p = wilcoxon(diff).pvalue if (diff != 0).any() else 1.0
        rows[col] = {"mean a - b": diff.mean(), "a better on": int(((diff > 0) if col != "mae" else (diff < 0)).sum()),
                     "subjects": len(shared), "wilcoxon p": p}
    return pd.DataFrame(rows).T


def rank_correlation(a, b, mask=None) -> float:
    """Spearman rank correlation of ``a`` and ``b`` (same shape, flattened), inside ``mask``:
    1 when b rises wherever a does, 0 for no relation, -1 when it falls."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"The two maps must have the same shape to be rank-correlated; got {a.shape} and {b.shape}.")
    keep = np.ones(a.shape, bool) if mask is None else np.asarray(mask, bool)
    return float(spearmanr(a[keep], b[keep]).statistic)
