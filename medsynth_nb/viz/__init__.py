"""Figures, one module per topic; every function returns a matplotlib figure (and computes
nothing a test could not check apart). Matplotlib only, no widgets: scripts, the CLI and
the tests call them too, and notebooks display the returned figures inline.

``images`` (modalities, predictions, overlays), ``scores`` (training curves, metric
behaviour), ``diffusion`` (chapter 03), ``attention`` (chapter 04), ``explain`` (chapter 05),
``lesions`` (chapter 06), ``reconstruction`` (chapter 07), ``longitudinal`` (chapter 08),
``evaluation`` and ``volumes`` (chapter 09).
"""
from medsynth_nb.viz.attention import (
    attention_distance_plot,
    attention_panel,
    attention_snapshots,
    attention_vs_attribution,
    receptive_fields,
    token_cost_plot,
)
from medsynth_nb.viz.diffusion import forward_process
from medsynth_nb.viz.evaluation import fidelity_vs_realism, image_sets, trial_pair
from medsynth_nb.viz.explain import (
    aleatoric_epistemic,
    attribution_maps,
    calibration_plot,
    explain_panel,
    randomization_plot,
    sparsification_plot,
    uncertainty_maps,
)
from medsynth_nb.viz.images import (
    MODALITY_TITLES,
    QUERY_COLOR,
    TUMOR_COLORS,
    WINDOWS_PHYSICAL,
    outline_box,
    overlay,
    physics_table,
    show_modalities,
    show_predictions,
    window,
)
from medsynth_nb.viz.lesions import controllability_plot, dice_vs_k_plot, lesion_pair, render_comparison
from medsynth_nb.viz.longitudinal import error_vs_gap, forecast_gallery, growth_curves
from medsynth_nb.viz.reconstruction import (
    lesion_closeups,
    metric_vs_setting,
    null_space_split,
    reconstruction_gallery,
    sample_spread,
)
from medsynth_nb.viz.scores import bar_by_label, edge_profiles, metric_sensitivity, plot_history
from medsynth_nb.viz.volumes import difference_profile, orthogonal_views

__all__ = [
    "MODALITY_TITLES",
    "QUERY_COLOR",
    "TUMOR_COLORS",
    "WINDOWS_PHYSICAL",
    "aleatoric_epistemic",
    "attention_distance_plot",
    "attention_panel",
    "attention_snapshots",
    "attention_vs_attribution",
    "attribution_maps",
    "bar_by_label",
    "calibration_plot",
    "controllability_plot",
    "dice_vs_k_plot",
    "difference_profile",
    "edge_profiles",
    "error_vs_gap",
    "explain_panel",
    "fidelity_vs_realism",
    "forecast_gallery",
    "forward_process",
    "growth_curves",
    "image_sets",
    "lesion_closeups",
    "lesion_pair",
    "metric_sensitivity",
    "metric_vs_setting",
    "null_space_split",
    "orthogonal_views",
    "outline_box",
    "overlay",
    "physics_table",
    "plot_history",
    "randomization_plot",
    "receptive_fields",
    "reconstruction_gallery",
    "render_comparison",
    "sample_spread",
    "show_modalities",
    "show_predictions",
    "sparsification_plot",
    "token_cost_plot",
    "trial_pair",
    "uncertainty_maps",
    "window",
]
