"""The gpu profile without a GPU: every model of ``models.MODELS`` at the gpu profile's sizes.

The gpu profile (128 px, widths 32-256, mixed precision) is made for a Colab-class GPU, which
the test machines lack. Two checks per model (and per variant a chapter trains), each naming
the model when it fails:

- ``test_gpu_sizes``: the model built from the gpu profile itself (``PROFILES["gpu"]``, device
  "cuda": ResViT gets the 9 ART blocks it has on a GPU, and a ``for_task`` that touched CUDA
  would fail here), trained 2 steps by the real engine on the CPU on images of the profile's
  128 px (the 3-D model: chapter 09's 48 px volumes), validated by the engine, then one
  prediction: finite losses and scores, the input's grid, float32, values in the promised
  range. Catches layers that assume another profile's image size or widths.
- ``test_amp_steps``: the same widths trained 2 steps with ``TrainConfig.from_profile`` of the
  gpu profile moved to the CPU, so ``amp`` is on and the engine's mixed-precision branch runs
  (bfloat16 autocast; a spy checks that every step ran under it), then a prediction *under*
  autocast, taken the way the metrics take it: it must reach them as float32. Catches dtype
  mismatches under reduced precision (CUDA's float16 path differs by its GradScaler only).
  These steps run on small images (16 px; 32 px for models with a PatchGAN critic): on a CPU
  without native bfloat16 (AVX-512 BF16 / AMX; the course's 2-core machines have AVX2 only)
  PyTorch computes bfloat16 convolutions on a slow reference path, about 200 times the float32
  time, so 128 px would cost minutes per model; a dtype error does not depend on the size.

Sampling settings (DDIM steps, DDNM samples) are cut to 2 and 1: they set how long a
prediction takes, not the network. Data: tiny phantom sets (3-4 subjects, one slice each; the
3-D model 16 slices), made once per kind and size for the module. About a minute on 2 cores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pytest
import torch

from medsynth_nb.data.inverse_problems import load_inverse_problem
from medsynth_nb.data.lesion_pairs import load_lesion_pairs
from medsynth_nb.data.longitudinal import load_longitudinal
from medsynth_nb.data.phantom_slices import load_phantom
from medsynth_nb.data.slices import SynthesisData
from medsynth_nb.data.tissue_slices import TissueSlices
from medsynth_nb.data.volumes import load_volumes, volume_patches
from medsynth_nb.engine import TrainConfig, train
from medsynth_nb.metrics import predict_set, reconstruct_set
from medsynth_nb.models import MODELS, build_model
from medsynth_nb.models.lesion_segmenter import segment_images
from medsynth_nb.models.longitudinal import forecast_set
from medsynth_nb.models.pix2pix import Pix2Pix
from medsynth_nb.profiles import PROFILES

GPU = PROFILES["gpu"]          # as a GPU machine has it (get_profile("gpu") on a CPU turns amp off)
GPU_ON_CPU = replace(GPU, device="cpu")
# Image size of the bfloat16 steps (see the module docstring): 16 px, 32 px for the models with a
# PatchGAN critic (three stride-2 layers and instance norms, which a 16 px image leaves at 1 x 1).
AMP_SIZE, CRITIC_AMP_SIZE = 16, 32
GPU_STEPS, AMP_STEPS = 2, 2    # training steps of each check
VOLUME_SIZE = 48               # chapter 09's volumes outside the smoke profile (with 16 x 24 x 24 patches)
FAST_SAMPLING = {"sample_steps": 2}


def _patch(size: int) -> tuple[int, int, int]:
    """Chapter 09's 3-D patch outside the smoke profile, (16, 24, 24), cut to small images."""
    return 16, min(24, size), min(24, size)


def _tissue(phantom: SynthesisData) -> SynthesisData:
    return SynthesisData(*(TissueSlices.of(part, ["t1", "t2"]) for part in (phantom.train, phantom.val, phantom.test)),
                         {})


