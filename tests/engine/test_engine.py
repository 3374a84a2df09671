"""Training engine: learning, resume, checkpoints, the NaN guard."""
from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from medsynth_nb.engine import (
    History,
    TrainConfig,
    TrainingDiverged,
    compare_runs,
    load_trained,
    read_checkpoint,
    train,
)
from medsynth_nb.engine.training import CHECKPOINT_NAME
from medsynth_nb.models import UNetRegressor, build_model
from medsynth_nb.profiles import get_profile

TASK = "t1:t2"


def _model(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model("unet", TASK, get_profile("smoke"), **overrides)


def _config(steps: int, **kw) -> TrainConfig:
    base = dict(steps=steps, batch_size=4, eval_every=1000, max_eval_slices=4)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    """A short run with a checkpoint: (model, history, run folder)."""
    out = tmp_path_factory.mktemp("run")
    model = _model()
    history = train(model, tiny_data, TASK, _config(6), out_dir=out, progress=False)
    return model, history, out


def test_short_run_lowers_the_loss(tiny_data):
    model = _model()
    history = train(model, tiny_data, TASK, _config(40, batch_size=8), progress=False)
    losses = history.losses["l1"]
    assert len(losses) == 40 and history.step == 40 and history.stopped_by == "steps"
    assert np.mean(losses[-5:]) < np.mean(losses[:5]), f"first {losses[:5]}, last {losses[-5:]}"
    assert history.val and history.val[-1]["step"] == 40
    assert {"psnr", "ssim", "mae"} <= set(history.val[-1])


def test_resume_continues_the_same_run(tiny_data, tmp_path):
    """N steps in one go == N/2 steps, then a new model resumed to N (dropout on, so the
    random number generator states must be restored too)."""
    n = 10
    one_go = _model(dropout=0.2)
    full = train(one_go, tiny_data, TASK, _config(n), progress=False)

    first = _model(dropout=0.2)
    half = train(first, tiny_data, TASK, _config(n // 2), out_dir=tmp_path, progress=False)
    assert half.step == n // 2
    second = _model(seed=123, dropout=0.2)  # other initial weights: the checkpoint must replace them
    resumed = train(second, tiny_data, TASK, _config(n), out_dir=tmp_path, resume=True, progress=False)

    assert resumed.step == n
    assert resumed.losses["l1"] == full.losses["l1"]
    a, b = one_go.state_dict(), second.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"weight {key} differs after resume"


def test_existing_checkpoint_is_never_overwritten(run, tiny_data):
    _, _, out = run
    ckpt = out / CHECKPOINT_NAME
    before = ckpt.read_bytes()
    with pytest.raises(FileExistsError, match="resume"):
        train(_model(), tiny_data, TASK, _config(4), out_dir=out, progress=False)
    assert ckpt.read_bytes() == before


def test_resume_with_another_task_is_refused(run, tiny_data):
    _, _, out = run
    before = (out / CHECKPOINT_NAME).read_bytes()
    with pytest.raises(ValueError, match="task"):
        train(_model(), tiny_data, "t1:flair", _config(8), out_dir=out, resume=True, progress=False)
    assert (out / CHECKPOINT_NAME).read_bytes() == before


class NaNAtStep(UNetRegressor):
    """A U-Net whose loss becomes NaN at training step ``bad_step`` (as with a too-high
    learning rate), through the engine's model interface."""

    def __init__(self, bad_step: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.bad_step, self.calls = bad_step, 0
        self.config.update({"model": "unet", "task": TASK})  # its checkpoint is a plain U-Net's

    def train_step(self, batch, update):
        self.calls += 1
        if self.calls == self.bad_step:
            return {"l1": torch.tensor(float("nan"))}
        return super().train_step(batch, update)


def test_nan_loss_stops_training_and_keeps_the_checkpoint(tiny_data, tmp_path):
    torch.manual_seed(0)
    model = NaNAtStep(bad_step=3, channels=(8, 16, 32))
    with pytest.raises(TrainingDiverged) as err:
        train(model, tiny_data, TASK, _config(10, checkpoint_every=1), out_dir=tmp_path, progress=False)
    msg = str(err.value)
    assert "step 3" in msg
    assert "learning rate" in msg.lower()
    assert str(tmp_path / CHECKPOINT_NAME) in msg
    # The checkpoint of step 2 is intact and loadable, and holds the weights before the NaN.
    saved = read_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert saved["state"]["history"]["step"] == 2
    loaded, history = load_trained(tmp_path)
    assert history.step == 2
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_nan_in_inputs_is_caught(tiny_data):
    bad = tiny_data.train.select(np.arange(len(tiny_data.train)))
    bad.images["t1"] = bad.images["t1"].copy()
    bad.images["t1"][:, 0, 0] = np.nan
    data = type(tiny_data)(bad, tiny_data.val, tiny_data.test, tiny_data.info)
    with pytest.raises(TrainingDiverged, match="step 1"):
        train(_model(), data, TASK, _config(5), progress=False)


def test_truncated_checkpoint_gives_a_clear_error(run, tmp_path):
    _, _, out = run
    whole = (out / CHECKPOINT_NAME).read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError) as err:
        read_checkpoint(cut)
    assert str(cut) in str(err.value) and "truncated" in str(err.value)
    with pytest.raises(ValueError):
        load_trained(cut)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(ValueError, match="garbage.safetensors"):
        read_checkpoint(garbage)
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path / "missing.safetensors")


def test_foreign_safetensors_file_is_not_a_checkpoint(tmp_path):
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="not a MedSynth checkpoint"):
        read_checkpoint(other)


def test_load_trained_predicts_like_the_trained_model(run, tiny_data):
    model, history, out = run
    loaded, loaded_history = load_trained(out)
    assert isinstance(loaded, UNetRegressor)
    assert loaded_history.step == history.step == 6
    assert loaded_history.losses == history.losses
    source = tiny_data.test.batch(TASK, np.arange(len(tiny_data.test)))["source"]
    assert torch.equal(loaded.predict(source), model.predict(source))
    same_file, _ = load_trained(out / CHECKPOINT_NAME)
    assert torch.equal(same_file.predict(source), model.predict(source))


def test_checkpoint_is_plain_safetensors(run):
    _, _, out = run
    path = out / CHECKPOINT_NAME
    raw = path.read_bytes()
    assert not raw.startswith(b"PK"), "zip (torch.save), not safetensors"
    # A safetensors file opens with its JSON header's length; its first byte may be 0x80 like a pickle's, so the
    # pickle test is that the length fits the file and the header parses.
    (header_len,) = struct.unpack("<Q", raw[:8])
    assert 8 + header_len <= len(raw) and raw[8:9] == b"{", "pickle, not safetensors"
    header = json.loads(raw[8:8 + header_len])
    assert header["__metadata__"]["format"].startswith("medsynth-checkpoint")
    with safe_open(str(path), "pt") as f:
        keys = list(f.keys())
        meta = f.metadata()
    assert any(k.startswith("model/") for k in keys)
    assert any(k.startswith("optim/") for k in keys)
    assert {"rng/data", "rng/torch"} <= set(keys)
    assert json.loads(meta["config"])["model"] == "unet"
    assert json.loads(meta["state"])["history"]["step"] == 6


def test_time_cap_stops_the_run_and_says_so(tiny_data, capsys):
    history = train(_model(), tiny_data, TASK, _config(10**6, seconds=0.5), progress=False)
    assert history.stopped_by == "time"
    assert 0 < history.step < 10**6 == history.budget_steps
    assert history.elapsed_s >= 0.5
    said = capsys.readouterr().out
    assert f"at step {history.step} of {10**6}" in said and "differ from the reference run" in said


def test_step_budget_per_profile():
    smoke, cpu = get_profile("smoke"), get_profile("cpu")
    budget = {"smoke": 7, "cpu": 700, "gpu": 3000}
    assert TrainConfig.from_profile(smoke, steps=budget).steps == 7
    assert TrainConfig.from_profile(cpu, steps=budget, seed=3).steps == 700
    assert TrainConfig.from_profile(cpu, steps=12).steps == 12
    assert TrainConfig.from_profile(cpu).steps == cpu.train_steps
    # the time cap stays, as a guard
    assert TrainConfig.from_profile(cpu, steps=budget).seconds == cpu.train_seconds
    with pytest.raises(KeyError, match="profile 'cpu'"):
        TrainConfig.from_profile(cpu, steps={"smoke": 7})


def test_same_seed_same_steps_same_weights(tiny_data):
    runs = []
    for _ in range(2):
        model = _model(seed=5)
        history = train(model, tiny_data, TASK, _config(8, seed=5), progress=False)
        runs.append((history, torch.cat([p.detach().flatten() for p in model.parameters()])))
    (first, weights), (second, again) = runs
    assert first.losses == second.losses
    assert torch.equal(weights, again)


def test_on_update_sees_each_validation(tiny_data):
    seen = []
    history = train(_model(), tiny_data, TASK, _config(6, eval_every=3), progress=False,
                    on_update=lambda h: seen.append((h.step, len(h.val))))
    assert isinstance(history, History)
    assert seen == [(3, 1), (6, 2)]


def test_checkpoint_can_be_copied_and_resumed_elsewhere(run, tiny_data, tmp_path):
    """A checkpoint is self-contained: copied to another folder it resumes there."""
    _, history, out = run
    shutil.copy(out / CHECKPOINT_NAME, tmp_path / CHECKPOINT_NAME)
    more = train(_model(), tiny_data, TASK, _config(history.step + 2), out_dir=tmp_path, resume=True, progress=False)
    assert more.step == history.step + 2
    assert more.losses["l1"][: history.step] == history.losses["l1"]


def test_compare_runs_puts_trained_models_side_by_side():
    class WithGenerator(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.generator, self.critic = torch.nn.Linear(3, 2), torch.nn.Linear(10, 10)

    histories = {"gan": History(step=40, elapsed_s=12.4, val=[{"step": 20, "psnr": 10.0}, {"step": 40, "psnr": 12.5}]),
                 "plain": History(step=7, elapsed_s=1.0)}
    table = compare_runs({"gan": WithGenerator(), "plain": torch.nn.Linear(4, 1)}, histories)
    assert table.loc["gan", "parameters"] == 8, "only the generator counts when there is one"
    assert table.loc["plain", "parameters"] == 5 and table.loc["plain", "steps"] == 7
    assert table.loc["gan", "val psnr"] == 12.5 and table.loc["gan", "seconds"] == 12
    assert np.isnan(table.loc["plain", "val psnr"]), "a run without validation has no score"
