"""Chapter 03, coding exercise solved: one deterministic DDIM step. For instructors:
``medsynth solutions 03`` writes the chapter with this filled in."""


def ddim_step(x_t, predicted_noise, alpha_bar_t, alpha_bar_prev):
    """One DDIM step with eta = 0, from noise level t to the previous one.
    x_t, predicted_noise: B x 1 x H x W tensors (images in [-1, 1] plus noise, and the noise the
    network sees in x_t); alpha_bar_t, alpha_bar_prev: 0-d tensors in (0, 1], the cumulative
    alphas at t and at the step to go to. Returns x_prev, B x 1 x H x W."""
    # The clean image the noise estimate implies (invert x_t = sqrt(abar) x0 + sqrt(1 - abar) eps) ...
    x0_hat = (x_t - (1 - alpha_bar_t) ** 0.5 * predicted_noise) / alpha_bar_t ** 0.5
    # ... noised again to the previous level with the same noise: deterministic, no fresh draw.
    return alpha_bar_prev ** 0.5 * x0_hat + (1 - alpha_bar_prev) ** 0.5 * predicted_noise