# Each kind of data the models train on, by name: (image size, the module's dataset getter) -> data.
DATA = {
    "phantom": lambda size, get: load_phantom(4, size, 1, seed=0, tumor_prob=1.0, progress=False),
    "unpaired": lambda size, get: get("phantom", size).unpaired(),
    "lesions": lambda size, get: load_lesion_pairs(3, size, 1, seed=0, progress=False),
    "mri": lambda size, get: load_inverse_problem(get("phantom", size), "mri", (4,), healthy_training=False),
    "pet": lambda size, get: load_inverse_problem(get("phantom", size), "pet", (0.1,), healthy_training=False),
    "series": lambda size, get: load_longitudinal(3, size, 1, seed=0, progress=False),
    "tissue": lambda size, get: _tissue(get("phantom", size)),
    "volumes": lambda size, get: volume_patches(load_volumes(3, size, 16, seed=0, progress=False), _patch(size)),
}


# One prediction per model on the validation set, taken the way the metrics take it (the course's
# predict_set / reconstruct_set / forecast_set / segment_images / predict_slices, or the lesion
# renderer's render, which its validation scores): (what the metrics get, promised value range or None).
def _image(model, data, task):
    return predict_set(model.predict, data.val, task), (0, 1)


def _render(model, data, task):
    batch = data.val.tensors(data.val.with_lesion)
    return model.render(batch["images"], batch["labels"]), (0, 1)


def _labels(model, data, task):
    val = data.val
    images = val.images if isinstance(val.images, np.ndarray) else val.images["t1"][:, None]  # lesions / tissue
    return segment_images(model.predict, images), (0, model.config["n_classes"] - 1)


def _reconstruct(model, data, task):
    return reconstruct_set(model.reconstruct, data.val), None  # a residual / projected image: no clipping promised


def _forecast(model, data, task):
    return forecast_set(model.forecast, data.val), (0, 1)


def _volume(model, data, task):
    return model.predict_slices(data.val, task), (0, 1)


@dataclass
class Case:
    model: str                       # name in models.MODELS
    data: str                        # key of DATA
    predict: Callable
    task: str | None = None
    overrides: dict = field(default_factory=dict)
    label: str = ""                  # a variant's name, when a model appears twice
    gpu_size: int = GPU.image_size   # the image size its chapter uses in the gpu profile

    @property
    def id(self) -> str:
        return f"{self.model}-{self.label}" if self.label else self.model

    @property
    def amp_size(self) -> int:
        return CRITIC_AMP_SIZE if self.model == "cyclegan" or issubclass(MODELS[self.model], Pix2Pix) else AMP_SIZE


# Every registered model, as its chapter builds it (variants where a chapter trains another form).
CASES = [
    Case("unet", "phantom", _image, "t1:t2"),
    Case("pix2pix", "phantom", _image, "t1:t2"),
    Case("cyclegan", "unpaired", _image, "t1:t2"),
    Case("diffusion", "phantom", _image, "t1:t2", FAST_SAMPLING),
    Case("resvit", "phantom", _image, "t1:t2"),
    Case("resvit", "phantom", _image, "t1,t2,pd:flair", {"unified": True}, "unified"),
    Case("heteroscedastic", "phantom", _image, "t1:t2"),
    Case("lesion_renderer", "lesions", _render),
    Case("lesion_renderer", "lesions", _render, None, {"conditioning": "spade"}, "spade"),
    Case("lesion_segmenter", "lesions", _labels),
    Case("reconstruction_unet", "mri", _reconstruct, None, {"null_space": True}, "null_space"),
    Case("reconstruction_unet", "pet", _reconstruct, None, {"residual": False, "preserve_total": True}, "pet"),
    Case("zero_shot_diffusion", "mri", _reconstruct, None, {**FAST_SAMPLING, "samples": 1}),
    Case("follow_up_unet", "series", _forecast),
    Case("sequence_diffusion", "series", _forecast, None, FAST_SAMPLING),
    Case("tissue_segmenter", "tissue", _labels),
    Case("patch_unet3d", "volumes", _volume, "t1:t2", gpu_size=VOLUME_SIZE),  # patch_size: _patch(image size)
]


def test_every_registered_model_is_covered():
    assert {case.model for case in CASES} == set(MODELS)


