"""Transfer learning as an experiment: fine-tune a pretrained model on k subjects of a new
site, against training the same model from scratch on the same k subjects.

Both arms get the same step budget and data order (same seed), and are scored on the
same held-out subjects, so the curve over k shows what pre-training is worth.
"""
from __future__ import annotations

import copy

import pandas as pd

from medsynth_nb import metrics
from medsynth_nb.data.slices import SynthesisData
from medsynth_nb.engine.training import TrainConfig, train
from medsynth_nb.tasks import parse_task

FINE_TUNED = "fine-tuned from site A"
FROM_SCRATCH = "from scratch"


def transfer_curve(pretrained, data: SynthesisData, task, ks, config: TrainConfig, build) -> pd.DataFrame:
    """One row per (k, start): held-out MAE/PSNR/SSIM means over ``data.test``.

    ``pretrained`` is copied, never changed; ``build()`` returns a fresh model of the
    same kind for the from-scratch arm. ``ks`` counts training subjects, taken in the
    order of ``data.train.subjects``.
    """
    task = parse_task(task)
    available = len(data.train.subjects)
    if not ks or max(ks) > available or min(ks) < 1:
        raise ValueError(f"ks={list(ks)}: each k must be between 1 and the {available} training subjects.")
    rows = []
    for k in ks:
        few = data.with_training_subjects(data.train.subjects[:k])
        for start, model in ((FINE_TUNED, copy.deepcopy(pretrained)), (FROM_SCRATCH, build())):
            train(model, few, task, config, progress=False)
            scores = metrics.evaluate_model(model.predict, data.test, task, device=config.device)
            rows.append({"k": k, "start": start, **scores[["mae", "psnr", "ssim"]].mean().to_dict()})
    return pd.DataFrame(rows)
