"""``torchrun --nproc_per_node=2 -m medsynth_nb train ...``: two CPU processes (gloo) split the
global batch and train like one process on the whole batch; only rank 0 writes; resume works."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from medsynth_nb.engine.checkpoints import read_checkpoint
from medsynth_nb.engine.training import CHECKPOINT_NAME

TRAIN = ["train", "unet", "--task", "t1:t2", "--profile", "smoke", "--seconds", "600"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "medsynth_nb"]
# Same arithmetic per process in both runs (one thread each); the two runs differ only in how the
# batch's gradient is summed (two halves averaged vs one mean), a rounding-level difference that
# grows slowly over the steps. Measured (the same two commands, 40 steps): max relative difference
# of the L1 loss 1.1e-7 over the first 12 steps, 1.7e-7 over 16, 4.8e-5 over 40; 1e-4 at 12 steps
# leaves room for other CPUs.
RTOL = 1e-4


def _run(command: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MEDSYNTH_PROFILE": "smoke"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _l1(run) -> list[float]:
    return read_checkpoint(run / CHECKPOINT_NAME)["state"]["history"]["losses"]["l1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    one = _run([sys.executable, "-m", "medsynth_nb", *TRAIN, "--steps", "12", "--out", str(root / "one")])
    two = _run([*TORCHRUN, *TRAIN, "--steps", "12", "--out", str(root / "two")])
    return root, one, two


def test_two_processes_follow_one_process_on_the_same_global_batch(runs):
    root, one, two = runs
    single, double = _l1(root / "one"), _l1(root / "two")
    assert len(single) == len(double) == 12
    np.testing.assert_allclose(double, single, rtol=RTOL)
    assert single[-1] < single[0]  # it trained


def test_rank_zero_alone_writes_and_the_log_says_how_many_ran(runs):
    root, one, two = runs
    metrics = json.loads((root / "two" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["steps"] == 12
    assert json.loads((root / "one" / "metrics.json").read_text())["processes"] == 1
    assert two.stdout.count("data parallel: 2 processes (gloo)") == 2  # the set-up line and the last line, once each
    assert two.stdout.count("Wrote ") == 1
    assert sorted(p.name for p in (root / "two").iterdir()) == [CHECKPOINT_NAME, "metrics.json"]


def test_resume_continues_the_distributed_run(runs):
    root, one, two = runs
    before = _l1(root / "two")
    _run([*TORCHRUN, *TRAIN, "--steps", "16", "--resume", "--out", str(root / "two")])
    after = _l1(root / "two")
    assert len(after) == 16 and after[:12] == before
    assert json.loads((root / "two" / "metrics.json").read_text())["steps"] == 16
