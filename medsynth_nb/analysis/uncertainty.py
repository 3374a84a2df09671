"""Uncertainty of a synthetic image: five ways to get a per-pixel error bar (chapter 05).

Every method turns one source batch into an ``Estimate``: the synthetic image (a mean) and
a standard deviation per pixel, split into aleatoric (noise in the data: more training
would not remove it) and epistemic (the model's ignorance: more data would) where the
method gives that split.

- ``MCDropout``: dropout left on at test time; the spread over passes approximates the
  posterior over weights (Gal & Ghahramani, ICML 2016). Epistemic.
- ``DeepEnsemble``: networks trained from different seeds (Lakshminarayanan et al., NeurIPS
  2017). Epistemic; costs one training run per member.
- ``TestTimeAugmentation``: the same network on flipped and shifted copies, mapped back
  (Wang et al., Neurocomputing 2019). Measures sensitivity to nuisance transforms.
- ``DiffusionSpread``: several samples of a conditional diffusion model (chapter 03); the
  spread of plausible targets for this source.
- ``Heteroscedastic``: a network that predicts a Laplace scale per pixel (aleatoric,
  ``models.heteroscedastic``), with MC dropout on top for the epistemic part (Kendall & Gal,
  NeurIPS 2017).

Each method states its cost (forward passes per image, training runs) and, where one exists,
the differentiable model whose attributions explain its output (``method.model``).

``estimate_set`` runs a method over a set of slices and ``error_prediction`` scores the
results against the truth, each method beside its floor (``with_edge_baseline``: the edge map
of the prediction it scores, which ranks errors for nothing); ``Shift``, ``shift_scores``, ``group_scores`` and
``ood_auroc_table`` ask whether the uncertainty rises on inputs unlike the training data.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from medsynth_nb.data.slices import SliceSet
from medsynth_nb.metrics.uncertainty import edge_magnitude, uncertainty_report
from medsynth_nb.tasks import Task, parse_task

EDGE_BASELINE = "edge magnitude (baseline)"


@dataclass
class Estimate:
    """Per-pixel result of an uncertainty method, each ``B x 1 x H x W``; ``std`` is the
    total predictive standard deviation (aleatoric and epistemic added in variance)."""

    mean: torch.Tensor
    std: torch.Tensor
    aleatoric: torch.Tensor | None = None
    epistemic: torch.Tensor | None = None


def _spread(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (population) standard deviation over the first axis."""
    return samples.mean(0), samples.std(0, correction=0)


@contextlib.contextmanager
def _dropout_active(model: torch.nn.Module):
    """Eval mode everywhere (instance norm uses its test-time behaviour) except the dropout
    layers, which keep dropping: that is what makes each pass a different network."""
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0]
    if not dropouts:
        raise ValueError(f"{type(model).__name__} has no dropout layer with p > 0, so MC dropout would return "
                         "identical passes. Build it with dropout, e.g. build_model('unet', task, profile, dropout=0.1).")
    was_training = model.training
    model.eval()
    for m in dropouts:
        m.train()
    try:
        yield
    finally:
        model.train(was_training)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _dropout_passes(model: torch.nn.Module, forward: Callable, source: torch.Tensor, n_passes: int,
                    seed: int) -> list:
    """``forward(source)`` ``n_passes`` times with dropout on: one output per pass."""
    source = source.to(_device(model))
    # The dropout masks come from torch's global generator: fork it so that a seed gives
    # the same masks without disturbing the caller's random stream.
    with _dropout_active(model), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [forward(source) for _ in range(n_passes)]


class UncertaintyMethod:
    """Base: ``method(source, seed=0) -> Estimate``; ``passes`` and ``training_runs`` are its
    cost; ``model`` is what attributions explain (None if the output is not one network's
    forward pass); ``gives_split``: whether aleatoric and epistemic parts are separate."""

    name = "method"
    passes = 1
    training_runs = 1
    gives_split = False
    model: torch.nn.Module | None = None

    def __call__(self, source: torch.Tensor, seed: int = 0) -> Estimate:
        raise NotImplementedError

    def cost(self) -> str:
        runs = f"{self.training_runs} training run{'s' if self.training_runs > 1 else ''}"
        return f"{self.passes} forward pass{'es' if self.passes > 1 else ''} per image, {runs}"


class MCDropout(UncertaintyMethod):
    name = "MC dropout"

    def __init__(self, model: torch.nn.Module, n_samples: int = 16):
        self.model, self.passes = model, n_samples

    @torch.no_grad()
    def __call__(self, source, seed=0):
        outputs = _dropout_passes(self.model, self.model, source, self.passes, seed)
        mean, std = _spread(torch.stack([y.clamp(0, 1) for y in outputs]))
        return Estimate(mean, std, epistemic=std)


