"""Exercise checks of chapter 05 (interpretability and uncertainty)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from medsynth_nb.exercises.coding import Case, CodingExercise
from medsynth_nb.exercises.verdict import check, verdict
from medsynth_nb.metrics import uncertainty as scores


@check
def check_lowest_ause(answer: str, report) -> bool:
    """Chapter 05, exercise 1: the method (a row of ``analysis.uncertainty.error_prediction``'s
    report) whose uncertainty ranks the errors best, i.e. has the lowest AUSE; the edge-map
    baselines are no methods and do not count."""
    from medsynth_nb.analysis.uncertainty import without_baselines

    report = without_baselines(report)
    if str(answer) not in report.index:
        return verdict(False, "", f"{answer!r} is not a method in the table; the rows are {list(report.index)}.")
    best = report["ause"].idxmin()
    return verdict(str(answer) == best, f"{best} (AUSE {report.loc[best, 'ause']:.3f}): removing its most "
                                         "uncertain pixels first lowers the remaining error closest to the oracle.",
                    "Read the AUSE column (lower is better: 0 means the uncertainty orders pixels exactly "
                    "like the true error).")


@check
def check_hardest_shift(answer: str, auroc) -> bool:
    """Chapter 05, exercise 2: the shift (a column of the method x shift AUROC table) that
    the most methods detected worst (lowest AUROC in their row)."""
    if str(answer) not in auroc.columns:
        return verdict(False, "", f"{answer!r} is not a shift in the table; the columns are {list(auroc.columns)}.")
    votes = auroc.idxmin(axis=1).value_counts()
    hardest = list(votes[votes == votes.max()].index)
    return verdict(str(answer) in hardest, f"{' / '.join(hardest)}: lowest AUROC for {votes.max()} of "
                                            f"{len(auroc)} methods — an input the uncertainty barely notices.",
                    "In each row find the smallest AUROC, then count which column wins most rows.")


@check
def check_randomization_passers(answer, table, threshold: float = 0.5) -> bool:
    """Chapter 05, exercise 3: the attribution methods that pass the cascading randomisation
    check (``explain.cascading_randomisation``): rank correlation with the trained model's
    map below ``threshold`` once every layer is randomised."""
    answer = {answer} if isinstance(answer, str) else set(answer)
    final = table[table["stage"] == table["stage"].iloc[-1]].set_index("method")["rank_correlation"]
    truth = set(final[final < threshold].index)
    return verdict(answer == truth, f"{sorted(truth) or 'none'}: their maps change when the model is destroyed, "
                                     "so they show the model, not just the image.",
                    f"Look at the last stage (every layer randomised) and list the methods with rank correlation "
                    f"below {threshold}.")


def _sparsification_cases() -> list[Case]:
    rng = np.random.default_rng(5)
    # No fraction * n ends in .5, where rounding conventions differ (the random cases' are whole
    # numbers); continuous draws leave no tied uncertainty.
    error = np.abs(rng.normal(size=30))
    return [
        Case("the oracle (uncertainty = error) on errors 3, 1, 4, 2 at fractions 0, 0.5, 0.9: 1, mean(1, 2) / 2.5 = "
             "0.6, and 1 / 2.5 = 0.4 (0.9 x 4 rounds to all 4 pixels, but one stays)",
             {"uncertainty": np.array([3.0, 1.0, 4.0, 2.0]), "error": np.array([3.0, 1.0, 4.0, 2.0]),
              "fractions": np.array([0.0, 0.5, 0.9])}, expected=np.array([1.0, 0.6, 0.4])),
        Case("the worst ranking (most uncertain where the error is smallest) on errors 1, 2, 3, 4 at fractions 0 and "
             "0.4: 1 and, as 0.4 x 4 = 1.6 rounds to 2 pixels, mean(3, 4) / 2.5 = 1.4",
             {"uncertainty": np.array([4.0, 3.0, 2.0, 1.0]), "error": np.array([1.0, 2.0, 3.0, 4.0]),
              "fractions": np.array([0.0, 0.4])}, expected=np.array([1.0, 1.4])),
        Case("40 pixels, uncertainty unrelated to the error, fractions 0 to 0.95 (seed 5)",
             {"uncertainty": rng.random(40), "error": rng.random(40), "fractions": np.linspace(0, 0.95, 20)}),
        Case("30 pixels, uncertainty = error + noise, fractions 0 to 0.9 (seed 5)",
             {"uncertainty": error + 0.3 * rng.random(30), "error": error, "fractions": np.linspace(0, 0.9, 10)}),
    ]


check_sparsification_curve = CodingExercise(
    name="sparsification_curve",
    course=scores.sparsification_curve,
    cases=_sparsification_cases,
    hint="order the pixels by uncertainty, most uncertain first (np.argsort of -uncertainty); for each fraction f "
         "drop the first k = round(f * n) of them, but at most n - 1 so one pixel stays, and divide the mean error "
         "of the rest by the mean error of all n pixels. The result is a numpy array, one value per fraction.",
    good="Run on a map's own error it gives the oracle, the best curve any uncertainty can reach.")


def sparsification_by(curve, estimates: dict, slices, report: pd.DataFrame, method: str = "heteroscedastic",
                      target: str = "flair") -> pd.DataFrame:
    """``method``'s sparsification curve and its oracle over the head pixels of ``slices``, both
    by ``curve`` (the student's ``sparsification_curve`` or the course's), plotted; and the
    AUSE and AURG of these curves beside the course's ``report`` (``uncertainty.error_prediction``)."""
    from medsynth_nb import viz

    estimate = estimates[method]
    error = np.abs(estimate["mean"] - slices.images[target])
    # Inside the head, as in the course's report: air would flatter every map.
    table = scores.sparsification(estimate["std"], error, mask=slices.tissue > 0, curve=curve)
    viz.sparsification_plot({method: table})
    return pd.DataFrame({"these curves": [scores.ause(table), scores.aurg(table)],
                         "course's report": [report.loc[method, "ause"], report.loc[method, "aurg"]]},
                        index=["AUSE", "AURG"])
