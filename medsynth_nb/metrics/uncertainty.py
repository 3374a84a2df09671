"""Does the uncertainty predict the error? Scores for per-pixel uncertainty maps (chapter 05).

A synthesis model's uncertainty map is useful only if it tells us where, and on which
images, the synthetic image is wrong. Each function asks that from another angle:

- ``sparsification`` (one curve: ``sparsification_curve``) / ``ause`` / ``aurg``: remove
  the most uncertain pixels first; if the uncertainty ranks the error well, the error of
  what is left falls almost as fast as when the truly worst pixels are removed (the
  oracle). AUSE is the area between the two curves (0 = perfect ranking), AURG the gain
  over removing pixels at random (Ilg et al., ECCV 2018, "Uncertainty estimates and
  multi-hypotheses networks for optical flow").
- ``interval_coverage`` / ``calibration_error``: is the *size* right? A predicted scale is
  calibrated when the 90 % interval holds 90 % of the targets (Kuleshov et al., ICML 2018).
  Ranking and calibration are different: a map can rank perfectly and be ten times too small.
- ``ood_auroc``: does an image-level score (e.g. mean uncertainty) flag corrupted or
  unusual inputs (see ``medsynth_nb.data.corruptions``)?
- ``per_subject`` / ``subject_rank_correlation``: does it rank *subjects* by their error,
  the question a reader of a synthetic scan cares about?
- ``uncertainty_report``: all of it for several methods, one row each.
- ``edge_magnitude``: the floor every method must clear. A prediction's own edge map
  (gradient magnitude) costs nothing and already ranks errors, because every synthesiser
  errs most at edges; an uncertainty method is worth its cost only where it beats it.

Maps, errors and masks are N x H x W (numpy arrays or torch tensors); scores are over the
pixels inside the mask (outside the head, air would make every map look good).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from medsynth_nb.metrics.stats import rank_correlation

DEFAULT_FRACTIONS = np.linspace(0, 0.98, 50)
DISTRIBUTIONS = ("laplace", "gaussian")


def _as_array(x, dtype=float) -> np.ndarray:
    """A numpy copy of an array or a torch tensor (on any device, with or without grad)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x, dtype=dtype)


def _same_shape(mask, **named) -> tuple[list[np.ndarray], np.ndarray]:
    """The arrays in ``named`` as numpy arrays, and the mask (all True when None), after
    checking that all of them have the same shape."""
    arrays = {name: _as_array(x) for name, x in named.items()}
    shape = next(iter(arrays.values())).shape
    if mask is not None:
        arrays["mask"] = _as_array(mask, bool)
    if len({a.shape for a in arrays.values()}) > 1:
        listed = ", ".join(f"{name} {a.shape}" for name, a in arrays.items())
        raise ValueError(f"Shapes differ ({listed}); pass maps, error and mask of the same shape, e.g. N x H x W.")
    keep = arrays.pop("mask") if mask is not None else np.ones(shape, bool)
    if not keep.any():
        raise ValueError("The mask selects no pixel; pass a mask with at least one True pixel (or mask=None).")
    return list(arrays.values()), keep


def edge_magnitude(prediction) -> np.ndarray:
    """The trivial uncertainty map of a prediction (N x H x W or H x W): its in-plane
    gradient magnitude (Sobel, per slice). A baseline row for every uncertainty table."""
    image = _as_array(prediction)
    return np.hypot(ndimage.sobel(image, axis=-1), ndimage.sobel(image, axis=-2)) / 8.0


