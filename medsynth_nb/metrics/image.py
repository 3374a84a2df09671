"""Image-quality metrics for synthesis, optionally inside a mask.

- ``psnr``: 10 log10(range^2 / MSE). MONAI's ``PSNRMetric`` has no mask; with
  ``mask=None`` this equals it (checked in the tests).
- ``ssim``: MONAI's Gaussian SSIM map (11 x 11, sigma 1.5, as Wang et al. 2004), averaged
  over the mask; with ``mask=None`` it equals MONAI's ``SSIMMetric``.
- ``mae``: mean absolute error; for CT pass HU images to get HU.
Sharpness is measured per subject against the noise-free truth (``evaluate``'s ``blur_mm``,
from ``metrics.image_quality.blur_fwhm_mm``), not per slice here.

Inputs are tensors or arrays shaped (B, 1, H, W) or (H, W); results are per image."""
from __future__ import annotations

import numpy as np
import torch
from monai.metrics.regression import compute_ssim_and_cs

from medsynth_nb.data.intensity import to_hu
from medsynth_nb.tasks import base_modality

SSIM_KERNEL, SSIM_SIGMA = 11, 1.5


def _as_batch(x) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()
    while x.dim() < 4:
        x = x.unsqueeze(0)
    return x


def _masked_mean(values: torch.Tensor, mask) -> torch.Tensor:
    if mask is None:
        return values.flatten(1).mean(1)
    m = _as_batch(mask).to(values.dtype).expand_as(values)
    return (values * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)


def mae(pred, target, mask=None) -> torch.Tensor:
    pred, target = _as_batch(pred), _as_batch(target)
    return _masked_mean((pred - target).abs(), mask)


def psnr(pred, target, mask=None, data_range: float = 1.0) -> torch.Tensor:
    pred, target = _as_batch(pred), _as_batch(target)
    mse = _masked_mean((pred - target) ** 2, mask)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-12))


def ssim(pred, target, mask=None, data_range: float = 1.0) -> torch.Tensor:
    pred, target = _as_batch(pred), _as_batch(target)
    ssim_map, _ = compute_ssim_and_cs(pred, target, spatial_dims=2, kernel_size=[SSIM_KERNEL] * 2,
                                      kernel_sigma=[SSIM_SIGMA] * 2, data_range=data_range)
    if mask is None:
        return ssim_map.flatten(1).mean(1)
    # The map is "valid" convolution: crop the mask to the same centre region.
    m = _as_batch(mask)
    crop = (m.shape[-1] - ssim_map.shape[-1]) // 2
    m = m[..., crop:crop + ssim_map.shape[-2], crop:crop + ssim_map.shape[-1]]
    return _masked_mean(ssim_map, m)


def image_metrics(pred, target, mask=None, modality: str | None = None) -> dict[str, torch.Tensor]:
    """PSNR, SSIM and MAE of normalised images; for CT also MAE in HU."""
    out = {"psnr": psnr(pred, target, mask), "ssim": ssim(pred, target, mask), "mae": mae(pred, target, mask)}
    if modality is not None and base_modality(modality) == "ct":
        out["mae_hu"] = mae(to_hu(_as_batch(pred)), to_hu(_as_batch(target)), mask)
    return out
