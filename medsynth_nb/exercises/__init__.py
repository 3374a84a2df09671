"""Exercise checks, one module per chapter (``from medsynth_nb.exercises import chapter03 as
exercises``). Every check computes the right answer from the course's own physics and
metrics (nothing is looked up from a table of answers), prints a verdict with the reason,
and returns True or False; an answer left at ``NOT_ANSWERED`` prints what to do and
returns None."""
from medsynth_nb.exercises.verdict import NOT_ANSWERED

__all__ = ["NOT_ANSWERED", "chapter00", "chapter01", "chapter02", "chapter03", "chapter04", "chapter05", "chapter06",
           "chapter07", "chapter08", "chapter09"]
