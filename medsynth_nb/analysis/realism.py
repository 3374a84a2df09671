"""Realism scores of image sets and the checks that make them trustworthy (chapter 09).

``RealismScorer`` holds a real reference set of one contrast (the training subjects' scans)
and scores any other set of that contrast against it: the Fréchet and kernel distances of
the tissue segmenter's features, the Fréchet distance of radiomics-style texture features
(``metrics.realism``), and the segmenter's tissue Dice on the set (the downstream task).

A metric earns trust by ranking what we already know how to rank. ``degradation_ladder``
makes such sets from real held-out scans: blurred a little and a lot, noisier a little
and a lot, and a mode collapse (one image repeated for every slice, the failure of a GAN
that found one output its critic accepts). ``check_ranking`` says whether a score orders
each family as it should; ``realism_table`` puts the scores beside PSNR and SSIM against
the noise-free truth, where the two kinds of metric disagree.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from medsynth_nb.data.corruptions import add_noise
from medsynth_nb.data.slices import SynthesisData
from medsynth_nb.data.tissue_slices import TissueSlices
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.metrics.image import psnr, ssim
from medsynth_nb.metrics.realism import frechet_distance, kernel_mmd, texture_features
from medsynth_nb.models import build_model
from medsynth_nb.models.tissue_segmenter import tissue_dice

SCORES = ("FID (segmenter)", "MMD (segmenter)", "FD (texture)")
# Families of the ladder, each from the real scans outwards: a score must rise along each.
FAMILIES = {"blur": ("real held-out", "mild blur", "heavy blur"),
            "noise": ("real held-out", "mild noise", "heavy noise"),
            "collapse": ("real held-out", "mode collapse")}


class RealismScorer:
    """Realism of image sets of one contrast against ``reference`` real images (N x H x W,
    with their head ``reference_masks``), through a trained ``TissueSegmenter``."""

    def __init__(self, segmenter, reference, reference_masks):
        self.segmenter = segmenter
        self.reference = segmenter.features(reference)
        texture = texture_features(reference, reference_masks)
        # Texture features have unlike units (kurtosis, energy): put them on the reference's scale.
        self._texture_centre, self._texture_scale = texture.mean(0), texture.std(0) + 1e-8
        self.reference_texture = self._standard(texture)

    def _standard(self, texture: np.ndarray) -> np.ndarray:
        return (texture - self._texture_centre) / self._texture_scale

    def score(self, images, masks, tissue=None) -> dict[str, float]:
        """The three distances of ``images`` (N x H x W in [0, 1]) from the reference, and
        with ``tissue`` (their true tissue maps) the segmenter's mean tissue Dice on them."""
        features = self.segmenter.features(images)
        texture = self._standard(texture_features(images, masks))
        scores = dict(zip(SCORES, (frechet_distance(self.reference, features), kernel_mmd(self.reference, features),
                                   frechet_distance(self.reference_texture, texture))))
        if tissue is not None:
            scores["tissue Dice"] = self.tissue_dice(images, tissue)
        return scores

    def tissue_dice(self, images, tissue) -> float:
        """The downstream task: the segmenter's mean tissue Dice on ``images`` against ``tissue``."""
        pred = self.segmenter.segment(images)
        return float(np.mean([np.mean(list(tissue_dice(p, t).values())) for p, t in zip(pred, np.asarray(tissue))]))


def train_tissue_segmenter(data: SynthesisData, profile, steps, *, seed: int = 0, out_dir=None,
                           resume: bool = False, progress: bool = True):
    """Chapter 09's ruler: a ``TissueSegmenter`` trained on every contrast of ``data``'s
    training subjects (``steps``: one budget or one per profile, as ``TrainConfig.from_profile``).
    Returns the segmenter and its training ``History``."""
    tissue_data = SynthesisData(*(TissueSlices.of(part) for part in (data.train, data.val, data.test)),
                                {**data.info, "training": "tissue labels of every contrast"})
    segmenter = build_model("tissue_segmenter", None, profile)
    history = train(segmenter, tissue_data, None, TrainConfig.from_profile(profile, steps=steps, seed=seed),
                    out_dir=out_dir, resume=resume, progress=progress)
    return segmenter, history


def degradation_ladder(images, seed: int = 0, blur_px=(0.6, 1.5), noise=(0.03, 0.1)) -> dict[str, np.ndarray]:
    """Real images and known-worse versions of them (module docstring): Gaussian blur of
    ``blur_px`` standard deviations (mild, heavy), Rician noise of ``noise`` (mild, heavy;
    ``data.corruptions.add_noise``), and the first image repeated (mode collapse)."""
    images = np.asarray(images, np.float32)
    blur = lambda sigma: np.stack([gaussian_filter(x, sigma) for x in images])  # noqa: E731
    return {"real held-out": images,
            "mild blur": blur(blur_px[0]), "heavy blur": blur(blur_px[1]),
            "mild noise": add_noise(images, noise[0], seed), "heavy noise": add_noise(images, noise[1], seed + 1),
            "mode collapse": np.repeat(images[:1], len(images), axis=0)}


def realism_table(scorer: RealismScorer, sets: dict[str, np.ndarray], masks, truth, tissue=None) -> pd.DataFrame:
    """One row per image set (all of the same slices): the realism scores, and PSNR / SSIM
    inside ``masks`` against ``truth`` (the noise-free images), means over slices."""
    rows = {}
    for name, images in sets.items():
        rows[name] = {**scorer.score(images, masks, tissue),
                      "PSNR vs truth": float(psnr(images[:, None], truth[:, None], masks[:, None]).mean()),
                      "SSIM vs truth": float(ssim(images[:, None], truth[:, None], masks[:, None]).mean())}
    return pd.DataFrame(rows).T


def check_ranking(table: pd.DataFrame, families=FAMILIES, scores=SCORES) -> pd.DataFrame:
    """For every score and family of ``table`` (from ``realism_table`` on a ladder): True
    when the score rises strictly along the family, from the real scans to the worst."""
    return pd.DataFrame({score: {family: bool(np.all(np.diff(table.loc[list(steps), score].to_numpy()) > 0))
                                 for family, steps in families.items()} for score in scores})
