"""Chapter 07, coding exercise solved: the data-consistency projection. For instructors:
``medsynth solutions 07`` writes the chapter with this filled in."""
import torch


def data_consistency(guess, kspace, lines):
    """The data-consistency projection A^H y + (I - A^H A) guess.
    guess: B x 1 x H x W real images; kspace: B x 1 x H x W complex, the measurement (zero off the measured
    lines); lines: boolean, True on the measured k-space columns, in torch.fft.fft2's order (DC first), of shape
    W (one mask) or B x 1 x 1 x W (one per image). Returns B x 1 x H x W real images whose k-space (fft2,
    norm="ortho") equals kspace on the measured lines and the guess's k-space elsewhere."""
    guess_k = torch.fft.fft2(guess.to(torch.complex64), norm="ortho")  # orthonormal, as the scanner's F
    merged = torch.where(lines, kspace, guess_k)  # measured lines from the scanner, the rest from the guess
    # Both k-spaces come from real images with mirror-symmetric lines: the imaginary part is rounding.
    return torch.fft.ifft2(merged, norm="ortho").real
