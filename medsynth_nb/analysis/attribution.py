"""Chapter 05: which input pixels, and which sequence, did the model use for this region of its output?

A synthesis model returns an image, not a class score, so the question is asked of one region:
``region_mask`` marks it, and ``RegionOutput`` turns the model into the scalar captum explains,
the mean synthetic intensity inside the region. ``attribute`` then runs one of ``METHODS``:

- ``integrated_gradients``: gradients averaged along the straight path from a baseline to the
  input, times (input - baseline) (Sundararajan et al., ICML 2017). Its attributions add up to
  f(input) - f(baseline) (completeness; ``completeness_gap`` measures how nearly).
  The baseline is the input blurred (``blurred_baseline``), not the black image: the course's
  networks normalise every feature map per image (instance norm), so they see a dimmed copy
  of a scan as the scan itself, and on the path from black the whole change happens in the
  first 0.01 % of the way, where no affordable number of steps samples it.
- ``saliency``: the plain gradient (Simonyan et al., ICLR 2014 workshop): how the region would
  change for a small change of each input pixel.
- ``gradient_shap``: integrated gradients in expectation over random baselines and random points
  on the path (Lundberg & Lee, NeurIPS 2017), so the map does not hinge on one reference image.
- ``occlusion``: blank one patch of one sequence at a time and see how the region changes
  (Zeiler & Fergus, ECCV 2014): no gradients, only forward passes.
- ``layer_gradcam``: Grad-CAM (Selvaraju et al., ICCV 2017) on a coarse generator layer
  (``default_gradcam_layer``), upsampled to the image.

``modality_shares`` sums a map per input channel: which sequence the model leaned on there.
``cascading_randomisation`` is the sanity check of Adebayo et al. (NeurIPS 2018): a map that
explains the *model* must change when the model's weights are randomised; one that barely
changes shows the input (its edges), whatever the model learned.

The models' forward is used as the function (not ``predict``, which runs without gradients):
every course model takes sources in [0, 1] and returns B x 1 x H x W.
"""
from __future__ import annotations

import copy
import itertools
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from captum.attr import GradientShap, IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion, Saliency
from monai.networks.layers.simplelayers import SkipConnection
from skimage.metrics import structural_similarity
from torch import nn

from medsynth_nb.metrics.stats import rank_correlation
from medsynth_nb.models.resvit import ARTBlock

METHODS = ("integrated_gradients", "saliency", "gradient_shap", "occlusion", "layer_gradcam")
BLUR_SIGMA = 1 / 12  # blurred baseline: Gaussian sigma as a fraction of the image side (8 px at 96 px)
SHAP_BLUR_SIGMAS = (1 / 24, 1 / 12, 1 / 6)  # gradient_shap's baselines: the input blurred this much
OCCLUSION_BATCH = 16   # occluded copies per forward pass: fewer passes, and memory stays small


