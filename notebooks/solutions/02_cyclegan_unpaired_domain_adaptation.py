"""Chapter 02, coding exercise solved: CycleGAN's cycle-consistency loss. For instructors:
``medsynth solutions 02`` writes the chapter with this filled in."""


def cycle_loss(real_a, real_b, g_ab, g_ba):
    """Cycle consistency: L1(g_ba(g_ab(real_a)), real_a) + L1(g_ab(g_ba(real_b)), real_b).
    real_a, real_b: B x 1 x H x W images of the two domains (not pairs); g_ab, g_ba: the
    generators A -> B and B -> A (functions of a batch). Returns a scalar tensor."""
    back_to_a = g_ba(g_ab(real_a))  # A -> B -> A should give real_a back
    back_to_b = g_ab(g_ba(real_b))  # and B -> A -> B real_b
    return (back_to_a - real_a).abs().mean() + (back_to_b - real_b).abs().mean()
