"""Exercise checks of chapter 08 (low-field enhancement, and forecasting a growing tumour)."""
from __future__ import annotations

from medsynth_nb.exercises.verdict import check, verdict


@check
def check_low_field_t1(answer_ms: float, field_t: float = 0.064) -> bool:
    """Chapter 08, exercise 1: white matter's T1 at ``field_t`` tesla from its 3 T value and
    the power law T1 ~ B0^0.3 (``data.physics.t1_at_field``)."""
    from medsynth_nb.data import physics

    t1_3t = physics.TISSUE_PROPERTIES["wm"].t1_ms
    truth = physics.t1_at_field(t1_3t, "wm", field_t)
    ok = bool(abs(float(answer_ms) - truth) <= 0.02 * truth)
    return verdict(ok, f"{t1_3t:.0f} ms x ({field_t} / 3)^0.3 = {truth:.0f} ms: at a low field white matter "
                       "relaxes about three times faster, and so does grey matter, so their T1s move closer.",
                   f"Scale the 3 T value ({t1_3t:.0f} ms) by the ratio of the fields raised to 0.3.")


@check
def check_sharpest_enhancer(answer_method: str, table) -> bool:
    """Chapter 08, exercise 2: the enhancement method with the finest effective resolution
    (smallest ``resolution_fwhm_mm`` of ``analysis.enhancement.enhancement_table``, the
    scans and the truth left out)."""
    methods = table.drop(index=[m for m in table.index if "high-field" in m or "low-field" in m])
    truth = str(methods["resolution_fwhm_mm"].idxmin())
    ok = str(answer_method).strip().lower() == truth.lower()
    return verdict(ok, f"{truth}: {methods.loc[truth, 'resolution_fwhm_mm']:.2f} mm. A blurred output scores well on "
                       "PSNR: resolution is a separate question, and the table asks it.",
                   "Read the resolution_fwhm_mm column; smaller is sharper. Leave out the scans and the truth.")


@check
def check_gompertz_volume(answer_ml: float, v0_ml: float, carrying_ml: float, rate_per_day: float,
                          t_days: float) -> bool:
    """Chapter 08, exercise 3: the Gompertz volume after ``t_days``,
    V(t) = K exp(ln(V0 / K) exp(-a t)), written by the student."""
    from medsynth_nb.data.growth import Gompertz

    truth = float(Gompertz(carrying_ml, rate_per_day).volume_ml(v0_ml, t_days))
    ok = bool(abs(float(answer_ml) - truth) <= 0.01 * truth)
    return verdict(ok, f"{truth:.2f} ml: the law grows almost exponentially while the tumour is small and slows "
                       f"down towards {carrying_ml:g} ml.",
                   "np.exp(np.log(v0 / K) * np.exp(-a * t)) times K; check that t = 0 gives V0 back.")


@check
def check_two_priors_help(answer: str, table, one: str, two: str) -> bool:
    """Chapter 08, exercise 4: "yes" if the forecast from two priors (method ``two``) has a
    lower mean MAE than the one from one prior (``one``) over the test subjects of
    ``analysis.longitudinal.forecast_table``, else "no"."""
    means = table.groupby("method")["mae"].mean()
    missing = [m for m in (one, two) if m not in means.index]
    if missing:
        raise ValueError(f"No rows for {missing}; the table has {sorted(means.index)}.")
    truth = "yes" if means[two] < means[one] else "no"
    ok = str(answer).strip().lower() == truth
    return verdict(ok, f"{truth}: mean MAE {means[two]:.4f} with two priors, {means[one]:.4f} with one. Two scans "
                       "and the days between them show how fast this tumour grows; one scan shows only its size.",
                   "Average the mae column per method and compare the two.")