@pytest.fixture(scope="module")
def datasets():
    """``datasets(kind, size)``: each dataset made once for the module."""
    made = {}

    def get(kind: str, size: int):
        if (kind, size) not in made:
            made[kind, size] = DATA[kind](size, get)
        return made[kind, size]

    return get


def _build(case: Case, profile):
    torch.manual_seed(0)
    overrides = dict(case.overrides)
    if case.model == "patch_unet3d":
        overrides["patch_size"] = _patch(profile.image_size)
    return build_model(case.model, case.task, profile, **overrides)


def _check_prediction(case: Case, output, value_range, size: int):
    output = torch.as_tensor(output)
    assert output.shape[-2:] == (size, size), f"{case.id}: prediction of shape {tuple(output.shape)}"
    if value_range is not None and value_range[1] > 1:  # class labels
        assert not output.dtype.is_floating_point, f"{case.id}: labels of dtype {output.dtype}"
    else:
        assert output.dtype == torch.float32, f"{case.id}: prediction of dtype {output.dtype}"
        assert torch.isfinite(output).all(), f"{case.id}: non-finite prediction"
    if value_range is not None:
        low, high = value_range
        assert output.min() >= low and output.max() <= high, \
            f"{case.id}: values {float(output.min())}..{float(output.max())} outside {value_range}"


def _check_history(history, case: Case, steps: int):
    losses = dict(history.losses)
    assert history.step == steps and all(len(v) == steps for v in losses.values()), case.id
    assert all(math.isfinite(x) for v in losses.values() for x in v), f"{case.id}: losses {losses}"
    scores = {k: v for k, v in history.val[-1].items() if k != "step"}
    assert scores and all(math.isfinite(v) for v in scores.values()), f"{case.id}: validation {scores}"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_gpu_sizes(case, datasets):
    """Built from the gpu profile, trained (float32, on the CPU) and validated at its image size, one prediction."""
    data = datasets(case.data, case.gpu_size)
    model = _build(case, replace(GPU, image_size=case.gpu_size))
    config = TrainConfig.from_profile(GPU_ON_CPU, steps=GPU_STEPS, amp=False, batch_size=1, seconds=None,
                                      eval_every=10**9, max_eval_slices=1)
    history = train(model, data, case.task, config, progress=False)
    _check_history(history, case, GPU_STEPS)
    output, value_range = case.predict(model, data, case.task)
    _check_prediction(case, output, value_range, case.gpu_size)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_amp_steps(case, datasets):
    """The gpu profile's widths and mixed precision on the CPU: every step under bfloat16 autocast;
    a prediction under autocast reaches the metrics as float32."""
    profile = replace(GPU_ON_CPU, image_size=case.amp_size)
    data = datasets(case.data, case.amp_size)
    model = _build(case, profile)
    config = TrainConfig.from_profile(profile, steps=AMP_STEPS, batch_size=1, seconds=None, eval_every=10**9,
                                      max_eval_slices=1)
    assert config.amp and config.device == "cpu"
    under = []
    step = model.train_step

    def spy(batch, update):
        under.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return step(batch, update)

    model.train_step = spy
    history = train(model, data, case.task, config, progress=False)
    assert under == [(True, torch.bfloat16)] * AMP_STEPS, f"{case.id}: steps ran under {under}"
    _check_history(history, case, AMP_STEPS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, value_range = case.predict(model, data, case.task)
    _check_prediction(case, output, value_range, case.amp_size)


def test_amp_off_trains_without_autocast(tiny_data):
    """The cpu and smoke profiles' default (amp off): no autocast, as before mixed precision existed."""
    model = build_model("unet", "t1:t2", PROFILES["smoke"])
    under = []
    step = model.train_step

    def spy(batch, update):
        under.append(torch.is_autocast_enabled("cpu"))
        return step(batch, update)

    model.train_step = spy
    train(model, tiny_data, "t1:t2", TrainConfig(steps=2, batch_size=2, eval_every=10**9, max_eval_slices=1),
          progress=False)
    assert under == [False, False]