class EnsembleMean(torch.nn.Module):
    """The ensemble's prediction as one differentiable module (for attributions)."""

    def __init__(self, members):
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, source):
        return torch.stack([m(source) for m in self.members]).mean(0)


class DeepEnsemble(UncertaintyMethod):
    name = "deep ensemble"

    def __init__(self, members):
        if len(members) < 2:
            raise ValueError(f"An ensemble needs at least 2 members (trained from different seeds); got {len(members)}.")
        self.members = list(members)
        self.model = EnsembleMean(self.members)
        self.passes = self.training_runs = len(self.members)

    @torch.no_grad()
    def __call__(self, source, seed=0):
        source = source.to(_device(self.model))
        mean, std = _spread(torch.stack([m.predict(source) for m in self.members]))
        return Estimate(mean, std, epistemic=std)


# Transforms the head tolerates: a left-right flip (the head is nearly symmetric) and shifts
# of a few pixels (the background margin makes the wrap-around of torch.roll harmless).
# Up-down flips would show the network heads it never saw.
TTA_SHIFTS = ((0, 0), (2, 0), (0, 2), (-2, -2))


class TestTimeAugmentation(UncertaintyMethod):
    name = "test-time augmentation"
    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, model: torch.nn.Module, shifts=TTA_SHIFTS, flip: bool = True):
        self.model, self.shifts, self.flips = model, tuple(shifts), (False, True) if flip else (False,)
        self.passes = len(self.shifts) * len(self.flips)

    @torch.no_grad()
    def __call__(self, source, seed=0):
        source = source.to(_device(self.model))
        outputs = []
        for flip in self.flips:
            for dy, dx in self.shifts:
                x = source.flip(-1) if flip else source
                y = self.model.predict(x.roll((dy, dx), dims=(-2, -1))).roll((-dy, -dx), dims=(-2, -1))
                outputs.append(y.flip(-1) if flip else y)
        mean, std = _spread(torch.stack(outputs))
        return Estimate(mean, std)


class DiffusionSpread(UncertaintyMethod):
    name = "diffusion samples"

    def __init__(self, model, n_samples: int = 8, steps: int | None = None):
        self.diffusion, self.n_samples, self.steps = model, n_samples, steps
        self.passes = n_samples * (steps or model.config["sample_steps"])  # one network call per DDIM step
        self.model = None  # a sample is many network calls from random noise: no single forward to attribute

    def cost(self) -> str:
        steps = self.steps or self.diffusion.config["sample_steps"]
        return f"{self.n_samples} samples x {steps} DDIM steps per image, 1 training run"

    @torch.no_grad()
    def __call__(self, source, seed=0):
        samples = self.diffusion.sample_many(source, self.n_samples, seed=seed, steps=self.steps)
        mean, std = _spread(samples)
        return Estimate(mean, std)


class Heteroscedastic(UncertaintyMethod):
    name = "heteroscedastic + MC dropout"
    gives_split = True

    def __init__(self, model, n_samples: int = 16):
        self.model, self.passes = model, n_samples

    @torch.no_grad()
    def __call__(self, source, seed=0):
        passes = _dropout_passes(self.model, self.model.mean_and_log_scale, source, self.passes, seed)
        means = torch.stack([m.clamp(0, 1) for m, _ in passes])
        # A Laplace distribution of scale b has variance 2 b^2.
        aleatoric = (2 * torch.stack([s.exp() for _, s in passes]) ** 2).mean(0).sqrt()
        mean, epistemic = _spread(means)
        return Estimate(mean, (aleatoric**2 + epistemic**2).sqrt(), aleatoric=aleatoric, epistemic=epistemic)


def estimate_set(method: UncertaintyMethod, slices: SliceSet, task: str | Task, *, source_fn=None,
                 batch_size: int = 16, seed: int = 0, progress: bool = True) -> dict[str, np.ndarray]:
    """Run ``method`` over every slice of ``slices``: {"mean", "std", "aleatoric",
    "epistemic" (where given), "seconds"}, images N x H x W. ``source_fn`` alters the source
    first (an artefact, for the out-of-distribution test)."""
    task = parse_task(task)
    parts: dict[str, list] = {}
    start = time.perf_counter()
    for first in tqdm(range(0, len(slices), batch_size), desc=method.name, disable=not progress, leave=False):
        source = slices.batch(task, np.arange(first, min(first + batch_size, len(slices))))["source"]
        if source_fn is not None:
            source = source_fn(source)
        estimate = method(source, seed=seed)
        for key in ("mean", "std", "aleatoric", "epistemic"):
            value = getattr(estimate, key)
            if value is not None:
                parts.setdefault(key, []).append(value[:, 0].float().cpu().numpy())
    result = {key: np.concatenate(v) for key, v in parts.items()}
    result["seconds"] = time.perf_counter() - start
    return result


