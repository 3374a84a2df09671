"""Exercise checks of chapter 08 (low-field enhancement, and forecasting a growing tumour)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from medsynth_nb.data.growth import Gompertz, sphere_volume_ml
from medsynth_nb.exercises.coding import Case, CodingExercise
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
    truth = float(Gompertz(carrying_ml, rate_per_day).volume_ml(v0_ml, t_days))
    ok = bool(abs(float(answer_ml) - truth) <= 0.01 * truth)
    return verdict(ok, f"{truth:.2f} ml: the law grows almost exponentially while the tumour is small and slows "
                       f"down towards {carrying_ml:g} ml.",
                   "np.exp(np.log(v0 / K) * np.exp(-a * t)) times K; check that t = 0 gives V0 back.")


def _course_gompertz_volume(v0_ml, carrying_ml, rate_per_day, t_days):
    return Gompertz(carrying_ml, rate_per_day).volume_ml(v0_ml, t_days)


def _gompertz_cases() -> list[Case]:
    rng = np.random.default_rng(8)
    half_life = float(np.log(2) / 100)  # exp(-a t) = 1/2 at t = 100 days
    return [
        Case("V0 = 1 ml, K = 100 ml, a = ln 2 / 100 per day, at days 0 and 100: V0, then sqrt(V0 K) = 10 ml "
             "(ln(V0 / K) halves)",
             {"v0_ml": 1.0, "carrying_ml": 100.0, "rate_per_day": half_life, "t_days": np.array([0.0, 100.0])},
             expected=np.array([1.0, 10.0])),
        *[Case(f"random tumour {i + 1} over eight visit days (seed 8)",
               {"v0_ml": float(rng.uniform(0.2, 5.0)), "carrying_ml": float(rng.uniform(50.0, 150.0)),
                "rate_per_day": float(np.exp(rng.uniform(np.log(0.004), np.log(0.02)))),
                "t_days": np.sort(rng.uniform(0.0, 600.0, 8))}) for i in range(2)],
    ]


check_gompertz = CodingExercise(
    name="gompertz_volume",
    course=_course_gompertz_volume,
    where="medsynth_nb.data.growth.Gompertz.volume_ml",
    cases=_gompertz_cases,
    hint="K times the exponential of ln(V0 / K) times exp(-a t); use numpy's exp and log, which work on a whole "
         "array of days at once (math.exp does not). t = 0 must give V0 back.",
    good="Nearly exponential while the tumour is small, it slows down as it nears the carrying volume.")


def growth_table(volume, series, n_subjects: int = 4) -> pd.DataFrame:
    """The tumour core of the first ``n_subjects`` subjects of ``series`` (``load_longitudinal``)
    at every visit: as the phantom rendered it (a sphere of the core's radius) and by
    ``volume`` (the student's gompertz_volume or the course's) from the first visit's core,
    the subject's rate and the visit days."""
    from medsynth_nb.data.longitudinal import CARRYING_ML

    rows = []
    for subject, info in list(series.info["subjects"].items())[:n_subjects]:
        rendered = np.array([sphere_volume_ml(radius) for radius in info["radius_mm"]])
        law = volume(v0_ml=rendered[0], carrying_ml=CARRYING_ML, rate_per_day=info["rate_per_day"],
                     t_days=np.asarray(info["days"]))
        rows += [{"subject": subject, "visit": visit, "day": day, "rate per day": info["rate_per_day"],
                  "rendered core (ml)": r, "law (ml)": float(v)}
                 for visit, (day, r, v) in enumerate(zip(info["days"], rendered, np.asarray(law)))]
    return pd.DataFrame(rows).set_index(["subject", "visit"])


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
