"""The models the engine can train, in one place (the CLI and the notebooks read it).

Each model class has ``for_task(task, profile, **overrides)`` and is rebuilt from its
``config`` by ``model_from_config``; later chapters add their classes to ``MODELS``.
"""
from __future__ import annotations

from medsynth_nb.models.base import parameter_count
from medsynth_nb.models.cyclegan import CycleGAN
from medsynth_nb.models.diffusion import DiffusionSynthesiser
from medsynth_nb.models.heteroscedastic import HeteroscedasticUNet
from medsynth_nb.models.lesion_renderer import LesionRenderer
from medsynth_nb.models.lesion_segmenter import LesionSegmenter
from medsynth_nb.models.longitudinal import FollowUpUNet
from medsynth_nb.models.lookup import IntensityLookup
from medsynth_nb.models.pix2pix import Pix2Pix
from medsynth_nb.models.reconstruction import ReconstructionUNet, ZeroShotDiffusion
from medsynth_nb.models.resvit import ResViT
from medsynth_nb.models.sequence_diffusion import SequenceDiffusion
from medsynth_nb.models.tissue_segmenter import TissueSegmenter
from medsynth_nb.models.unet import UNetRegressor
from medsynth_nb.models.volumetric import PatchUNet3D, for_context
from medsynth_nb.tasks import parse_task

MODELS = {
    "unet": UNetRegressor,
    "pix2pix": Pix2Pix,
    "cyclegan": CycleGAN,
    "diffusion": DiffusionSynthesiser,
    "resvit": ResViT,
    "heteroscedastic": HeteroscedasticUNet,
    "lesion_renderer": LesionRenderer,
    "lesion_segmenter": LesionSegmenter,
    "reconstruction_unet": ReconstructionUNet,
    "zero_shot_diffusion": ZeroShotDiffusion,
    "follow_up_unet": FollowUpUNet,
    "sequence_diffusion": SequenceDiffusion,
    "tissue_segmenter": TissueSegmenter,
    "patch_unet3d": PatchUNet3D,
}


# The models that map source modalities to a target ("t1:t2"): what `medsynth train` offers. The
# others train on their own data (label maps, measurements) in their chapters.
SYNTHESIS_MODELS = ("unet", "pix2pix", "cyclegan", "diffusion", "resvit", "heteroscedastic")


def _check(name: str):
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; available: {', '.join(MODELS)}.")
    return MODELS[name]


def build_model(name: str, task, profile, **overrides):
    """A fresh model ``name`` for ``task``, sized by ``profile``."""
    task = parse_task(task) if task is not None else None  # None: chapter 06's label-map models
    model = _check(name).for_task(task, profile, **overrides)
    model.config.update({"model": name, "task": None if task is None else str(task)})
    return model


def model_from_config(config: dict):
    """Rebuild a model from the ``config`` stored in a checkpoint."""
    kwargs = {k: v for k, v in config.items() if k not in ("model", "task")}
    model = _check(config["model"])(**kwargs)
    model.config.update({"model": config["model"], "task": config["task"]})
    return model


__all__ = ["MODELS", "SYNTHESIS_MODELS", "build_model", "for_context", "model_from_config", "parameter_count",
           "CycleGAN", "DiffusionSynthesiser", "FollowUpUNet", "HeteroscedasticUNet", "IntensityLookup",
           "LesionRenderer", "LesionSegmenter", "PatchUNet3D", "Pix2Pix", "ReconstructionUNet", "ResViT",
           "SequenceDiffusion", "TissueSegmenter", "UNetRegressor", "ZeroShotDiffusion"]
