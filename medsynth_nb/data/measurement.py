"""How a scanner measures, written as operators y = A x: chapter 07's inverse problems.

Reconstruction asks for the image x behind measurements y. Three acquisitions live here:

- ``UndersampledMRI``: an MR scanner measures the Fourier transform of the image (k-space)
  line by line; a faster scan measures fewer phase-encode lines. A = M F, with F the
  orthonormal 2-D FFT and M keeping the sampled lines, a Cartesian mask that keeps the
  centre (the contrast) fully and every R-th line elsewhere, symmetric about the centre
  (fastMRI's convention: phase-encode lines are the columns).
  Because F is orthonormal and M a selection, A A^H = I: the pseudo-inverse is the adjoint,
  and every image splits into a part the measurements fix, A^H A x (the range), and a part
  they say nothing about, (I - A^H A) x (the null space). ``data_consistency`` keeps a
  guess's null-space part and takes the range part from the measurements — the step that
  DDNM (Wang et al., ICLR 2023) and null-space networks (Schwab et al., Inverse Problems
  2019) add to a learned prior.
- ``ParallelBeamCT``: a CT scanner measures line integrals of attenuation along parallel
  rays at each of ``n_views`` angles over 180 degrees (the sinogram, the Radon transform);
  a sparse-view scan measures fewer angles, and filtered back-projection (FBP), the
  classical reconstruction, answers with streaks.
- ``low_dose``: a PET scanner counts photons, so a fraction of the dose gives Poisson
  counts of that fraction of the mean; rescaled, the image stays unbiased and its
  variance grows as 1 / dose.

Images are real tensors ``B x 1 x H x W``; k-space is complex ``B x 1 x H x W``; sinograms
are real ``B x 1 x n_detectors x n_views``.
"""
from __future__ import annotations

import numpy as np
import torch

# scikit-image, not DeepInverse: deepinv 0.5 needs torchvision, which swaps our CPU torch 2.13 for a 3 GB CUDA 2.14.
from skimage.transform import iradon, radon