def cost_table(methods, seconds: dict[str, float], n_images: int) -> pd.DataFrame:
    """Per method: what it costs (passes, training runs) and the measured time per image."""
    return pd.DataFrame([{"method": m.name, "cost": m.cost(), "training runs": m.training_runs,
                          "forward passes per image": m.passes, "s per image": seconds[m.name] / n_images}
                         for m in methods]).set_index("method")


def save_estimate(result: dict, out_dir, stem: str, *, provenance: dict | None = None,
                  overwrite: bool = False) -> list:
    """Write an ``estimate_set`` result as NIfTI volumes ``<stem>_<map>.nii.gz`` (mean, std
    and the aleatoric / epistemic parts where present), each stamped SYNTHETIC with its
    provenance; for slices of one subject, in slice order."""
    from pathlib import Path

    from medsynth_nb.io import save_slices

    meaning = {"mean": "synthetic image (mean of the method's predictions)",
               "std": "total predictive standard deviation (uncertainty)",
               "aleatoric": "aleatoric part of the standard deviation (noise in the data)",
               "epistemic": "epistemic part of the standard deviation (the model's ignorance)"}
    return [save_slices(Path(out_dir) / f"{stem}_{key}.nii.gz", result[key],
                        provenance={**(provenance or {}), "image": text}, overwrite=overwrite)
            for key, text in meaning.items() if key in result]


def head_means(maps: np.ndarray, slices: SliceSet) -> np.ndarray:
    """Per slice, the mean of ``maps`` (N x H x W, e.g. an ``estimate_set`` result's "std")
    inside the head (tissue label > 0): one image-level uncertainty score per slice."""
    head = slices.tissue > 0
    if maps.shape != head.shape:
        raise ValueError(f"maps {maps.shape} do not match the {len(slices)} slices of {head.shape[1:]} given.")
    return (maps * head).reshape(len(head), -1).sum(1) / head.reshape(len(head), -1).sum(1)


@dataclass(frozen=True)
class Shift:
    """An out-of-distribution test: ``slices`` read with ``task`` (whose sources must line up
    with the methods' inputs: e.g. ``"t1@B,t2@B:flair"`` for another site), the source
    altered by ``source_fn`` if given (an artefact from ``data.corruptions``)."""

    name: str
    slices: SliceSet
    task: str | Task
    source_fn: Callable | None = None


