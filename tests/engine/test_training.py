

def test_validation_scores_leave_the_blur_fit_out(tiny_data):
    """The loop's validation is PSNR / SSIM / MAE: the blur fit costs a fit per subject and
    reads nothing (NaN) on a model early in training."""
    from medsynth_nb.engine.training import validate
    from medsynth_nb.models import build_model
    from medsynth_nb.profiles import get_profile

    scores = validate(build_model("unet", "t1:t2", get_profile("smoke")), tiny_data, "t1:t2", 4, "cpu")
    assert set(scores) == {"psnr", "ssim", "mae"}
