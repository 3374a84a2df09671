"""Chapter 01, coding exercise solved: pix2pix's generator loss. For instructors:
``medsynth solutions 01`` writes the chapter with this filled in."""


def pix2pix_generator_loss(critic_logits, fake, target, lambda_l1):
    """The generator's loss: LSGAN term on the critic's patch logits + lambda_l1 x L1(fake, target).
    critic_logits: B x 1 x h x w; fake, target: B x 1 x H x W; returns a scalar tensor."""
    adversarial = ((critic_logits - 1) ** 2).mean()  # the critic should call every patch real (1)
    l1 = (fake - target).abs().mean()
    return adversarial + lambda_l1 * l1