def shift_scores(methods: dict[str, UncertaintyMethod], shifts: list[Shift], *, seed: int = 0,
                 progress: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """Each method's image-level uncertainty (``head_means`` of its "std") on each shift's
    slices: {method: {shift name: one score per slice}}, the input of ``ood_auroc_table``."""
    names = [s.name for s in shifts]
    if len(set(names)) != len(names):
        raise ValueError(f"Give every shift its own name; got {names}.")
    return {label: {test.name: head_means(estimate_set(method, test.slices, test.task, source_fn=test.source_fn,
                                                       seed=seed, progress=progress)["std"], test.slices)
                    for test in shifts}
            for label, method in methods.items()}


def ood_auroc_table(scores: dict[str, dict[str, np.ndarray]], reference: str = "reference") -> pd.DataFrame:
    """Does the uncertainty rise out of distribution? ``scores``: {method: {test name:
    per-slice scores}} (``shift_scores``, or ``head_means`` of results already computed),
    one test named ``reference`` (in distribution). For each method (rows) and other test
    (columns): the AUROC of telling that test's slices from the reference ones by the
    score. 1 = every shifted image more uncertain than every reference one; 0.5 = the
    uncertainty does not notice; below 0.5 = it is *more* confident on unfamiliar input."""
    from medsynth_nb.metrics.uncertainty import ood_auroc

    missing = sorted(label for label, tests in scores.items() if reference not in tests)
    if missing:
        raise ValueError(f"Methods {missing} have no {reference!r} scores: add the in-distribution slices' scores "
                         "under that name (or pass reference=the name you used).")
    table = pd.DataFrame({label: {name: ood_auroc(tests[reference], values) for name, values in tests.items()
                                  if name != reference} for label, tests in scores.items()}).T
    table.index.name, table.columns.name = "method", "shift"
    return table


def group_scores(estimates: dict[str, dict], slices: SliceSet, groups: dict[str, np.ndarray]) -> dict:
    """Image-level scores (``head_means`` of "std") of results already computed on ``slices``,
    split into ``groups`` ({name: boolean per slice}, e.g. with and without a tumour):
    {method: {group: scores}}, to merge with ``shift_scores`` for ``ood_auroc_table``."""
    per_slice = {name: head_means(e["std"], slices) for name, e in estimates.items()}
    return {name: {group: scores[np.asarray(chosen, bool)] for group, chosen in groups.items()}
            for name, scores in per_slice.items()}


def baseline_of(method: str) -> str:
    """The name of the baseline row of ``method``'s own prediction."""
    return f"{EDGE_BASELINE} of {method}"


def without_baselines(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a report that are uncertainty methods, its edge-map baselines left out."""
    return table.loc[[name for name in table.index if not str(name).startswith(EDGE_BASELINE)]]


def with_edge_baseline(maps: dict, predictions) -> dict:
    """``maps`` ({method: uncertainty map}) with the floor every map must clear added: the edge
    magnitude (``metrics.uncertainty.edge_magnitude``) of the prediction whose error it ranks.
    Every synthesiser errs most at edges, so its own edge map ranks its errors for nothing; an
    uncertainty method earns its cost only where it does better. ``predictions``: the one
    N x H x W prediction all the maps are about (one entry ``EDGE_BASELINE``), or {method: its
    own prediction} (an entry ``baseline_of(method)`` after each method's)."""
    if not isinstance(predictions, dict):
        return {**maps, EDGE_BASELINE: edge_magnitude(predictions)}
    return {name: value for method, uncertainty_map in maps.items()
            for name, value in ((method, uncertainty_map), (baseline_of(method), edge_magnitude(predictions[method])))}


def report_with_baseline(maps: dict, prediction, error, mask=None) -> pd.DataFrame:
    """``metrics.uncertainty.uncertainty_report`` of ``maps``, all about one ``prediction``
    whose ``error`` they should rank, with the row ``EDGE_BASELINE`` (its edge map) below them."""
    return uncertainty_report(with_edge_baseline(maps, prediction), error, mask)


@dataclass
class ErrorPrediction:
    """``error_prediction``'s answer: ``report`` (one row per method, each followed by its
    edge-map baseline), and per method the
    ``coverage`` table (``metrics.uncertainty.interval_coverage``) and the sparsification
    ``curves`` (``metrics.uncertainty.sparsification``) behind it, for the plots."""

    report: pd.DataFrame
    coverage: dict[str, pd.DataFrame] = field(default_factory=dict)
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)


def error_prediction(estimates: dict[str, dict], slices: SliceSet, target: str) -> ErrorPrediction:
    """Does each method's uncertainty predict *its own* error against the acquired ``target``
    of ``slices``, inside the head? Per method: ``rank_corr``, ``ause``, ``aurg``
    (``metrics.uncertainty.uncertainty_report``); ``calibration error`` and the fraction of the
    truth inside the 90 % interval (mean ± 1.645 std, read as Gaussian); ``subject rank corr``
    (``subject_rank_correlation``); how many times more uncertain and more wrong it is on
    tumour pixels than on the rest of the head (``region_ratio``); and the PSNR of its mean,
    averaged over slices. After each method, its floor: the row ``baseline_of(method)``, the
    edge map of the method's own mean scored against the same error (``with_edge_baseline``;
    an edge map is no standard deviation, so its calibration and PSNR cells are empty)."""
    from medsynth_nb.metrics import psnr
    from medsynth_nb.metrics import uncertainty as ue

    truth, head, tumor = slices.images[target], slices.tissue > 0, slices.tumor > 0
    maps = with_edge_baseline({name: e["std"] for name, e in estimates.items()},
                              {name: e["mean"] for name, e in estimates.items()})
    errors = {name: np.abs(estimates[method]["mean"] - truth) for method in estimates
              for name in (method, baseline_of(method))}
    report = ue.uncertainty_report(maps, errors, head)
    coverage = {name: ue.interval_coverage(e["mean"], e["std"], truth, distribution="gaussian", mask=head)
                for name, e in estimates.items()}
    for name in report.index:
        method = name in estimates  # a baseline row has no interval and no PSNR of its own
        report.loc[name, "calibration error"] = ue.calibration_error(coverage[name]) if method else np.nan
        report.loc[name, "90 % interval holds"] = (coverage[name].set_index("nominal").loc[0.9, "observed"]
                                                   if method else np.nan)
        report.loc[name, "subject rank corr"] = ue.subject_rank_correlation(
            ue.per_subject(maps[name], errors[name], slices.subject_ids, head))
        report.loc[name, "std tumour / rest"] = ue.region_ratio(maps[name], tumor, head)
        report.loc[name, "error tumour / rest"] = ue.region_ratio(errors[name], tumor, head)
        report.loc[name, "PSNR of the mean (dB)"] = float(
            psnr(estimates[name]["mean"][:, None], truth[:, None], head[:, None]).mean()) if method else np.nan
    return ErrorPrediction(report, coverage, {name: ue.sparsification(maps[name], errors[name], head)
                                              for name in estimates})