def sparsification_curve(uncertainty: np.ndarray, error: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """One sparsification curve: for each of ``fractions``, the mean error of the pixels left
    after removing that fraction of them, most uncertain first (round(fraction * n) pixels,
    keeping at least one), divided by the mean error of all pixels. 1-D arrays of the n
    pixels in; one value per fraction out. ``uncertainty=error`` gives the oracle.

    Pixels with the same ``uncertainty`` are removed together as far as the fraction
    allows, each counting with the mean error of its tie group: the expected curve over
    all orders of breaking the tie. (Breaking ties by pixel order or by the error would
    score a map by something it does not say: a constant map would follow the raster
    order, or the oracle.)
    """
    _, group, counts = np.unique(uncertainty, return_inverse=True, return_counts=True)
    tied_error = (np.bincount(group, weights=error) / counts)[group]
    order = np.argsort(-uncertainty, kind="stable")
    remaining_sum = np.cumsum(tied_error[order][::-1])[::-1]  # [k] = error summed over all but the top k
    n = len(error)
    removed = np.minimum(np.rint(fractions * n).astype(int), n - 1)  # keep at least one pixel
    return (remaining_sum[removed] / (n - removed)) / (remaining_sum[0] / n)


def sparsification(uncertainty, error, mask=None, fractions=None, curve=sparsification_curve) -> pd.DataFrame:
    """Sparsification curves: remove ``fraction_removed`` of the pixels, most uncertain
    first (``by_uncertainty``) or truly worst first (``oracle``), and report the mean
    error of the rest relative to the mean error of all pixels (so curves start at 1).
    ``random`` is what removing pixels at random gives on average: a flat line at 1.

    The oracle is the best any ranking can do; the closer ``by_uncertainty`` follows it,
    the better the map ranks the error. Only the order of the uncertainty matters, not
    its size (see ``interval_coverage`` for that). Ties in the uncertainty are broken by
    neither pixel order nor error (see ``sparsification_curve``). ``curve`` computes each
    curve (chapter 05's coding exercise passes the student's own).
    """
    fractions = DEFAULT_FRACTIONS if fractions is None else np.asarray(fractions, dtype=float)
    if fractions.ndim != 1 or np.any(fractions < 0) or np.any(fractions >= 1):
        raise ValueError(f"fractions must be a 1-D list of values in [0, 1), got {fractions}; "
                         "e.g. np.linspace(0, 0.98, 50).")
    (uncertainty, error), keep = _same_shape(mask, uncertainty=uncertainty, error=error)
    uncertainty, error = uncertainty[keep], error[keep]
    if not error.any():
        raise ValueError("The error is zero at every pixel inside the mask; there is nothing to rank.")
    return pd.DataFrame({"fraction_removed": fractions,
                         "by_uncertainty": np.asarray(curve(uncertainty, error, fractions), dtype=float),
                         "oracle": np.asarray(curve(error, error, fractions), dtype=float),
                         "random": np.ones_like(fractions)})


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    integrate = getattr(np, "trapezoid", None) or np.trapz  # trapz was renamed in numpy 2.0
    return float(integrate(y, x))


def ause(curve: pd.DataFrame) -> float:
    """Area Under the Sparsification Error: area between ``by_uncertainty`` and ``oracle``
    in a ``sparsification`` table. 0 = the uncertainty ranks the error as well as the
    error itself; lower is better."""
    return _trapezoid(curve["by_uncertainty"] - curve["oracle"], curve["fraction_removed"])


def aurg(curve: pd.DataFrame) -> float:
    """Area Under the Random Gain: area between ``random`` and ``by_uncertainty``. Above 0
    the map helps; 0 = no better than discarding pixels at random; below 0 = misleading."""
    return _trapezoid(curve["random"] - curve["by_uncertainty"], curve["fraction_removed"])


def _unit_quantile(levels: np.ndarray, distribution: str) -> np.ndarray:
    """Half-width, in units of the predicted scale, of the central interval holding
    ``levels`` of a zero-mean distribution with unit scale."""
    if distribution == "laplace":  # scale b: P(|x| <= q b) = 1 - exp(-q)
        return -np.log1p(-levels)
    from scipy.stats import norm

    return norm.ppf((1 + levels) / 2)  # sigma


def interval_coverage(mean, scale, target, levels=(0.5, 0.8, 0.9, 0.95), distribution: str = "laplace",
                      mask=None) -> pd.DataFrame:
    """For each nominal level, the fraction of target pixels inside the central interval
    ``mean ± q * scale`` (``observed``) and the interval's mean width (``mean_width``).

    ``scale`` is the Laplace scale b (what a model trained with a Laplace likelihood, the
    probabilistic L1, predicts) for ``distribution="laplace"``, or the standard deviation
    (Gaussian likelihood, sample spread) for ``"gaussian"``. Calibrated: observed ≈ nominal;
    observed below nominal: over-confident (intervals too narrow), above: too cautious.
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution={distribution!r} is not known; use 'laplace' (scale = b) "
                         "or 'gaussian' (scale = standard deviation).")
    levels = np.asarray(levels, dtype=float)
    if levels.ndim != 1 or np.any(levels <= 0) or np.any(levels >= 1):
        raise ValueError(f"levels must be a 1-D list of probabilities in (0, 1), got {levels}; e.g. (0.5, 0.9).")
    (mean, scale, target), keep = _same_shape(mask, mean=mean, scale=scale, target=target)
    mean, scale, target = mean[keep], scale[keep], target[keep]
    if np.any(scale < 0):
        raise ValueError("scale has negative values; it must be a standard deviation or Laplace b (>= 0).")
    distance = np.abs(target - mean)
    half_widths = _unit_quantile(levels, distribution)[:, None] * scale[None]
    return pd.DataFrame({"nominal": levels, "observed": (distance[None] <= half_widths).mean(1),
                         "mean_width": 2 * half_widths.mean(1)})


def calibration_error(coverage_table: pd.DataFrame) -> float:
    """Mean |observed - nominal| over the levels of an ``interval_coverage`` table
    (0 = calibrated at every level)."""
    return float((coverage_table["observed"] - coverage_table["nominal"]).abs().mean())


def ood_auroc(scores_in, scores_out) -> float:
    """Area under the ROC curve for telling out-of-distribution inputs (positives) from
    in-distribution ones by a score, higher meaning "more likely OOD": the probability
    that a random OOD input scores above a random in-distribution one, ties counting
    half (the Mann-Whitney U statistic / (n_in * n_out)). 1 = perfect, 0.5 = chance."""
    from scipy.stats import rankdata

    scores_in, scores_out = _as_array(scores_in).ravel(), _as_array(scores_out).ravel()
    if len(scores_in) == 0 or len(scores_out) == 0:
        raise ValueError(f"Need scores for both groups; got {len(scores_in)} in-distribution and "
                         f"{len(scores_out)} out-of-distribution.")
    if not (np.isfinite(scores_in).all() and np.isfinite(scores_out).all()):
        raise ValueError("Scores contain NaN or infinity; compute them from finite uncertainty maps.")
    ranks = rankdata(np.concatenate([scores_out, scores_in]))  # ties get their average rank
    n_out, n_in = len(scores_out), len(scores_in)
    u_out = ranks[:n_out].sum() - n_out * (n_out + 1) / 2
    return float(u_out / (n_out * n_in))


def per_subject(uncertainty, error, subject_ids, mask=None) -> pd.DataFrame:
    """Per subject: mean ``uncertainty`` and mean ``error`` over its pixels inside the
    mask, and ``n_pixels``. Subjects, not slices, are the independent samples (a
    subject's slices share its anatomy and its errors)."""
    (uncertainty, error), keep = _same_shape(mask, uncertainty=uncertainty, error=error)
    subject_ids = np.asarray(subject_ids)
    if subject_ids.shape != error.shape[:1]:
        raise ValueError(f"subject_ids {subject_ids.shape} must hold one id per slice of error {error.shape}.")
    per_slice = pd.DataFrame({"subject": subject_ids,
                              "uncertainty": (uncertainty * keep).reshape(len(keep), -1).sum(1),
                              "error": (error * keep).reshape(len(keep), -1).sum(1),
                              "n_pixels": keep.reshape(len(keep), -1).sum(1)})
    table = per_slice.groupby("subject").sum()
    table[["uncertainty", "error"]] = table[["uncertainty", "error"]].div(table["n_pixels"], axis=0)
    return table


def subject_rank_correlation(table: pd.DataFrame) -> float:
    """Spearman correlation across subjects between mean uncertainty and mean error in a
    ``per_subject`` table: does the map point at the subjects worst synthesised? NaN for
    fewer than three subjects with pixels (two points are always perfectly ranked)."""
    used = table[table["n_pixels"] > 0]
    if len(used) < 3:
        return float("nan")
    return rank_correlation(used["uncertainty"], used["error"])


def uncertainty_report(maps: dict, error, mask=None, *, ood: dict | None = None,
                       cost: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per uncertainty method: ``rank_corr`` (pixel-wise Spearman with the error,
    ``metrics.rank_correlation``), ``ause`` and ``aurg``; with ``ood`` ({method:
    (scores_in, scores_out)}) also ``ood_auroc``, with ``cost`` ({method: text}, e.g.
    "10 forward passes") a ``cost`` column. Methods missing from ``ood`` get NaN there.
    ``error``: one error map for all methods, or {method: error} when each method makes its
    own prediction (its uncertainty should predict *its* error)."""
    for name, given in (("ood", ood), ("cost", cost)):
        unknown = sorted(set(given or ()) - set(maps))
        if unknown:
            raise ValueError(f"{name} names methods {unknown} that are not in maps ({sorted(maps)}).")
    if isinstance(error, dict):
        missing = sorted(set(maps) - set(error))
        if missing:
            raise ValueError(f"error has no map for methods {missing}; give one per method in maps.")
    rows = {}
    for method, uncertainty in maps.items():
        error_of = _as_array(error[method] if isinstance(error, dict) else error)
        curve = sparsification(uncertainty, error_of, mask)  # checks the shapes first
        rows[method] = {"rank_corr": rank_correlation(_as_array(uncertainty), error_of,
                                                          None if mask is None else _as_array(mask, bool)),
                        "ause": ause(curve), "aurg": aurg(curve)}
        if ood is not None:
            rows[method]["ood_auroc"] = ood_auroc(*ood[method]) if method in ood else float("nan")
        if cost is not None:
            rows[method]["cost"] = cost.get(method, "")
    return pd.DataFrame.from_dict(rows, orient="index")


def region_ratio(values, region, mask) -> float:
    """Mean of ``values`` over the pixels of ``region`` divided by its mean over the rest of
    ``mask`` (N x H x W each): e.g. how much more uncertain a model is on tumour pixels than
    on the rest of the head. 1 = no difference. Pixel-level, where an image-level mean
    (``ood_auroc`` of ``head_means``) dilutes a small lesion in the whole head."""
    (values,), keep = _same_shape(mask, values=values)
    region = _as_array(region, bool)
    if region.shape != values.shape:
        raise ValueError(f"region {region.shape} must have the shape of values {values.shape}.")
    inside, outside = keep & region, keep & ~region
    if not inside.any() or not outside.any():
        raise ValueError(f"The region holds {int(inside.sum())} of the {int(keep.sum())} pixels in the mask; "
                         "it needs some inside and some outside (no tumour in these slices?).")
    return float(values[inside].mean() / values[outside].mean())
