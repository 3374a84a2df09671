"""A chapter's conclusions as claims its own run checks.

A chapter's prose must not quote numbers a student's run may not reproduce. It states its
conclusions as comparisons ("the ensemble notices noise better than MC dropout") and the
run evaluates each one on the figures it just printed, so the student sees whether their
run agrees with the text:

    check_claims("What this run shows", [
        claim("the ensemble notices noise better than MC dropout (OOD AUROC)",
              auroc.loc["deep ensemble", "noise"], ">", auroc.loc["MC dropout", "noise"]),
    ])

The table is recorded like any other figure (``course.results.record``), so the reference
run's verdicts appear in ``docs/results.md`` beside its numbers.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import pandas as pd

from medsynth_nb.course.results import record

RELATIONS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "cannot tell"


@dataclass(frozen=True)
class Claim:
    text: str
    value: float
    relation: str
    reference: float

    def __post_init__(self):
        if self.relation not in RELATIONS:
            raise ValueError(f"Claim {self.text!r}: relation {self.relation!r} is not one of {', '.join(RELATIONS)}.")

    @property
    def verdict(self) -> str:
        """holds / does not hold, or cannot tell when a figure is missing (NaN: e.g. a
        score needs both classes and this run's test set had one)."""
        value, reference = float(self.value), float(self.reference)
        if math.isnan(value) or math.isnan(reference):
            return UNDECIDED
        return HOLDS if RELATIONS[self.relation](value, reference) else FAILS

    @property
    def evidence(self) -> str:
        return f"{float(self.value):.3g} {self.relation} {float(self.reference):.3g}"


def claim(text: str, value, relation: str, reference) -> Claim:
    """The claim ``text``, true when ``value relation reference`` (relation one of
    >, >=, <, <=) for this run's figures."""
    return Claim(text, float(value), relation, float(reference))


def check_claims(title: str, claims: list[Claim]) -> pd.DataFrame:
    """Evaluate ``claims`` on this run: one row per claim with its evidence and verdict,
    recorded under ``title`` and returned for display, after a line that says how many hold."""
    table = pd.DataFrame({"this run": [c.evidence for c in claims], "verdict": [c.verdict for c in claims]},
                         index=pd.Index([c.text for c in claims], name="claim"))
    held = int((table["verdict"] == HOLDS).sum())
    print(f"{held} of {len(claims)} claims of the text hold for this run."
          + ("" if held == len(claims) else " Where one does not, your run differs from the course's reference "
             "run (docs/results.md): short or interrupted training, another profile, or a changed seed."))
    return record(title, table, note="the chapter's conclusions, checked on this run")