def region_mask(shape: tuple[int, int], center: tuple[int, int] | None = None, radius: float | None = None,
                box: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """An H x W float mask (1 inside, 0 outside) of the output region to explain: a disc of
    ``radius`` pixels around ``centre`` (row, col), or a ``box`` (r0, r1, c0, c1), rows r0..r1-1
    and columns c0..c1-1 as in slicing. The part outside the image is cut off."""
    height, width = shape
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    if box is not None and center is None and radius is None:
        r0, r1, c0, c1 = box
        inside = (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
        what = f"box={box}"
    elif box is None and center is not None and radius is not None:
        if radius < 0:
            raise ValueError(f"radius={radius}: give a radius >= 0 pixels (0 is the centre pixel alone).")
        inside = (rows - center[0]) ** 2 + (cols - center[1]) ** 2 <= radius ** 2
        what = f"center={center}, radius={radius}"
    else:
        raise ValueError("Give a disc (center=(row, col) and radius) or a box=(r0, r1, c0, c1), not both; got "
                         f"center={center}, radius={radius}, box={box}.")
    if not inside.any():
        raise ValueError(f"The region {what} has no pixel inside the {height} x {width} image; "
                         "move it into the image (rows and columns count from 0 at the top left).")
    return inside.float()


class RegionOutput(nn.Module):
    """``model`` reduced to the scalar captum explains: per image, the mean of the model's output
    inside ``mask`` (H x W), a tensor of shape B. Building it puts the model in eval mode, as
    ``predict`` does: dropout is off, so the attributions are deterministic."""

    def __init__(self, model: nn.Module, mask: torch.Tensor):
        super().__init__()
        if mask.ndim != 2 or not mask.any():
            raise ValueError(f"mask must be a non-empty H x W tensor (see region_mask); got shape "
                             f"{tuple(mask.shape)} with {int(mask.count_nonzero())} pixels set.")
        self.model = model.eval()
        self.register_buffer("mask", mask.float())

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        output = self.model(source)[:, 0]
        return (output * self.mask).sum((-2, -1)) / self.mask.sum()


def default_gradcam_layer(model: nn.Module) -> str:
    """Dotted name of the layer Grad-CAM looks at by default: the generator's coarsest features,
    where each feature sees the most of the image. For a MONAI U-Net (chapters 00-01) that is the
    bottom block inside the innermost skip connection - the skip connections carry detail around
    it, so its Grad-CAM shows what the coarse context contributed; for ResViT the last ART
    block's output, through which everything reaches the decoder."""
    skips = [name for name, module in model.named_modules() if isinstance(module, SkipConnection)]
    if skips:
        return max(skips, key=lambda name: name.count(".")) + ".submodule"
    blocks = [name for name, module in model.named_modules() if isinstance(module, ARTBlock)]
    if blocks:
        return blocks[-1] + ".residual"  # the block returns (features, attention); Grad-CAM needs a tensor
    raise ValueError(f"No default Grad-CAM layer for a {type(model).__name__}: pass layer=, a dotted name from "
                     "[name for name, _ in model.named_modules()] whose output is a feature map.")


def attribute(model: nn.Module, source: torch.Tensor, mask: torch.Tensor, method: str = "integrated_gradients", *,
              baseline=None, n_steps: int = 32, patch: int = 8, layer: str | None = None, n_samples: int = 16,
              seed: int = 0) -> torch.Tensor:
    """How much each pixel of each input sequence in ``source`` (B x C x H x W, in [0, 1]) moved
    the mean output of ``model`` inside ``mask`` (H x W): a map of the source's shape, signed
    (positive: that pixel made the region brighter). ``layer_gradcam`` has no per-sequence
    information and returns B x 1 x H x W, which broadcasts against the source.

    ``baseline``: the reference input of integrated_gradients, gradient_shap and occlusion.
    Default: the source blurred (``blurred_baseline``), "the same scan without its detail", so
    the attributions split the difference between the synthesis and what the model makes of a
    scan whose structures are smeared out. ``"zero"`` is the black image ("no signal"); a
    tensor of the source's shape is used as it is. Other options:
    ``n_steps`` path points (integrated_gradients); ``n_samples`` random draws and ``seed``
    (gradient_shap); ``patch`` side of the occluded squares (occlusion); ``layer`` a dotted
    module name (layer_gradcam, default ``default_gradcam_layer(model)``).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    _check_inputs(source, mask)
    region = RegionOutput(model, mask.to(source.device))
    x = source.detach().requires_grad_(True)  # a new leaf for captum; the caller's tensor stays as it is
    if method == "integrated_gradients":
        return IntegratedGradients(region).attribute(x, baselines=_baseline(x, baseline), n_steps=n_steps)
    if method == "saliency":
        # Signed (captum's default is |gradient|): the sign says whether a brighter pixel brightens
        # the region; functions that need magnitudes take |.| themselves.
        return Saliency(region).attribute(x, abs=False)
    if method == "gradient_shap":
        return _gradient_shap(region, x, baseline, n_samples, seed)
    if method == "occlusion":
        return _occlusion(region, x, baseline, patch)
    return _layer_gradcam(region, model, x, layer or default_gradcam_layer(model))


def _check_inputs(source: torch.Tensor, mask: torch.Tensor) -> None:
    if source.ndim != 4:
        raise ValueError(f"source must be B x C x H x W (e.g. data.test.batch(task, [i])['source']); "
                         f"got shape {tuple(source.shape)}.")
    if tuple(mask.shape) != tuple(source.shape[-2:]):
        raise ValueError(f"The mask is {tuple(mask.shape)} but the images are {tuple(source.shape[-2:])}; "
                         "build it with region_mask(source.shape[-2:], ...).")


def blurred_baseline(source: torch.Tensor, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """``source`` (B x C x H x W) smoothed by a Gaussian of ``sigma`` x the image side (MONAI's
    ``GaussianFilter``): the default reference input of the path and perturbation methods.

    Why not black: MONAI's U-Net and ResViT normalise each feature map per image, so their
    output for a x source barely depends on a once a > 1e-4; from a black baseline the
    integrated-gradients path then changes the output only in its first steps, and 64 path
    points leave a completeness gap of about 100 % (measured on a trained U-Net, tests and
    chapter 05). From a blurred baseline the path runs between two scan-like images and the
    same 64 points close the gap to under 1 %."""
    from monai.networks.layers import GaussianFilter

    return GaussianFilter(spatial_dims=2, sigma=sigma * source.shape[-1]).to(source.device)(source.detach())


def _baseline(x: torch.Tensor, baseline) -> torch.Tensor:
    """The reference input as a tensor of ``x``'s shape (see ``attribute``)."""
    if baseline is None:
        return blurred_baseline(x)
    if isinstance(baseline, str):
        if baseline != "zero":
            raise ValueError(f"baseline={baseline!r}: give None (the blurred input), 'zero' (the black image) or a "
                             "tensor of the source's shape.")
        return torch.zeros_like(x)
    return torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)


@contextmanager
def _seeded(seed: int):
    """torch's and NumPy's global generators seeded with ``seed`` inside (captum's GradientShap
    draws from NumPy's), and the caller's generator states restored after."""
    numpy_state = np.random.get_state()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)


