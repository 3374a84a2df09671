"""The course leaderboard: every synthesis model of the course trained for one task and
scored on the same held-out subjects with one scorecard (``analysis.scorecard``).

``build_leaderboard`` trains what is missing into ``<out>/<model>/`` (a run already there is
continued to its budget, never started again), trains the tissue segmenter that measures
realism, scores every model, the intensity-lookup baseline and the task's ceiling (the
noise-free acquisition: a perfect synthesiser), with the fraction of the gap from the
baseline to the ceiling each model closed, and writes
``leaderboard.md`` and ``leaderboard.csv``. ``medsynth leaderboard`` runs it. The published
anchors go beside the table with the reason they are not comparable.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from medsynth_nb.analysis.realism import RealismScorer, train_tissue_segmenter
from medsynth_nb.analysis.scorecard import (PUBLISHED_ANCHORS, leaderboard, markdown_table, score_ceiling,
                                             score_model)
from medsynth_nb.data.loaders import load_dataset
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.engine.training import CHECKPOINT_NAME
from medsynth_nb.io import atomic_write, refuse_overwrite
from medsynth_nb.models import SYNTHESIS_MODELS, IntensityLookup, build_model
from medsynth_nb.tasks import parse_task

COLUMNS = ["psnr", "gap closed (psnr)", "ssim", "ms_ssim", "mae", "blur_mm", "FID (segmenter)", "MMD (segmenter)",
           "FD (texture)", "tissue Dice", "tissue Dice on real"]
BASELINE = "lookup baseline"
CAVEAT = ("The published figures are on real scans (other anatomy, noise, resolution, normalisation and test "
          "sets): they show the scale of real results. They are not comparable with the phantom's, and the "
          "phantom's ranking need not hold on real data.")


def build_leaderboard(out_dir, task: str = "t1:t2", models=SYNTHESIS_MODELS, *, profile, seed: int = 0,
                      steps: int | None = None, overwrite: bool = False, progress: bool = True) -> pd.DataFrame:
    """Train (or continue) ``models`` for ``task`` in ``out_dir``, score them, the lookup
    baseline and the ceiling on the test subjects, write ``leaderboard.md`` / ``.csv`` there
    (an existing table only with ``overwrite``) and return the table."""
    task, out_dir = parse_task(task), Path(out_dir)
    unknown = [m for m in models if m not in SYNTHESIS_MODELS]
    if unknown:
        raise ValueError(f"{unknown} are not synthesis models; choose from {', '.join(SYNTHESIS_MODELS)}.")
    outputs = [out_dir / "leaderboard.md", out_dir / "leaderboard.csv"]
    refuse_overwrite(outputs, overwrite)  # before hours of training, not after
    data = load_dataset("phantom", profile=profile, seed=seed, progress=progress)
    segmenter, _ = train_tissue_segmenter(data, profile, steps, seed=seed, out_dir=out_dir / "tissue_segmenter",
                                          resume=(out_dir / "tissue_segmenter" / CHECKPOINT_NAME).exists(),
                                          progress=progress)
    scorer = RealismScorer(segmenter, data.train.images[task.target], data.train.tissue > 0)
    cards = [score_model(BASELINE, IntensityLookup().fit(data.train, task), data.test, task, scorer=scorer),
             score_ceiling(data.test, task, scorer=scorer)]
    trained = {}  # steps run, and whether the budget or the time cap ended the run: a capped run is not comparable
    for name in models:
        model = build_model(name, task, profile)
        run = out_dir / name
        training_data = data.unpaired(seed) if getattr(model, "unpaired", False) else data
        history = train(model, training_data, task, TrainConfig.from_profile(profile, steps=steps, seed=seed),
                        out_dir=run, resume=(run / CHECKPOINT_NAME).exists(), progress=progress)
        trained[name] = {"steps": history.step, "stopped by": history.stopped_by}
        cards.append(score_model(name, model, data.test, task, scorer=scorer, device=profile.device))
    board = leaderboard(cards, baseline=BASELINE)
    runs = pd.DataFrame(trained).T
    table = board[[c for c in COLUMNS if c in board]].join(runs).fillna({c: "—" for c in runs})
    text = "\n".join([f"# Course leaderboard: {task} ({profile.name} profile, seed {seed})", "",
                      f"Phantom, {len(data.test.subjects)} held-out subjects; means over subjects; "
                      "blur_mm: extra blur against the noise-free truth (FWHM, mm; 0 = as sharp); gap closed: "
                      "the fraction of the way from the lookup baseline to the ceiling (a perfect synthesiser); "
                      "realism distances: 0 = the statistics of real scans.", "", markdown_table(table, "model"), "",
                      "## Published anchors (PSNR, dB)", "",
                      markdown_table(PUBLISHED_ANCHORS.set_index("model"), "model"), "", CAVEAT, ""])
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(outputs[0], lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    atomic_write(outputs[1], lambda tmp: table.to_csv(tmp))
    return table
