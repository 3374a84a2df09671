"""Exercise checks of chapter 05 (interpretability and uncertainty)."""
from __future__ import annotations

from medsynth_nb.exercises.verdict import check, verdict


@check
def check_lowest_ause(answer: str, report) -> bool:
    """Chapter 05, exercise 1: the method (a row of ``metrics.uncertainty.uncertainty_report``)
    whose uncertainty ranks the errors best, i.e. has the lowest AUSE."""
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
