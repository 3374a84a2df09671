"""Chapter 00, coding exercise solved: the MR signal equation. For instructors:
``medsynth solutions 00`` writes the chapter with this filled in."""
import numpy as np


def mr_signal(t1_ms, t2_ms, pd, tr_ms, te_ms, ti_ms=None):
    """Magnitude signal of a spin echo (ti_ms None) or an inversion-recovery spin echo, TE << TR.
    t1_ms, t2_ms, pd: numbers or numpy arrays of one shape (one entry per tissue); tr_ms, te_ms,
    ti_ms: the sequence's times in ms (numbers). Returns the signal, in the tissues' shape."""
    recovered = np.exp(-tr_ms / t1_ms)  # what is left of the longitudinal recovery after TR
    if ti_ms is None:
        longitudinal = 1.0 - recovered
    else:
        # Inverted to -1, recovering for TI; the image is the magnitude, so a negative value is bright too.
        longitudinal = np.abs(1.0 - 2.0 * np.exp(-ti_ms / t1_ms) + recovered)
    return pd * longitudinal * np.exp(-te_ms / t2_ms)  # T2 decay until the echo
