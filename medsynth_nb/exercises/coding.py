"""Coding exercises: the student writes the idea of a chapter as a small function. The
notebook holds a stub that raises ``NotImplementedError("Student exercise: ...")``; the
check cell after it reads

    cycle_loss_used = exercises.check_cycle_loss(cycle_loss)

which runs the student's function on known inputs, compares it with the course's own
implementation and returns the function the chapter goes on with: the student's once it
is right, the course's while it is a stub or wrong (and says so), so a chapter always runs
top to bottom. Solutions live apart, in ``notebooks/solutions/`` (instructors only), and
``medsynth solutions NN`` writes a chapter with them filled in.
"""
from __future__ import annotations

import copy
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

STUB_PREFIX = "Student exercise:"  # what every stub's NotImplementedError message starts with


@dataclass(frozen=True)
class Case:
    """One known input: keyword arguments for the function, what they stand for, and the
    expected result (None: the course implementation's result on the same arguments)."""

    description: str
    arguments: dict
    expected: object = None


@dataclass(frozen=True)
class Review:
    status: str          # "stub", "wrong" or "right"
    message: str
    use: Callable        # the function the chapter goes on with

    @property
    def passed(self) -> bool:
        return self.status == "right"


def _raw(value):
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _as_array(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=float)


def _compare(got, expected, rtol: float, atol: float) -> str | None:
    """Why ``got`` differs from ``expected`` (None when they agree); dicts and tuples compare
    entry by entry, tensors and arrays by shape and then value."""
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return f"expected a dict with keys {sorted(expected)}, got {type(got).__name__}" + (
                f" with keys {sorted(got)}" if isinstance(got, dict) else "")
        for key in expected:
            if (why := _compare(got[key], expected[key], rtol, atol)) is not None:
                return f"[{key!r}]: {why}"
        return None
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected {len(expected)} values, got {got!r:.80}"
        for i, (g, e) in enumerate(zip(got, expected)):
            if (why := _compare(g, e, rtol, atol)) is not None:
                return f"value {i}: {why}"
        return None
    if np.iscomplexobj(_raw(got)) and not np.iscomplexobj(_raw(expected)):
        return "it is complex; the expected result is real (take its .real part)"
    try:
        g, e = _as_array(got), _as_array(expected)
    except (TypeError, ValueError):
        return f"expected a number or an array, got {type(got).__name__}"
    if g.shape != e.shape:
        # A scalar tensor and a 1-element one differ in shape but not in meaning.
        if g.size == e.size == 1:
            g, e = g.reshape(()), e.reshape(())
        else:
            return f"shape {tuple(g.shape)}, expected {tuple(e.shape)}"
    if not np.all(np.isfinite(g)):
        return "it contains NaN or Inf"
    if np.allclose(g, e, rtol=rtol, atol=atol):
        return None
    if e.size == 1:
        return f"got {float(g):.6g}, expected {float(e):.6g}"
    worst = np.unravel_index(np.argmax(np.abs(g - e)), e.shape)
    return f"largest difference {float(np.abs(g - e).max()):.3g} at index {tuple(int(i) for i in worst)}"


@dataclass(frozen=True)
class CodingExercise:
    """A coding exercise: the function ``name`` the student writes, the course
    implementation that takes over (``course``, found at ``where``: by default the module and
    name of ``course``; give it when ``course`` wraps another function), known inputs
    (``cases``, built fresh and seeded on every check) and a ``hint`` shown when an answer
    differs. Calling it with the student's function prints the verdict and returns the
    function to use."""

    name: str
    course: Callable
    cases: Callable[[], list[Case]]
    hint: str
    good: str = ""   # what a right answer shows, said after "Correct."
    where: str = ""
    rtol: float = 1e-4
    atol: float = 1e-5

    def review(self, student) -> Review:
        where = self.where or f"{self.course.__module__}.{self.course.__qualname__}"
        takes_over = f"The course's own implementation (`{where}`) is used below, so the chapter runs on."
        if not callable(student):
            return Review("wrong", f"❌ Pass the function itself, `{self.name}`, not its result "
                                   f"(got a {type(student).__name__}). " + takes_over, self.course)
        cases = self.cases()
        for case in cases:
            # The student's function gets its own copy: one that changes its input in place (a sort,
            # a +=) must not change what the course computes from the same case.
            arguments = copy.deepcopy(case.arguments)
            try:
                got = student(**arguments)
            except NotImplementedError as error:
                if str(error).startswith(STUB_PREFIX):
                    return Review("stub", f"✏️ Not written yet: `{self.name}` still raises NotImplementedError. "
                                          f"{takes_over} Write your version in the cell above, then run both "
                                          "cells again.", self.course)
                raise
            except Exception as error:  # the student's code failed: say where, keep the chapter running
                frame = traceback.extract_tb(error.__traceback__)[-1]
                line = f"line {frame.lineno}" + (f": `{frame.line.strip()}`" if frame.line else "")
                return Review("wrong", f"❌ Not yet. On {case.description}, `{self.name}` raised "
                                       f"{type(error).__name__}: {error} ({line}). Hint: {self.hint} {takes_over}",
                              self.course)
            expected = case.expected if case.expected is not None else self.course(**case.arguments)
            why = _compare(got, expected, self.rtol, self.atol)
            if why is not None:
                return Review("wrong", f"❌ Not yet. On {case.description}: {why}. Hint: {self.hint} "
                                       f"{takes_over}", self.course)
        return Review("right", f"✅ Correct. `{self.name}` agrees with the course on {len(cases)} known "
                               f"inputs and is used below. {self.good}".rstrip(), student)

    def __call__(self, student) -> Callable:
        review = self.review(student)
        print(review.message)
        return review.use