def cartesian_mask(width: int, acceleration: float, center_fraction: float = 0.08, *,
                   pattern: str = "random", seed: int = 0) -> torch.Tensor:
    """A boolean mask over the ``width`` phase-encode lines, k-space centred (index i holds
    frequency i - width // 2, as k-space is shown): the central ``center_fraction`` fully
    sampled, the rest chosen so that about 1 / ``acceleration`` of all lines are kept.

    Outside the centre the lines are ``"random"`` (fastMRI's single-coil masks; ``seed``
    picks them) or ``"equispaced"`` (MONAI's ``EquispacedKspaceMask`` spacing, adjusted for
    the centre). Equispaced lines fold the image onto copies of itself shifted by
    width / R, coherent aliasing that one coil cannot undo (multi-coil scanners use the
    coils' sensitivities); random lines spread the aliasing as noise-like artefacts that a
    prior can remove (Lustig et al., MRM 2007). Measured (cpu profile, 64 px, noise-free T2w,
    1000 training steps, 4x): a U-Net reached 16.1 dB from random lines against 15.6 dB from
    equispaced ones, a null-space network 17.2 against 17.0 dB.

    Either way a line comes with its mirror line -k, unlike MONAI's masks: the pair keeps a
    real image's zero-filled reconstruction real and data consistency exact. (Mirroring
    MONAI's random-offset equispaced mask turned its 8x into 5.6x at 96 lines, measured.)"""
    if acceleration < 1:
        raise ValueError(f"acceleration must be at least 1 (1 = fully sampled); got {acceleration}.")
    if not 0 < center_fraction <= 1:
        raise ValueError(f"center_fraction must be in (0, 1]; got {center_fraction}.")
    if pattern not in ("random", "equispaced"):
        raise ValueError(f"pattern must be 'random' or 'equispaced'; got {pattern!r}.")
    if acceleration == 1:
        return torch.ones(width, dtype=torch.bool)
    frequency = torch.arange(width) - width // 2
    n_low = max(1, round(width * center_fraction))
    centre = frequency.abs() <= n_low // 2
    if pattern == "equispaced":
        spacing = acceleration * (n_low - width) / (n_low * acceleration - width)  # as MONAI adjusts it
        outer = torch.round(torch.arange(0, width / 2 + 1, spacing)).long()
        return centre | torch.isin(frequency.abs(), outer)
    # Random: pairs +-k outside the centre (k < width / 2: the Nyquist line has no mirror).
    candidates = torch.arange(n_low // 2 + 1, (width + 1) // 2)
    n_pairs = max(0, round((width / acceleration - int(centre.sum())) / 2))
    chosen = candidates[torch.randperm(len(candidates), generator=torch.Generator().manual_seed(seed))[:n_pairs]]
    return centre | torch.isin(frequency.abs(), chosen)


class UndersampledMRI:
    """A = M F for one Cartesian ``mask`` over the columns (phase-encode lines), given
    k-space centred, or a B x W stack of masks, one per image of a batch; ``lines`` is the
    same mask in ``torch.fft.fft2``'s order (DC first)."""

    def __init__(self, mask: torch.Tensor):
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if mask.ndim not in (1, 2):
            raise ValueError(f"mask must be W (one mask) or B x W (one per image); got shape {tuple(mask.shape)}.")
        self.mask = mask
        # B x W masks act image by image: broadcast over the channel and row axes.
        lines = torch.fft.ifftshift(mask, dim=-1)
        self.lines = lines if mask.ndim == 1 else lines[:, None, None, :]

    @classmethod
    def accelerated(cls, width: int, acceleration: float, center_fraction: float = 0.08):
        return cls(cartesian_mask(width, acceleration, center_fraction))

    @property
    def acceleration(self) -> float:
        """All lines over the lines measured."""
        return self.mask.numel() / int(self.mask.sum())  # a B x W operator: over all its images

    def _check(self, x: torch.Tensor) -> None:
        width = self.mask.shape[-1]
        if x.ndim != 4 or x.shape[-1] != width or (self.mask.ndim == 2 and x.shape[0] != len(self.mask)):
            raise ValueError(f"Expected B x C x H x W with W = {width} (the mask's lines)"
                             + (f" and B = {len(self.mask)} (one mask per image)" if self.mask.ndim == 2 else "")
                             + f"; got {tuple(x.shape)}.")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The measured k-space: zero on the lines not measured."""
        self._check(image)
        return torch.fft.fft2(image.to(torch.complex64), norm="ortho") * self.lines.to(image.device)

    def adjoint(self, kspace: torch.Tensor) -> torch.Tensor:
        """A^H y, complex: the zero-filled reconstruction (its magnitude is what a scanner shows)."""
        self._check(kspace)
        return torch.fft.ifft2(kspace * self.lines.to(kspace.device), norm="ortho")

    def zero_filled(self, kspace: torch.Tensor) -> torch.Tensor:
        """The simplest reconstruction: missing lines set to zero (A^H y, real for a
        symmetric mask and a real image; the real part drops rounding)."""
        return self.adjoint(kspace).real

    def data_consistency(self, guess: torch.Tensor, kspace: torch.Tensor) -> torch.Tensor:
        """A^H y + (I - A^H A) guess, by this operator's lines (``data_consistency``)."""
        self._check(guess)
        return data_consistency(guess, kspace, self.lines)


def data_consistency(guess: torch.Tensor, kspace: torch.Tensor, lines: torch.Tensor) -> torch.Tensor:
    """A^H y + (I - A^H A) guess: the guess's k-space with every measured line replaced by
    the measurement ``kspace``. ``lines`` is boolean in fft2's order and broadcasts over the
    B x C x H x W images: W for one mask, B x 1 x 1 x W for one per image (``UndersampledMRI.lines``).
    Measured samples come out exactly as measured; unmeasured ones as the guess had them
    (for a real guess and real-image measurements the result is real)."""
    guess_k = torch.fft.fft2(guess.to(torch.complex64), norm="ortho")
    return torch.fft.ifft2(torch.where(lines.to(guess.device), kspace, guess_k), norm="ortho").real


class ParallelBeamCT:
    """A = the Radon transform at ``n_views`` angles equally spaced over [0, 180) degrees, for
    square ``image_size`` x ``image_size`` images; ``fbp`` is the classical reconstruction.

    The rays cover the whole square, not only its inscribed disc (scikit-image's
    ``circle=False``): the phantom head fills most of the image, and a disc would drop the
    corners. The price is a longer detector, ceil(sqrt(2) * image_size) bins.

    Images, sinograms and reconstructions are torch ``B x 1 x ...`` (float32, returned on the
    input's device) or numpy ``N x ...`` (float32); each method returns the kind it is given."""

    def __init__(self, n_views: int, image_size: int):
        if n_views < 1:
            raise ValueError(f"n_views must be at least 1 (180 is a full scan, fewer a sparse-view one); "
                             f"got {n_views}.")
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8 pixels (the images' height = width); got {image_size}.")
        self.n_views = int(n_views)
        self.image_size = int(image_size)
        self.angles = np.linspace(0, 180, self.n_views, endpoint=False)
        # scikit-image pads the square to its diagonal; ask it rather than copy its arithmetic.
        self.n_detectors = radon(np.zeros((self.image_size,) * 2), [0.0], circle=False).shape[0]

    def _stack(self, array, shape: tuple[int, int], what: str) -> np.ndarray:
        """``array`` as numpy float64 N x shape, checked."""
        is_torch = isinstance(array, torch.Tensor)
        stack = array.detach().cpu().numpy() if is_torch else np.asarray(array)
        expected, ndim = ("B x 1 x H x W tensor", 4) if is_torch else ("N x H x W array", 3)
        if stack.ndim != ndim or (is_torch and stack.shape[1] != 1):
            raise ValueError(f"Expected {what} as a {expected}; got shape {tuple(stack.shape)}.")
        stack = stack.reshape(-1, *stack.shape[-2:])
        if stack.shape[1:] != shape:
            raise ValueError(f"Expected {what} of {shape[0]} x {shape[1]} (this operator's image_size "
                             f"{self.image_size}, n_views {self.n_views}); got {stack.shape[1]} x {stack.shape[2]}. "
                             f"Resize the images or build ParallelBeamCT for their size.")
        return stack.astype(np.float64)

    @staticmethod
    def _like(stack: np.ndarray, reference):
        """``stack`` (N x H x W) back in ``reference``'s kind: torch B x 1 x H x W, or numpy."""
        stack = stack.astype(np.float32)
        if isinstance(reference, torch.Tensor):
            return torch.from_numpy(stack)[:, None].to(reference.device)
        return stack

    def project(self, images):
        """The noise-free sinograms A x: one column of line integrals (in pixel units) per angle."""
        stack = self._stack(images, (self.image_size, self.image_size), "images")
        sinograms = [radon(image, self.angles, circle=False, preserve_range=True) for image in stack]
        return self._like(np.stack(sinograms), images)

    def fbp(self, sinograms):
        """Filtered back-projection with the ramp filter. Not clipped to [0, 1]: streaks from
        missing views go negative, and clipping would hide part of what the chapter shows."""
        stack = self._stack(sinograms, (self.n_detectors, self.n_views), "sinograms")
        images = [iradon(sinogram, self.angles, output_size=self.image_size, filter_name="ramp", circle=False,
                         preserve_range=True) for sinogram in stack]
        return self._like(np.stack(images), sinograms)

    def measure(self, images, noise_sd: float = 0.0, seed: int = 0):
        """Sinograms with Gaussian noise of standard deviation ``noise_sd`` (absolute, in the
        sinogram's units), from a generator seeded with ``seed``."""
        if noise_sd < 0:
            raise ValueError(f"noise_sd must be >= 0 (0 = noise-free); got {noise_sd}.")
        sinograms = self.project(images)
        if noise_sd == 0:
            return sinograms
        noise = np.random.default_rng(seed).normal(0.0, noise_sd, size=tuple(sinograms.shape)).astype(np.float32)
        return sinograms + (torch.from_numpy(noise).to(sinograms.device) if isinstance(sinograms, torch.Tensor)
                            else noise)

    def fbp_of(self, images, noise_sd: float = 0.0, seed: int = 0):
        """The sparse-view reconstruction in one call: FBP of ``measure(images, noise_sd, seed)``."""
        return self.fbp(self.measure(images, noise_sd, seed))


def low_dose(image: torch.Tensor, dose_fraction: float, full_dose_counts: float = 1000.0,
             seed: int = 0) -> torch.Tensor:
    """``image`` (a PET activity map, >= 0) as measured with ``dose_fraction`` of the full
    dose: Poisson counts with mean ``image * full_dose_counts * dose_fraction`` per pixel,
    divided back by that scale, so the mean stays ``image`` and the variance is
    ``image / (full_dose_counts * dose_fraction)``."""
    if not 0 < dose_fraction <= 1:
        raise ValueError(f"dose_fraction must be in (0, 1] (1 = full dose); got {dose_fraction}.")
    if bool((image < 0).any()):
        raise ValueError("A PET activity map cannot be negative; clip or re-normalise it first.")
    scale = full_dose_counts * dose_fraction
    generator = torch.Generator().manual_seed(seed)
    counts = torch.poisson((image.detach().cpu().double() * scale), generator=generator)
    return (counts / scale).to(image.dtype).to(image.device)


def residual_on_measured(operator: UndersampledMRI, image: torch.Tensor, kspace: torch.Tensor) -> float:
    """Largest |A x - y| over the measured samples: 0 (to float precision) for a
    reconstruction that keeps the data, more for one that does not."""
    difference = (operator.forward(image) - kspace).abs()
    return float(torch.where(operator.lines.to(image.device), difference, 0.0).max())
