"""How every exercise check answers: one verdict line, and one convention for an answer not
given yet. A notebook's exercise cell reads

    answer_k = NOT_ANSWERED  # a number from ks
    exercises.check_catch_up(answer_k, transfer)

so running it before answering says what to do instead of failing."""
from __future__ import annotations

import functools

NOT_ANSWERED = "not answered"


def verdict(ok: bool, good: str, bad: str) -> bool:
    print(("✅ Correct. " + good) if ok else ("❌ Not yet. " + bad))
    return ok


def _unanswered(answer) -> bool:
    if isinstance(answer, dict):
        return any(_unanswered(v) for v in answer.values())
    return isinstance(answer, str) and answer == NOT_ANSWERED


def check(function):
    """Mark ``function(answer, ...)`` as an exercise check: an answer still at
    ``NOT_ANSWERED`` (or a dict with such a value) prints a reminder and returns None."""
    @functools.wraps(function)
    def checked(answer, *args, **kwargs):
        if _unanswered(answer):
            print("✏️ Not answered yet: replace NOT_ANSWERED in the cell above with your answer, then run it again.")
            return None
        return function(answer, *args, **kwargs)
    return checked
