"""Metrics: image quality (PSNR, SSIM, MAE, inside a mask; blur in mm against the noise-free
truth), evaluation tables per subject with a task's ceiling (and per setting for chapter 07's
reconstructions), paired statistics, the scores
of uncertainty estimates (``metrics.uncertainty``), resolution and SNR in physical units
(``metrics.image_quality``), the through-plane discontinuity of slice-wise volumes
(``metrics.volume``), a reader study's statistics (``metrics.reader_study``) and realism
distances between image sets (``metrics.realism``)."""
from medsynth_nb.metrics.evaluation import (
                                            compare_samplers,
                                            CEILING,
                                            ceiling,
                                            error_by_label,
                                            evaluate,
                                            evaluate_imputation,
                                            evaluate_model,
                                            gap_closed,
                                            interior_mask,
                                            lesion_contrast,
                                            lesion_fidelity,
                                            predict_set,
                                            summarize,
                                            with_ceiling,
                                            worst_slices,
)
from medsynth_nb.metrics.image import image_metrics, mae, psnr, ssim
from medsynth_nb.metrics.image_quality import blur_fwhm_mm
from medsynth_nb.metrics.reader_study import cohen_kappa, forced_choice_accuracy
from medsynth_nb.metrics.realism import frechet_distance, kernel_mmd, texture_features
from medsynth_nb.metrics.reconstruction import evaluate_reconstruction, reconstruct_set, score_reconstruction
from medsynth_nb.metrics.stats import paired_comparison, rank_correlation
from medsynth_nb.metrics.uncertainty import edge_magnitude
from medsynth_nb.metrics.volume import discontinuity_index, through_plane_gradient_error

__all__ = ["CEILING", "blur_fwhm_mm", "ceiling", "cohen_kappa", "compare_samplers", "discontinuity_index",
           "edge_magnitude", "error_by_label", "evaluate", "evaluate_imputation", "evaluate_model",
           "evaluate_reconstruction", "forced_choice_accuracy", "frechet_distance", "gap_closed", "image_metrics",
           "interior_mask", "kernel_mmd", "lesion_contrast", "lesion_fidelity", "mae", "paired_comparison",
           "predict_set", "psnr", "rank_correlation", "reconstruct_set", "score_reconstruction", "ssim", "summarize",
           "texture_features", "through_plane_gradient_error", "with_ceiling", "worst_slices"]
