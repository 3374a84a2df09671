"""Exercise checks of chapter 09 (evaluating synthetic images honestly)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from medsynth_nb.exercises.coding import Case, CodingExercise
from medsynth_nb.exercises.verdict import check, verdict


@check
def check_frechet_1d(answer: float, reference, sample) -> bool:
    """Chapter 09, exercise 1: the Fréchet distance of two 1-D samples, written by the
    student: (m1 - m2)^2 + (s1 - s2)^2 with their means and standard deviations (the 1-D
    case of FID's formula, tr(S1 + S2 - 2 (S1 S2)^1/2) becoming (s1 - s2)^2)."""
    from medsynth_nb.metrics.realism import frechet_distance

    reference, sample = np.asarray(reference, float), np.asarray(sample, float)
    truth = frechet_distance(reference[:, None], sample[:, None])
    ok = bool(abs(float(answer) - truth) <= 1e-3 * max(1.0, abs(truth)))
    return verdict(ok, f"{truth:.4f}: the means' distance squared plus the spreads' distance squared. A set of "
                       "images that all look alike loses on the second term even when its mean is right.",
                   "Use np.mean and np.std(..., ddof=1) of each sample: (m1 - m2)**2 + (s1 - s2)**2.")


def _course_frechet_distance(reference, features):
    # Imported when called, as this module's checks do: metrics.realism loads MONAI's metrics and
    # scikit-image (about 4 s), which the chapter's other exercises do not need.
    from medsynth_nb.metrics.realism import frechet_distance

    return frechet_distance(reference, features)


def _frechet_cases() -> list[Case]:
    rng = np.random.default_rng(9)
    reference = rng.normal(size=(40, 3))
    return [
        Case("the same set twice: nothing to tell apart, 0", {"reference": reference, "features": reference},
             expected=0.0),
        Case("the set moved by 1 along its first feature: same covariance, so only the means count, 1 (2 features)",
             {"reference": reference[:, :2], "features": reference[:, :2] + np.array([1.0, 0.0])}, expected=1.0),
        Case("two random sets of 40 x 3 features, the second shifted and stretched (seed 9)",
             {"reference": reference, "features": rng.normal(0.5, 1.5, size=(40, 3))}),
        Case("correlated random sets of 32 x 4 features (seed 9)",
             {"reference": rng.normal(size=(32, 4)) @ rng.normal(size=(4, 4)),
              "features": rng.normal(size=(32, 4)) @ rng.normal(size=(4, 4))}),
    ]


check_frechet_distance = CodingExercise(
    name="frechet_distance",
    course=_course_frechet_distance,
    where="medsynth_nb.metrics.realism.frechet_distance",
    cases=_frechet_cases,
    hint="the squared distance of the column means, plus the trace of C1 + C2 - 2 sqrtm(C1 @ C2), with C1 and C2 "
         "each set's covariance over its rows (np.cov(x, rowvar=False): features are columns, ddof=1); sqrtm may "
         "return a complex matrix, keep its real part.",
    good="FID is this distance on a network's features: the means' term sees a shift, the covariances' term a set "
         "that varies too little or too much.")


def frechet_terms(distance, scorer, sets: dict) -> pd.DataFrame:
    """For each image set of ``sets`` (name: N x H x W): ``distance`` (the student's
    frechet_distance or the course's) between ``scorer``'s reference features and the set's
    segmenter features, split into the means' term |mu_r - mu_s|^2 and the rest, the
    covariances' term."""
    rows = {}
    for name, images in sets.items():
        features = scorer.segmenter.features(images)
        total = float(distance(scorer.reference, features))
        means = float(np.sum((scorer.reference.mean(0) - features.mean(0)) ** 2))
        rows[name] = {"FD (segmenter)": total, "means' term": means, "covariances' term": total - means}
    return pd.DataFrame(rows).T


@check
def check_disagreeing_metrics(answer: dict, table, first: str, second: str) -> bool:
    """Chapter 09, exercise 2: ``{"psnr": name, "realism": name}``, which of ``first`` and
    ``second`` (rows of the leaderboard ``table``) has the higher PSNR, and which the lower
    (better) FID of the segmenter's features."""
    rows = table.loc[[first, second]]
    truth = {"psnr": str(rows["psnr"].idxmax()), "realism": str(rows["FID (segmenter)"].idxmin())}
    given = {k: str(answer.get(k, "")).strip() for k in truth}
    ok = given == truth
    disagree = truth["psnr"] != truth["realism"]
    return verdict(ok, f"PSNR prefers {truth['psnr']}, realism prefers {truth['realism']}"
                       + (": the two kinds of metric disagree, so a paper that reports one of them tells half the "
                          "story." if disagree else "."),
                   f"Read the psnr column (higher is better) and the FID (segmenter) column (lower is better) for "
                   f"{first} and {second}.")


@check
def check_trials_needed(answer: int, accuracy: float = 0.6) -> bool:
    """Chapter 09, exercise 3: the fewest trials for which a reader right on a fraction
    ``accuracy`` of them has a Wilson 95 % interval above 0.5 (``forced_choice_accuracy``)."""
    from medsynth_nb.metrics.reader_study import forced_choice_accuracy

    def excludes_guessing(n: int) -> bool:
        k = int(round(accuracy * n))
        return forced_choice_accuracy([True] * k + [False] * (n - k))["ci_low"] > 0.5

    truth = next(n for n in range(2, 10_000) if excludes_guessing(n) and all(excludes_guessing(m)
                                                                             for m in range(n, n + 20)))
    ok = int(answer) == truth
    return verdict(ok, f"{truth} trials: a reader right {accuracy:.0%} of the time needs that many before a study can "
                       "say the images are distinguishable. Small reader studies mostly cannot say anything.",
                   f"Try n = 20, 50, 100, ...: forced_choice_accuracy([True] * round({accuracy} * n) + [False] * "
                   "(n - round(...))) and look at ci_low; find the smallest n from which it stays above 0.5.")


@check
def check_least_discontinuous(answer: str, table) -> bool:
    """Chapter 09, exercise 4: the method of the volume table (``analysis.volumes``) with the
    lowest discontinuity index (the acquired scan left out)."""
    methods = table.drop(index=[m for m in table.index if "acquired" in str(m) or "truth" in str(m)])
    truth = str(methods["discontinuity_index"].idxmin())
    ok = str(answer).strip().lower() == truth.lower()
    return verdict(ok, f"{truth} (index {methods.loc[truth, 'discontinuity_index']:.2f}): it sees the neighbouring "
                       "slices, so its errors change smoothly from one slice to the next.",
                   "Read the discontinuity_index column: about 1 means errors as smooth across slices as within "
                   "them; higher means steps between slices.")
