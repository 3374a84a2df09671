"""One training loop for every model of the course.

``train(model, data, task, config)`` runs for the config's step budget, with a tqdm
progress bar, periodic validation (PSNR, SSIM, MAE on held-out subjects), an
``on_update(history)`` hook for live plots, a guard that stops at the first non-finite
loss, and atomic checkpoints from which ``resume=True`` continues the *same* run: the data
order and dropout draws come from generators whose states are saved, so N steps in one go
and N/2 + N/2 with a resume give the same weights. The model is trained through the
interface in ``models.base``; the loop never asks which model it is. Models that are not
image-to-image translations (chapter 06's lesion renderer and segmenter) train with
``task=None`` on data of their own kind and score validation with their own
``validation_scores(val_slices, device)``.

Runs are sized in *steps*, so that the same seed and profile give the same model on any
machine with the same number of torch threads: a student's run prints the course's numbers.
A chapter names its budget per profile
(``TrainConfig.from_profile(profile, steps={"smoke": 40, "cpu": 700, "gpu": 3000})``).
The time cap (``seconds``, the profile's ``train_seconds`` unless given) is only a guard
for a machine much slower than the course's; when it stops a run, the run says so.

``amp=True`` (the gpu profile's) runs each training step under autocast: float16 with loss
scaling on CUDA, bfloat16 without on the CPU (``_mixed_precision``). Validation stays float32.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from medsynth_nb.data.slices import SynthesisData
from medsynth_nb.engine import checkpoints, distributed
from medsynth_nb.metrics import evaluate_model
from medsynth_nb.models.base import parameter_count
from medsynth_nb.tasks import parse_task

CHECKPOINT_NAME = "checkpoint.safetensors"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    steps: int = 1000
    seconds: float | None = None     # time cap, a guard (training time, summed over resumes)
    batch_size: int = 8
    eval_every: int = 100
    max_eval_slices: int = 64
    checkpoint_every: int | None = None  # default: at every validation
    seed: int = 0
    device: str = "cpu"
    amp: bool = False

    @classmethod
    def from_profile(cls, profile, steps: int | Mapping[str, int] | None = None, **overrides) -> TrainConfig:
        """The profile's sizes, with ``steps`` one budget or one per profile name
        ({"smoke": 40, "cpu": 700, "gpu": 3000}); other fields as keyword overrides."""
        if isinstance(steps, Mapping):
            if profile.name not in steps:
                raise KeyError(f"The step budget {dict(steps)} names no budget for profile {profile.name!r}; "
                               f"give one for each of its profiles.")
            steps = steps[profile.name]
        base = dict(steps=profile.train_steps if steps is None else int(steps), seconds=profile.train_seconds,
                    batch_size=profile.batch_size, eval_every=profile.eval_every,
                    max_eval_slices=profile.max_eval_slices, device=profile.device, amp=profile.amp)
        base.update(overrides)
        return cls(**base)


@dataclass
class History:
    task: str = ""
    step: int = 0
    elapsed_s: float = 0.0
    loss_steps: list[int] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)
    val: list[dict] = field(default_factory=list)   # {"step": s, "psnr": ..., "ssim": ..., "mae": ...}
    stopped_by: str = ""        # "steps" (the budget was spent) or "time" (the guard cut the run short)
    budget_steps: int = 0

    def to_json(self) -> dict:
        return asdict(self)


def _updater(optimizers: dict, scalers: dict, processes: distributed.Context) -> Callable[[torch.Tensor, str], None]:
    def update(loss: torch.Tensor, name: str) -> None:
        opt, scaler = optimizers[name], scalers[name]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        processes.average_gradients(opt)  # several processes (torchrun): one update for the global batch
        scaler.step(opt)
        scaler.update()
    return update


def _mixed_precision(config: TrainConfig, device: torch.device) -> tuple[bool, torch.dtype | None, bool]:
    """(autocast on, its dtype, gradient scaling on) of a training step. ``config.amp`` on CUDA:
    float16 with a GradScaler, whose loss scaling keeps small gradients from flushing to zero in
    float16's narrow exponent range. On the CPU: bfloat16 and no scaler, since bfloat16 has
    float32's exponent range (8 bits) and no gradient underflows that float32 would keep; it
    trades mantissa bits instead. Other devices, or ``amp`` off: float32, autocast off (dtype None)."""
    if config.amp and device.type == "cuda":
        return True, torch.float16, True
    if config.amp and device.type == "cpu":
        return True, torch.bfloat16, False
    return False, None, False


def validate(model, data: SynthesisData, task, max_slices: int, device: str) -> dict[str, float]:
    """Mean over validation subjects of PSNR / SSIM / MAE (first ``max_slices`` slices), or
    the model's own ``validation_scores``."""
    val = data.val.select(np.arange(min(len(data.val), max_slices)))
    if hasattr(model, "validation_scores"):
        return model.validation_scores(val, device)
    return evaluate_model(model.predict, val, task, device=device, blur=False).mean().to_dict()


