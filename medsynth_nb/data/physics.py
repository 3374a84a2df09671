"""Contrast physics of the phantom: tissue properties, MR signal equations, CT and PET.

Each tissue has one set of properties per subject (jittered around the values below);
an image is the fraction-weighted sum of its tissues' signals (partial-volume model),
so rendering is a small matrix product.

Sources of the tissue values (3 T where it matters; approximate, rounded):
- GM / WM T1 and T2: Wansapura et al., JMRI 1999 (3 T: WM T1 ~830 ms, GM ~1330 ms;
  T2 WM ~80 ms, GM ~110 ms); Stanisz et al., MRM 2005 report the same ordering.
- CSF: T1 ~4300 ms at 3 T (Rooney et al., MRM 2007), T2 long (~2000 ms, the water limit).
- Proton density (water content, CSF = 1): WM 0.69, GM 0.84, the means of 21 volunteers
  at 3 T in Front. Neurol. 2019;10:1333 (doi 10.3389/fneur.2019.01333: 69.1 % and 83.7 %).
  (An earlier version said "WM 0.69, GM 0.80, as in BrainWeb"; BrainWeb's simulator uses
  other, relative values, and GM 0.80 was below the measured water content.) Fat T1 ~370 ms,
  T2 ~130 ms at 3 T (Gold et al., AJR 2004).
- Cortical bone: almost no MR signal (T2* well below 1 ms; PD ~0.05 as seen by
  conventional sequences); diploe carries fatty marrow (fat-like T1).
- Tumour: vasogenic oedema has more free water than WM (longer T1/T2, FLAIR bright);
  necrosis is fluid-like but protein-rich (not nulled by FLAIR); enhancing tumour leaks
  gadolinium: 1/T1post = 1/T1 + r1*C with r1 ~4.5 L/mmol/s at 3 T for gadobutrol/
  gadoterate-class agents (Rohrer et al., Invest Radiol 2005) and C ~0.3 mmol/L.
- CT (HU): air -1000, fat ~-90, CSF ~10, WM ~25, GM ~40, oedema lower than WM,
  cortical bone 1500-1900, diploe ~700 (textbook values, e.g. Hsieh, *Computed
  Tomography*, 2015).
- FDG-PET: GM uptake about 2.5-4x WM; high-grade tumour rim hypermetabolic, necrosis
  cold; scanner resolution ~5 mm FWHM (modern whole-body PET).
- Field strength (chapter 08's low-field site): T1 of soft tissue falls with the field as
  a power law of the Larmor frequency, T1 ~ B0^b with b about 0.3-0.4 below 100 MHz
  (Bottomley et al., Med Phys 1984); b = 0.3 here. Free water (CSF) disperses little and
  fat less than tissue. T2 changes little between 0.06 T and 3 T and is kept. Measured
  0.064 T brain values to check against: Jordanova et al., MAGMA 2023.
- Intensity fields: what one session shares. The receive-coil sensitivity (B1-) is a
  multiplicative field set by the coil and where the head lies in it; it does not change
  between the sequences of one sitting, which is why the ratio of a T1w and a T2w image
  of one session cancels it (Glasser & Van Essen, J Neurosci 2011). The transmit field
  (B1+) changes the flip angles, and how much that changes the signal depends on the
  sequence, so each sequence carries a small field of its own: the bias that remains in
  such ratio maps, a few percent (Glasser et al., NeuroImage 2022). Here: one receive
  field per subject, visit and site (``bias_amplitude``), times a per-sequence term of
  amplitude ``transmit_amplitude``. Another visit is another positioning (a new field);
  another site is another scanner and coil (a new field).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from medsynth_nb.tasks import MODALITIES, MR_MODALITIES  # noqa: F401 (physics.MODALITIES: what it renders)

# Tissue channels of the partial-volume model, in this order everywhere.
TISSUES = ("air", "csf", "gm", "wm", "cortical_bone", "diploe", "fat",
           "necrosis", "edema", "enhancing")


@dataclass(frozen=True)
class Tissue:
    t1_ms: float
    t2_ms: float
    pd: float
    hu: float
    fdg: float          # relative FDG uptake (WM = 1)
    gd_mM: float = 0.0  # gadolinium concentration after injection (T1ce)


TISSUE_PROPERTIES: dict[str, Tissue] = {
    "air": Tissue(t1_ms=1.0, t2_ms=1.0, pd=0.0, hu=-1000.0, fdg=0.0),
    "csf": Tissue(t1_ms=4300.0, t2_ms=2000.0, pd=1.0, hu=10.0, fdg=0.1),
    "gm": Tissue(t1_ms=1330.0, t2_ms=110.0, pd=0.84, hu=40.0, fdg=3.0),
    "wm": Tissue(t1_ms=830.0, t2_ms=80.0, pd=0.69, hu=25.0, fdg=1.0),
    "cortical_bone": Tissue(t1_ms=250.0, t2_ms=1.0, pd=0.05, hu=1600.0, fdg=0.2),
    "diploe": Tissue(t1_ms=400.0, t2_ms=60.0, pd=0.35, hu=700.0, fdg=0.3),
    "fat": Tissue(t1_ms=370.0, t2_ms=130.0, pd=0.90, hu=-90.0, fdg=0.3),
    "necrosis": Tissue(t1_ms=2500.0, t2_ms=450.0, pd=0.92, hu=15.0, fdg=0.3),
    "edema": Tissue(t1_ms=1250.0, t2_ms=200.0, pd=0.85, hu=18.0, fdg=0.9),
    "enhancing": Tissue(t1_ms=1600.0, t2_ms=120.0, pd=0.82, hu=40.0, fdg=4.0, gd_mM=0.3),
}
GD_RELAXIVITY = 4.5  # r1, L/(mmol*s) at 3 T
REFERENCE_FIELD_T = 3.0  # the field of TISSUE_PROPERTIES' relaxation times
T1_FIELD_EXPONENT = {"csf": 0.0, "fat": 0.15}  # b in T1 ~ B0^b; every other tissue: 0.3


@dataclass(frozen=True)
class Sequence:
    """A spin-echo (``ti_ms`` None) or inversion-recovery spin-echo sequence."""

    tr_ms: float
    te_ms: float
    ti_ms: float | None = None


def flair_ti(tr_ms: float, t1_csf_ms: float = TISSUE_PROPERTIES["csf"].t1_ms) -> float:
    """Inversion time that nulls CSF: 1 - 2 exp(-TI/T1) + exp(-TR/T1) = 0."""
    return float(t1_csf_ms * np.log(2.0 / (1.0 + np.exp(-tr_ms / t1_csf_ms))))


@dataclass(frozen=True)
class Site:
    """A scanner + protocol: sequence parameters, noise, bias field, resolution.

    Two sites with different parameters give the domain shift of the CycleGAN chapter.
    """

    name: str
    sequences: dict[str, Sequence]
    mr_snr: float = 30.0            # mean WM signal / Rician sigma (before bias)
    bias_amplitude: float = 0.15    # receive field: SD of its log, shared by a session's sequences
    transmit_amplitude: float = 0.02  # per-sequence transmit term: SD of its log (a few percent)
    blur_mm: float = 0.0            # extra in-plane Gaussian blur (lower resolution)
    ct_noise_hu: float = 8.0
    pet_fwhm_mm: float = 5.0
    pet_counts: float = 40.0        # expected counts per unit uptake per voxel (Poisson)
    field_t: float = REFERENCE_FIELD_T  # main field B0: sets the tissues' T1
    slice_mm: float = 0.0           # slice thickness (0: the thin slices the grid samples)


_FLAIR_TR = 9000.0
_SITE_A_SEQUENCES = {
    "t1": Sequence(tr_ms=500.0, te_ms=10.0),
    "t2": Sequence(tr_ms=4000.0, te_ms=100.0),
    "pd": Sequence(tr_ms=5000.0, te_ms=15.0),
    "flair": Sequence(tr_ms=_FLAIR_TR, te_ms=120.0, ti_ms=flair_ti(_FLAIR_TR)),
    "t1ce": Sequence(tr_ms=500.0, te_ms=10.0),
}
SITES: dict[str, Site] = {
    "A": Site(name="A", sequences=_SITE_A_SEQUENCES),
    # Another vendor/protocol: an inversion-prepared T1w (CSF nulled, stronger GM/WM
    # contrast, as MPRAGE-like protocols give; a common multi-site mismatch), longer-TE
    # T2w, noisier, stronger bias, lower in-plane resolution.
    "B": Site(
        name="B",
        sequences={
            "t1": Sequence(tr_ms=2000.0, te_ms=5.0, ti_ms=900.0),
            "t2": Sequence(tr_ms=3000.0, te_ms=120.0),
            "pd": Sequence(tr_ms=3500.0, te_ms=20.0),
            "flair": Sequence(tr_ms=8000.0, te_ms=140.0, ti_ms=flair_ti(8000.0)),
            "t1ce": Sequence(tr_ms=2000.0, te_ms=5.0, ti_ms=900.0),  # post-gadolinium with the same T1w
        },
        mr_snr=18.0, bias_amplitude=0.30, blur_mm=1.5, ct_noise_hu=12.0,
        pet_fwhm_mm=7.0, pet_counts=20.0,
    ),
    # A portable low-field scanner (0.064 T, chapter 08): site A's protocol, so every change
    # of contrast comes from the field (shorter T1), with far less signal (SNR), thick slices
    # (5 mm, as portable brain protocols use) and a coarser in-plane resolution.
    "LF": Site(
        name="LF", sequences=_SITE_A_SEQUENCES, field_t=0.064, mr_snr=8.0, blur_mm=4.0, slice_mm=5.0,
    ),
}


def mr_signal(t1_ms, t2_ms, pd, seq: Sequence):
    """Magnitude signal of a (inversion-recovery) spin echo, TE << TR."""
    e1 = np.exp(-seq.tr_ms / t1_ms)
    if seq.ti_ms is None:
        longitudinal = 1.0 - e1
    else:
        longitudinal = np.abs(1.0 - 2.0 * np.exp(-seq.ti_ms / t1_ms) + e1)
    return pd * longitudinal * np.exp(-seq.te_ms / t2_ms)


def jitter_tissues(rng: np.random.Generator, amount: float = 0.02) -> dict[str, Tissue]:
    """Per-subject tissue properties: each relaxation time, PD and uptake varies by
    ~``amount`` (relative, log-normal); HU by a few HU (bone by more). CSF is nearly pure
    water and varies 4x less, so FLAIR's CSF null (TI set for the nominal T1) holds as
    it does on real scanners. At 2 % no subject's tissue contrasts invert (WM stays
    brighter than GM on T1w: that gap is ~13 % at 3 T)."""
    out = {}
    for name, t in TISSUE_PROPERTIES.items():
        sd = amount / 4 if name == "csf" else amount
        f = lambda: float(np.exp(rng.normal(0.0, sd)))  # noqa: E731 - a tiny local helper
        hu_sd = 60.0 if "bone" in name or name == "diploe" else (0.0 if name == "air" else 3.0)
        out[name] = replace(
            t, t1_ms=t.t1_ms * f(), t2_ms=t.t2_ms * f(), pd=min(1.0, t.pd * f()),
            hu=t.hu + rng.normal(0.0, hu_sd), fdg=t.fdg * f(), gd_mM=t.gd_mM * f(),
        )
    return out


def t1_at_field(t1_ms, tissue: str, field_t: float):
    """T1 of ``tissue`` at ``field_t`` tesla from its T1 at the reference field (3 T)."""
    exponent = T1_FIELD_EXPONENT.get(tissue, 0.3)
    return t1_ms * (field_t / REFERENCE_FIELD_T) ** exponent


def signal_matrix(tissues: dict[str, Tissue], site: Site) -> dict[str, np.ndarray]:
    """Per modality, the noise-free signal of each tissue channel (vector over TISSUES).

    MR modalities are in arbitrary units (PD = 1 tissue at full relaxation = 1), CT in
    HU, PET in relative uptake (WM = 1). Relaxation is taken at the site's field.
    """
    props = [tissues[name] for name in TISSUES]
    t1 = np.array([t1_at_field(p.t1_ms, name, site.field_t) for name, p in zip(TISSUES, props)])
    t2 = np.array([p.t2_ms for p in props])
    pd = np.array([p.pd for p in props])
    gd = np.array([p.gd_mM for p in props])
    t1_post = 1.0 / (1.0 / t1 + GD_RELAXIVITY * gd / 1000.0)  # r1 is per second, T1 in ms
    out = {}
    for modality in MR_MODALITIES:
        seq = site.sequences[modality]
        out[modality] = mr_signal(t1_post if modality == "t1ce" else t1, t2, pd, seq)
    out["ct"] = np.array([p.hu for p in props])
    out["pet"] = np.array([p.fdg for p in props])
    return out
