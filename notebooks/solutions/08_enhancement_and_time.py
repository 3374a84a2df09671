"""Chapter 08, coding exercise solved: the Gompertz growth law. For instructors:
``medsynth solutions 08`` writes the chapter with this filled in."""
import numpy as np


def gompertz_volume(v0_ml, carrying_ml, rate_per_day, t_days):
    """The Gompertz volume V(t) = K exp(ln(V0 / K) exp(-a t)), in ml.
    v0_ml: V0, the volume on day 0 (0 < V0 < K); carrying_ml: K; rate_per_day: a; t_days: one day or a numpy
    array of days. Returns the volumes, an array of t_days's shape."""
    t = np.asarray(t_days, dtype=float)  # numpy's exp works element-wise: one volume per day
    # ln(V0 / K) < 0 decays towards 0 as exp(-a t) falls, so V rises from V0 towards K.
    return carrying_ml * np.exp(np.log(v0_ml / carrying_ml) * np.exp(-rate_per_day * t))
