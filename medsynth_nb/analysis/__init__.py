"""Analyses: experiments on trained models, one module per question. Import the module you
need (``from medsynth_nb.analysis import uncertainty``); this package imports none of them
itself, because ``attribution`` loads captum (which imports IPython).

- ``attention``: receptive fields, attention distance and rollout (chapter 04);
- ``cost``: what tokens cost a transformer, in memory and time (chapter 04);
- ``attribution``: captum attributions of an output region, the randomization check,
  attention against attribution (chapter 05);
- ``uncertainty``: five uncertainty methods and the out-of-distribution shifts (chapter 05);
- ``reconstruction``: reconstructions against the measurement's size, data consistency, HU
  per tissue, PET uptake, and the hallucination test (chapter 07);
- ``transfer``: fine-tuning curves, a model from one site adapted to another (chapter 02);
- ``enhancement``: low-field scans enhanced to high-field quality: resolution, noise and
  contrast recovered, the unseen tumour (chapter 08);
- ``longitudinal``: forecast follow-up scans against "no change" and an extrapolated
  outline: image error by gap, tumour volume change and Dice (chapter 08);
- ``realism``: realism distances from a tissue segmenter trained in the course, checked on
  a ladder of known degradations (chapter 09);
- ``scorecard``: one evaluation for every model: fidelity with intervals, error per tissue,
  realism and a downstream task (chapter 09);
- ``leaderboard``: every synthesis model trained and scored on the same subjects (chapter 09);
- ``reader_study``: a 2AFC reader study stored per reader, and model observers (chapter 09);
- ``model_card``: a model card built from a scorecard (chapter 09);
- ``volumes``: slice-wise, 2.5-D and 3-D synthesis of volumes: quality, through-plane
  discontinuity, time and memory (chapter 09).
"""
__all__ = ["attention", "attribution", "cost", "enhancement", "leaderboard", "longitudinal", "model_card",
           "reader_study", "realism", "reconstruction", "scorecard", "transfer", "uncertainty",
           "volumes"]