def train(model, data: SynthesisData, task, config: TrainConfig, *, out_dir: str | Path | None = None,
          resume: bool = False, on_update: Callable[[History], None] | None = None,
          progress: bool = True) -> History:
    """Train ``model`` on ``data`` for ``task`` (e.g. ``"t1:t2"``, or None, see the module
    docstring).

    With ``out_dir`` a checkpoint is kept there. An existing checkpoint is never
    overwritten silently: pass ``resume=True`` to continue it, or choose another folder.
    """
    task = parse_task(task) if task is not None else None
    device = torch.device(config.device)
    processes = distributed.context()  # one process, or one of several under torchrun (engine.distributed)
    progress = progress and processes.is_main
    model.to(device)
    optimizers = model.make_optimizers()
    use_amp, amp_dtype, use_scaler = _mixed_precision(config, device)
    scalers = {name: torch.amp.GradScaler(device.type, enabled=use_scaler) for name in optimizers}
    data_gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # weight-independent draws (dropout) start from the seed too
    history = History(task=str(task or ""), budget_steps=config.steps)
    ckpt = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None

    if ckpt is not None and ckpt.exists():
        if not resume:
            raise FileExistsError(f"{ckpt} holds an earlier run (nothing was overwritten). Continue it with "
                                  "resume=True (CLI: --resume), or choose another output folder.")
        saved = checkpoints.read_checkpoint(ckpt)
        if task is not None and saved["config"].get("task") not in (None, str(task)):
            raise ValueError(f"{ckpt} was trained for task {saved['config']['task']}, not {task}.")
        checkpoints.restore(saved, model, optimizers)
        history = History(**{**saved["state"]["history"], "budget_steps": config.steps})
        rng = checkpoints.rng_states(saved)
        data_gen.set_state(rng["data"])
        torch.set_rng_state(rng["torch"])
    processes.broadcast_weights(model)  # every process starts from rank 0's weights

    def save():
        if ckpt is not None and processes.is_main:
            checkpoints.save_checkpoint(ckpt, model, optimizers, {"history": history.to_json()},
                                        {"data": data_gen.get_state(), "torch": torch.get_rng_state()})

    def run_validation():
        if not processes.is_main:
            return
        metrics = validate(model, data, task, config.max_eval_slices, config.device)
        history.val.append({"step": history.step, **{k: float(v) for k, v in metrics.items()}})
        if on_update is not None:
            on_update(history)

    update = _updater(optimizers, scalers, processes)
    checkpoint_every = config.checkpoint_every or config.eval_every
    bar = tqdm(total=config.steps, initial=history.step, desc=f"train {model.config.get('model', '')} {task or ''}",
               disable=not progress)
    start = time.perf_counter() - history.elapsed_s
    while True:
        if history.step >= config.steps:
            history.stopped_by = "steps"
            break
        # Rank 0's clock decides for all: processes that stopped apart would wait for each other.
        if config.seconds is not None and processes.from_main(history.elapsed_s >= config.seconds):
            history.stopped_by = "time"
            break
        # Measured and not adopted (benchmarks/engine_overhead.py, cpu profile, 2 AVX2 cores, two runs):
        # channels_last (1.5 % slower in one run, 15 % faster in the other: no clear gain on this noisy
        # machine), bf16 autocast (7x slower without native bf16), torch.compile (steps 15-17 % faster, but
        # 55 s to compile and as long again for every new batch shape: a loss for a chapter's ~100 s runs).
        # The loop itself costs nothing measurable over a bare PyTorch loop (engine / bare time 0.97, 1.02).
        batch = processes.shard(data.train.sample_batch(task, config.batch_size, data_gen))
        batch = {k: v.to(device) for k, v in batch.items()}
        model.train()
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            losses = model.train_step(batch, update)
        values = processes.mean({k: float(v.detach()) for k, v in losses.items()})
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            bar.close()
            raise TrainingDiverged(
                f"Training stopped at step {history.step + 1}: loss {bad} is not finite. Lower the learning "
                f"rate (model config: {model.config}) or check the inputs for NaN/Inf. "
                + (f"The last good checkpoint is kept in {ckpt}." if ckpt is not None and ckpt.exists()
                   else "No checkpoint was written for this run."))
        history.step += 1
        history.elapsed_s = time.perf_counter() - start
        history.loss_steps.append(history.step)
        for k, v in values.items():
            history.losses.setdefault(k, []).append(v)
        bar.update(1)
        bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()}, refresh=False)
        if history.step % config.eval_every == 0:
            run_validation()
        if history.step % checkpoint_every == 0:
            save()
    bar.close()
    if history.stopped_by == "time" and processes.is_main:
        print(f"Stopped by the time cap ({config.seconds:.0f} s) at step {history.step} of {config.steps}: "
              "this machine is slower than the course's, so results will differ from the reference run.")
    if not history.val or history.val[-1]["step"] != history.step:
        run_validation()
    save()
    return history


def compare_runs(models: dict, histories: dict[str, History]) -> pd.DataFrame:
    """Trained models side by side ({name: model}, {name: its History}): generator
    parameters (the whole model's when it has no ``generator``), steps, training seconds
    and the last validation scores; one row per model."""
    rows = {}
    for name, model in models.items():
        history = histories[name]
        network = getattr(model, "generator", model)
        last = {k: v for k, v in (history.val[-1] if history.val else {}).items() if k != "step"}
        rows[name] = {"parameters": parameter_count(network), "steps": history.step,
                      "seconds": round(history.elapsed_s), **{f"val {k}": v for k, v in last.items()}}
    return pd.DataFrame(rows).T


def load_trained(path: str | Path, device: str = "cpu"):
    """Model and history from a checkpoint file or a run folder (weights only, no pickle)."""
    from medsynth_nb.models import model_from_config

    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    saved = checkpoints.read_checkpoint(path)
    model = model_from_config(saved["config"])
    checkpoints.restore(saved, model)
    return model.to(device).eval(), History(**saved["state"]["history"])