def _gradient_shap(region: RegionOutput, x: torch.Tensor, baseline, n_samples: int, seed: int) -> torch.Tensor:
    """GradientShap over a distribution of baselines: by default each image blurred by each of
    ``SHAP_BLUR_SIGMAS``, so no single amount of removed detail decides the map (Sturmfels et
    al., Distill 2020, compare such baselines). Images are explained one at a time, because
    captum draws every input's baselines from one shared distribution and these are the
    image's own. A given ``baseline`` (N x C x H x W, or one image, or "zero") is used as
    the distribution for every image."""
    def distribution(image):
        if baseline is None:
            return torch.cat([blurred_baseline(image, sigma) for sigma in SHAP_BLUR_SIGMAS])
        given = _baseline(image, baseline) if isinstance(baseline, str) else torch.as_tensor(
            baseline, dtype=x.dtype, device=x.device)
        return given if given.ndim == 4 else given.expand_as(image)

    with _seeded(seed):
        return torch.cat([GradientShap(region).attribute(image, baselines=distribution(image), n_samples=n_samples)
                          for image in x.split(1)])


def _occlusion(region: RegionOutput, x: torch.Tensor, baseline, patch: int) -> torch.Tensor:
    """Occlusion of ``patch`` x ``patch`` squares of one sequence at a time, side by side (stride =
    patch): each square is set to the baseline (by default: blurred, its detail removed) once, so the cost is C * (H / patch) * (W / patch)
    forward passes. Occlusion rather than FeatureAblation with a block mask: the same result
    without building the mask."""
    height, width = x.shape[-2:]
    if patch < 1 or height % patch or width % patch:
        divisors = [p for p in range(1, min(height, width) + 1) if height % p == 0 and width % p == 0]
        raise ValueError(f"patch={patch} does not tile the {height} x {width} image (pixels at the edge would never "
                         f"be occluded); choose one of {divisors}.")
    return Occlusion(region).attribute(x, sliding_window_shapes=(1, patch, patch), strides=(1, patch, patch),
                                       baselines=_baseline(x, baseline), perturbations_per_eval=OCCLUSION_BATCH)


