"""The ``medsynth`` command line."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from medsynth_nb import metrics
from medsynth_nb.cli import main
from medsynth_nb.data import physics
from medsynth_nb.engine.checkpoints import read_checkpoint
from medsynth_nb.engine.training import CHECKPOINT_NAME


def _phantom_args(out, seed="1"):
    return ["phantom", "--seed", seed, "--n-subjects", "1", "--grid", "axial", "--size", "32", "--out", str(out)]


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_phantom_writes_reproducible_files(tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(_phantom_args(first)) == 0
    expected = {f"sub-000_{m}.nii.gz" for m in physics.MODALITIES} | {"sub-000_tissue.nii.gz", "sub-000_tumor.nii.gz",
                                                                     "sub-000.json"}
    assert set(_files(first)) == expected
    record = json.loads((first / "sub-000.json").read_text())
    assert record["synthetic"] is True
    assert main(_phantom_args(second)) == 0
    assert _files(first) == _files(second), "same seed, different bytes"
    assert "Wrote 1 subjects" in capsys.readouterr().out
    third = tmp_path / "c"
    assert main(_phantom_args(third, seed="2")) == 0
    assert _files(third)["sub-000_t1.nii.gz"] != _files(first)["sub-000_t1.nii.gz"]


def test_phantom_refuses_to_overwrite(tmp_path, capsys):
    assert main(_phantom_args(tmp_path)) == 0
    before = _files(tmp_path)
    capsys.readouterr()
    assert main(_phantom_args(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "not overwriting" in err.lower()
    assert "--overwrite" in err
    assert "Traceback" not in err
    assert _files(tmp_path) == before
    assert main(_phantom_args(tmp_path) + ["--overwrite"]) == 0


@pytest.fixture(scope="module")
def train_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    code = main(["train", "unet", "--task", "t1:t2", "--profile", "smoke", "--steps", "10", "--out", str(out)])
    return code, out


def test_train_writes_metrics_and_checkpoint(train_run):
    code, out = train_run
    assert code == 0
    assert (out / CHECKPOINT_NAME).is_file()
    result = json.loads((out / "metrics.json").read_text())
    assert result["task"] == "t1:t2" and result["profile"] == "smoke" and result["steps"] == 10
    # Against the acquired target the phantom also gives the ceiling (a perfect synthesiser) and the gap closed.
    assert set(result["test_vs_acquired"]) == {"unet", "lookup_baseline", metrics.CEILING}
    assert set(result["test_vs_clean"]) == {"unet", "lookup_baseline"}
    gap = {method: row["gap closed (psnr)"] for method, row in result["test_vs_acquired"].items()}
    assert gap["lookup_baseline"] == 0 and gap[metrics.CEILING] == 1
    assert result["test_vs_acquired"][metrics.CEILING]["blur_mm"] == 0
    for against in ("test_vs_acquired", "test_vs_clean"):
        for method, row in result[against].items():
            assert "blur_mm" in row  # NaN where a 10-step model does not resemble its truth
            for key in ("psnr", "ssim", "mae"):
                assert math.isfinite(row[key]), (against, method, key)
            assert row["subjects"] == len(result["test_subjects"])
    # Test subjects are held out: none of them was used for training.
    assert result["test_subjects"]


def test_train_refuses_to_overwrite_a_run(train_run, capsys):
    _, out = train_run
    before = (out / CHECKPOINT_NAME).read_bytes()
    code = main(["train", "unet", "--task", "t1:t2", "--profile", "smoke", "--steps", "10", "--out", str(out)])
    assert code == 2
    assert "--resume" in capsys.readouterr().err
    assert (out / CHECKPOINT_NAME).read_bytes() == before


@pytest.mark.parametrize("task", ["t1", "t1:t1", "t1:xyz"])
def test_train_bad_task_is_a_user_error(tmp_path, capsys, task):
    code = main(["train", "unet", "--task", task, "--profile", "smoke", "--steps", "1", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "error" in err and task in err
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_unknown_profile_is_a_user_error(tmp_path, capsys):
    code = main(["train", "unet", "--task", "t1:t2", "--profile", "huge", "--out", str(tmp_path)])
    assert code == 2
    assert "huge" in capsys.readouterr().err


def test_bad_arguments_exit_through_argparse(tmp_path):
    with pytest.raises(SystemExit) as err:
        main(["train", "no_such_model", "--task", "t1:t2", "--out", str(tmp_path)])
    assert err.value.code == 2


def test_module_entry_point_lists_profiles():
    # The environment is inherited: conftest forces MEDSYNTH_PROFILE=smoke for the session.
    assert os.environ["MEDSYNTH_PROFILE"] == "smoke"
    done = subprocess.run([sys.executable, "-m", "medsynth_nb", "profiles"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    for name in ("smoke", "cpu", "gpu"):
        assert f"profile={name}" in done.stdout
    assert "selected now: smoke" in done.stdout


def test_train_unified_resvit_writes_the_imputation_table(tmp_path, capsys):
    code = main(["train", "resvit", "--task", "t1,t2:flair", "--unified", "--profile", "smoke", "--steps", "2",
                 "--out", str(tmp_path)])
    assert code == 0
    rows = json.loads((tmp_path / "metrics.json").read_text())["imputation"]
    # three modalities: each target from either single other or both -> 3 x 3 rows
    assert len(rows) == 9 and {r["target"] for r in rows} == {"t1", "t2", "flair"}
    assert all(math.isfinite(r["psnr"]) for r in rows)


def test_unified_applies_only_to_resvit(tmp_path, capsys):
    code = main(["train", "unet", "--task", "t1:t2", "--unified", "--profile", "smoke", "--out", str(tmp_path)])
    assert code == 2 and "--unified" in capsys.readouterr().err


def test_train_offers_only_models_that_map_modalities():
    from medsynth_nb.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["train", "pix2pix", "--task", "t1:t2", "--out", "run"]).model == "pix2pix"
    for name in ("zero_shot_diffusion", "lesion_segmenter"):  # they train on measurements / label maps
        with pytest.raises(SystemExit):
            parser.parse_args(["train", name, "--task", "t1:t2", "--out", "run"])


def test_leaderboard_trains_scores_and_reuses_its_runs(tmp_path, capsys):
    out = tmp_path / "board"
    args = ["leaderboard", "--task", "t1:t2", "--models", "unet,pix2pix", "--profile", "smoke", "--steps", "4",
            "--out", str(out)]
    assert main(args) == 0
    text = (out / "leaderboard.md").read_text()
    for row in ("| unet |", "| pix2pix |", "| lookup baseline |", "| ceiling (noise-free acquisition) |", "ResViT",
                "not comparable", "| 4 | steps |", "gap closed (psnr)", "blur_mm"):
        assert row in text
    assert (out / "unet" / CHECKPOINT_NAME).exists() and (out / "tissue_segmenter" / CHECKPOINT_NAME).exists()
    # A second run reuses the runs (their budget is spent) and refuses to replace the table silently.
    assert main(args) == 2
    assert "Not overwriting" in capsys.readouterr().err
    weights = read_checkpoint(out / "unet" / CHECKPOINT_NAME)["tensors"]
    assert main([*args, "--overwrite"]) == 0
    again = read_checkpoint(out / "unet" / CHECKPOINT_NAME)["tensors"]
    assert all(torch.equal(weights[k], again[k]) for k in weights), "a finished run was trained again"
    assert (out / "leaderboard.md").read_text() == text


def test_train_on_your_own_folder_records_the_split_and_reads_only(tmp_path, capsys):
    scans = tmp_path / "scans"
    assert main(["phantom", "--n-subjects", "4", "--spacing", "4", "--out", str(scans)]) == 0
    before = _files(scans)
    run = tmp_path / "run"
    assert main(["train", "unet", "--task", "t1:t2", "--data", str(scans), "--profile", "smoke", "--steps", "5",
                 "--out", str(run)]) == 0
    dataset = json.loads((run / "metrics.json").read_text())["dataset"]
    assert dataset["name"] == "folder" and dataset["layout"] == "flat" and dataset["modalities"] == ["t1", "t2"]
    assert sorted(sum(dataset["split"].values(), [])) == [f"sub-{i:03d}" for i in range(4)]
    assert _files(scans) == before
    capsys.readouterr()
    (scans / "sub-002_t2.nii.gz").unlink()
    assert main(["train", "unet", "--task", "t1:t2", "--data", str(scans), "--out", str(tmp_path / "r2")]) == 2
    assert "sub-002" in capsys.readouterr().err
