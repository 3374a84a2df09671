"""A model card for any trained model of the course (Mitchell et al., FAT* 2019).

A synthetic image is only as trustworthy as what is known about the model that made it.
The card says, in one page a clinician can read: what the model was trained on (phantom
or real data, sites, subjects), how (profile, steps, seed), how well it does on held-out
subjects (every metric with its 95 % interval, realism and the downstream task, from its
``Scorecard``), how it fails (measured on this model: what it does to tumours it never saw
in training; and the failure modes the course measured for models of its kind), what it is
for and what it must not be used for. Nothing in it is typed by hand: every number comes
from the scorecard and the measurements passed in, so a card cannot claim more than was run.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from medsynth_nb.analysis.scorecard import Scorecard, markdown_table
from medsynth_nb.io import atomic_write, refuse_overwrite

# The failure modes the course measured, and where (the card points students to the evidence).
COURSE_FAILURE_MODES = {
    "erased or weakened lesions": "chapter 02 (unpaired CycleGAN: lesion contrast kept)",
    "a tumour never seen in training": "chapter 05 (uncertainty and error inside unseen tumours)",
    "hallucinated structure": "chapter 07 (detail in reconstructions that is not in the truth)",
    "through-plane discontinuity of slice-wise synthesis": "chapter 09 (volumes, not slices)",
}
INTENDED_USE = ("Teaching and research on the course's phantom: comparing synthesis methods and learning how to "
                "judge them. Research use on real data only after re-training and re-evaluating on that data.")
NOT_FOR = ("Diagnosis, treatment planning or any decision about a patient; replacing an acquired scan; measuring "
           "lesions or tissue volumes for care; data from scanners, sites or populations it was not evaluated on.")
_METRIC_NAMES = {"psnr": "PSNR (dB)", "ssim": "SSIM", "ms_ssim": "MS-SSIM", "mae": "MAE (normalised)",
                 "mae_hu": "MAE (HU)", "blur_mm": "blur (mm, 0 = as sharp as the truth)",
                 "mae_tumor": "MAE inside tumours"}


def model_card(card: Scorecard, *, model_config: dict, data_info: dict, profile: str, steps: int, seed: int,
               measured_failures: dict[str, str] | None = None, intended_use: str = INTENDED_USE,
               not_for: str = NOT_FOR) -> str:
    """The model card of the model scored by ``card``, as Markdown. ``model_config``: the
    model's ``config``; ``data_info``: its dataset's ``info``; ``measured_failures``:
    {failure mode: what was measured on this model}."""
    summary = card.summary
    metrics = pd.DataFrame({"mean": summary["mean"], "95 % interval": [
        f"{lo:.4g} to {hi:.4g}" for lo, hi in zip(summary["ci_low"], summary["ci_high"])],
        "subjects": summary["subjects"].astype(int)})
    metrics.index = [_METRIC_NAMES.get(i, i) for i in metrics.index]
    data_kind = "the course's phantom (simulated)" if data_info.get("name") == "phantom" else data_info.get("name")
    sites = ", ".join([str(data_info.get("site", "?"))] + list(data_info.get("other_sites", [])))
    lines = [
        f"# Model card: {card.name} ({model_config.get('model', '?')}, task {card.task})",
        "",
        "Every image this model makes is SYNTHETIC: computed from other images, not acquired.",
        "",
        "## Model",
        f"- Architecture and settings: `{model_config}`",
        f"- Trained in the `{profile}` profile for {steps} steps with seed {seed}.",
        "",
        "## Data",
        f"- Source: {data_kind}; site(s): {sites}; {data_info.get('n_subjects', '?')} subjects of "
        f"{data_info.get('image_size', '?')}-pixel slices, split by subject.",
        f"- Normalisation: {data_info.get('normalization', 'not recorded')}.",
        f"- Evaluated on {len(card.per_subject)} held-out subjects: {', '.join(map(str, card.per_subject.index))}.",
        "",
        "## Performance on held-out subjects (inside the head; 95 % t-interval over subjects)",
        markdown_table(metrics),
        "",
    ]
    if card.realism:
        lines += ["## Realism and a downstream task",
                  markdown_table(pd.DataFrame({"value": pd.Series(card.realism)})),
                  "Realism distances are 0 for images with the statistics of real scans; the tissue Dice is the "
                  "course's tissue segmenter on these images (and on the real scans, for comparison).", ""]
    lines += ["## Where the error is (MAE per tissue)", markdown_table(card.per_tissue.to_frame("MAE")),
              "Each tissue's row is its interior (pixels whose neighbours are all that tissue); the boundary row "
              "is every pixel next to another tissue, where partial volume and edges make the error.", "",
              "## Failure modes", "Measured on this model:"]
    lines += [f"- {mode}: {result}" for mode, result in (measured_failures or {}).items()] or ["- none measured"]
    lines += ["", "Measured in the course for models of this kind (see the chapters):"]
    lines += [f"- {mode}: {where}" for mode, where in COURSE_FAILURE_MODES.items()]
    lines += ["", "## Intended use", intended_use, "", "## Must not be used for", not_for, ""]
    return "\n".join(lines)


def write_model_card(path, text: str, overwrite: bool = False) -> Path:
    """Write a card (atomically; an existing file only with ``overwrite``)."""
    path = Path(path)
    refuse_overwrite([path], overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path