def _layer_gradcam(region: RegionOutput, model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """Grad-CAM on ``layer`` of ``model``, bilinearly upsampled to the image. Without Grad-CAM's
    ReLU: a synthesis region can be pushed darker as well as brighter, and both are evidence."""
    try:
        module = model.get_submodule(layer)
    except AttributeError as error:
        raise ValueError(f"The model has no layer {layer!r} ({error}). Name one from "
                         "[name for name, _ in model.named_modules()], or leave layer=None for "
                         "default_gradcam_layer(model).") from None
    cam = LayerGradCam(region, module).attribute(x, relu_attributions=False)
    return LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")


def completeness_gap(model: nn.Module, source: torch.Tensor, mask: torch.Tensor, n_steps: int = 64,
                     baseline=None) -> float:
    """How far integrated gradients are from completeness (Sundararajan et al., ICML 2017): the
    attributions should add up to f(source) - f(baseline), f the region's mean output. Returns
    |sum(attributions) - (f(source) - f(baseline))| / |f(source) - f(baseline)|, the largest over
    the batch; it shrinks as ``n_steps`` grows (captum's Gauss-Legendre path points)."""
    _check_inputs(source, mask)
    region = RegionOutput(model, mask.to(source.device))
    x, reference = source.detach(), _baseline(source.detach(), baseline)
    _, delta = IntegratedGradients(region).attribute(x, baselines=reference, n_steps=n_steps,
                                                     return_convergence_delta=True)
    with torch.no_grad():
        change = region(x) - region(reference)
    return float((delta.abs() / change.abs().clamp_min(torch.finfo(change.dtype).tiny)).max())


def modality_shares(attribution: torch.Tensor, sources: list[str]) -> pd.Series:
    """Fraction of the total |attribution| that falls on each input channel, indexed by the
    sources' names (in the task's order; they sum to 1): which sequence the model used for the
    region. A map summed over images, if there are several."""
    sources = list(sources)
    if attribution.ndim != 4 or attribution.shape[1] != len(sources):
        raise ValueError(f"Need a B x {len(sources)} x H x W map, one channel per source {sources}; got shape "
                         f"{tuple(attribution.shape)} (a Grad-CAM map has one channel for all sequences).")
    per_channel = attribution.detach().abs().sum((0, 2, 3)).double().cpu()
    if per_channel.sum() == 0:
        raise ValueError("The attribution is zero everywhere, so no sequence has a share; check the region and "
                         "the baseline (an input equal to the baseline gets no attribution).")
    return pd.Series((per_channel / per_channel.sum()).numpy(), index=pd.Index(sources, name="modality"),
                     name="share")


def layers_output_to_input(model: nn.Module, source: torch.Tensor) -> list[str]:
    """Dotted names of the layers with weights (convolutions, linear maps, affine norms, PReLUs:
    modules that own parameters and can ``reset_parameters``) that ``model``'s forward pass on
    ``source`` uses, from the output back to the input. The order is traced in one forward pass
    (eval mode): module order need not be call order, a layer used twice (ResViT's shared
    transformer) counts at its last use, and a critic that forward never calls is left out."""
    layers = {name: module for name, module in model.named_modules()
              if hasattr(module, "reset_parameters") and next(module.parameters(recurse=False), None) is not None}
    last_call, tick = {}, itertools.count()

    def recorder(name):
        def record(*_):
            last_call[name] = next(tick)
        return record

    handles = [module.register_forward_hook(recorder(name)) for name, module in layers.items()]
    try:
        with torch.no_grad():
            model.eval()(source)
    finally:
        for handle in handles:
            handle.remove()
    return sorted(last_call, key=last_call.get, reverse=True)


def cascading_randomization(model: nn.Module, source: torch.Tensor, mask: torch.Tensor,
                            methods=("saliency", "integrated_gradients", "layer_gradcam"), *, n_stages: int = 4,
                            seed: int = 0, **attribute_kwargs) -> pd.DataFrame:
    """The model-parameter randomisation test of Adebayo et al. (NeurIPS 2018), cascading: on a
    copy of ``model`` (the caller's is not touched), re-initialise its layers from the output
    towards the input (``layers_output_to_input``), cumulatively, in ``n_stages`` steps, and
    after each step recompute every method's map (``attribute`` with ``attribute_kwargs``).

    One row per (method, stage): ``layers_randomised`` and ``down_to`` (the deepest one so far);
    ``rank_correlation`` (Spearman) of the |map| with the trained model's |map|, and ``ssim`` of
    the two |maps| each scaled to a maximum of 1, both averaged over the images. Stage "none"
    is the trained model (1 and 1). A method passes if its similarity falls as layers are
    randomised; a map that barely changes shows the input, not what the model learned.
    Re-initialisation is each layer's ``reset_parameters`` (its construction-time initialiser),
    seeded with ``seed``; parameters held outside such layers (ResViT's position embeddings)
    keep their trained values."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods={list(methods)}: give one or more of {', '.join(METHODS)}.")
    if n_stages < 1:
        raise ValueError(f"n_stages={n_stages}: give at least 1 (1 randomises everything at once).")
    randomized = copy.deepcopy(model)
    layers = layers_output_to_input(randomized, source)
    counts = sorted({round(i * len(layers) / n_stages) for i in range(n_stages + 1)})
    rows, reference = [], None
    with _seeded(seed):
        for done, count in zip([0, *counts], counts):
            for name in layers[done:count]:
                randomized.get_submodule(name).reset_parameters()
            maps = {m: attribute(randomized, source, mask, m, seed=seed, **attribute_kwargs).detach().abs().cpu()
                    for m in methods}
            if reference is None:
                reference = maps
            stage = "none" if count == 0 else "all" if count == len(layers) else f"top {count}"
            for m in methods:
                rows.append({"method": m, "stage": stage, "layers_randomized": count,
                             "down_to": layers[count - 1] if count else "",
                             "rank_correlation": _rank_correlation(maps[m], reference[m]),
                             "ssim": _ssim(maps[m], reference[m])})
    return pd.DataFrame(rows)


def _rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman correlation of two maps, per image over all channels and pixels, averaged."""
    return float(np.mean([rank_correlation(u, v) for u, v in zip(a.numpy(), b.numpy())]))


def _ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """SSIM of two non-negative maps, each image scaled to a maximum of 1 (so only the pattern
    counts, not the scale), per channel, averaged."""
    def unit(m):
        return (m / m.max().clamp_min(torch.finfo(m.dtype).tiny)).numpy()
    return float(np.mean([structural_similarity(unit(u), unit(v), data_range=1.0, channel_axis=0)
                          for u, v in zip(a, b)]))


def _pool_to_tokens(values: torch.Tensor, token_grid: tuple[int, int]) -> torch.Tensor:
    """An H x W map summed over each token's patch: a token-grid map (gh x gw)."""
    gh, gw = token_grid
    height, width = values.shape
    return values.reshape(gh, height // gh, gw, width // gw).sum((1, 3))


def attention_vs_attribution(model, source: torch.Tensor, mask: torch.Tensor, *,
                             method: str = "integrated_gradients", **attribute_kwargs) -> dict:
    """Where ResViT's attention says the region looks, against where the attribution says its
    value comes from, on the transformer's token grid (one image, ``source`` 1 x C x H x W).

    ``attention``: attention rollout (``analysis.attention.attention_rollout``) of the
    tokens under ``mask``, averaged with the mask's weight on each token, summing to 1;
    ``attribution``: |attribution| of the region's mean (``attribute``) summed over the
    sequences and over each token's patch, scaled to sum to 1; ``rank_correlation``:
    Spearman between the two over tokens; ``top_token_agreement``: overlap of the quarter
    of tokens each ranks highest (intersection over union). Attention is computed inside
    the network and says what the tokens mixed; attribution follows the gradient from the
    output back to the input pixels, through the CNN paths attention does not see - the two
    need not agree, which is the point of comparing them."""
    from medsynth_nb.analysis.attention import attention_rollout

    if source.shape[0] != 1:
        raise ValueError(f"Give one image (1 x C x H x W); got a batch of {source.shape[0]}.")
    grid = model.token_grid
    query = _pool_to_tokens(mask.float().cpu(), grid).flatten()
    rollout = attention_rollout(model.attention_maps(source))[0].cpu()  # T x T, rows = queries
    attention = (query / query.sum()) @ rollout
    values = attribute(model, source, mask, method, **attribute_kwargs).detach().abs().sum((0, 1)).cpu()
    attribution = _pool_to_tokens(values, grid).flatten()
    attribution = attribution / attribution.sum().clamp_min(torch.finfo(attribution.dtype).tiny)
    top = max(1, len(attention) // 4)
    a, b = ({int(t) for t in v.argsort(descending=True)[:top]} for v in (attention, attribution))
    return {"attention": attention.reshape(grid).numpy(), "attribution": attribution.reshape(grid).numpy(),
            "rank_correlation": rank_correlation(attention.numpy(), attribution.numpy()),
            "top_token_agreement": len(a & b) / len(a | b)}
