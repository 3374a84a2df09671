"""CycleGAN: unpaired image-to-image translation (Zhu et al., ICCV 2017).

The one idea CycleGAN adds: without pairs, a generator A->B could map every image to
*some* realistic B image. Two generators, G: A->B and F: B->A, are tied by *cycle
consistency*: F(G(a)) should give back a, and G(F(b)) give back b. Each domain has a
PatchGAN critic (unconditional: it sees only images of its own domain):

    L = L_adv(D_B(G(a))) + L_adv(D_A(F(b)))
        + lambda_cycle * (|F(G(a)) - a| + |G(F(b)) - b|)
        + lambda_identity * lambda_cycle * (|G(b) - b| + |F(a) - a|)

``lambda_cycle = 10`` as in the paper. The identity term keeps a generator from
changing images that already belong to its output domain; it fits harmonisation (same
contrast, two scanners) and is off by default for cross-contrast tasks, where
``G(b) = b`` would ask a T1->T2 generator to leave T2 images alone. Critics see a
history of generated images (``ImagePool``, Shrivastava et al., CVPR 2017), so they do
not chase the generator's latest output. Generators are the ResNet design of the paper
(Johnson et al., ECCV 2016), written here because MONAI has no image-to-image ResNet;
critics and the adversarial loss come from MONAI (``pix2pix.patch_discriminator``).

For harmonisation the generators are *residual*: output = input + correction, with the
correction's last layer initialised to zero, so training starts from "change nothing"
and only learns what differs between the scanners (a cross-contrast generator has to
build the whole image and starts from scratch).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import PatchAdversarialLoss
from torch import nn

from medsynth_nb.models.base import Synthesiser
from medsynth_nb.models.pix2pix import patch_discriminator
from medsynth_nb.tasks import base_modality


class ImagePool(nn.Module):
    """Buffer of generated images: half of the time the critic gets an older one.

    The buffer is part of the model's state (and its random choices use torch's
    generator), so a checkpointed run resumes exactly where it stopped.
    """

    def __init__(self, size: int, image_shape: tuple[int, int, int]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *image_shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        if images.shape[1:] != self.images.shape[1:]:
            raise ValueError(f"ImagePool holds images of shape {tuple(self.images.shape[1:])}, got "
                             f"{tuple(images.shape[1:])}: build the model for this image size (image_size=...).")
        out = []
        for image in images.detach():
            if self.count < self.size:
                self.images[self.count] = image
                self.count += 1
                out.append(image)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x):
        return x + self.body(x)


def resnet_generator(in_channels: int, out_channels: int, width: int = 32, blocks: int = 6) -> nn.Sequential:
    """7x7 conv, two stride-2 downsamplings, ``blocks`` residual blocks, two upsamplings,
    7x7 conv (the paper uses width 64 and 9 blocks at 256 px)."""
    def down(cin, cout):
        return [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.InstanceNorm2d(cout), nn.ReLU(True)]

    def up(cin, cout):
        return [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1), nn.InstanceNorm2d(cout),
                nn.ReLU(True)]

    return nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), nn.InstanceNorm2d(width), nn.ReLU(True),
        *down(width, 2 * width), *down(2 * width, 4 * width),
        *[ResidualBlock(4 * width) for _ in range(blocks)],
        *up(4 * width, 2 * width), *up(2 * width, width),
        nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7))


class ResidualGenerator(nn.Module):
    """``x + correction(x)``; starts as the identity (zero-initialised last layer)."""

    def __init__(self, correction: nn.Sequential):
        super().__init__()
        self.correction = correction
        nn.init.zeros_(correction[-1].weight)
        nn.init.zeros_(correction[-1].bias)

    def forward(self, x):
        return x + self.correction(x)


def cycle_loss(real_a: torch.Tensor, real_b: torch.Tensor, g_ab, g_ba, fake_b: torch.Tensor | None = None,
               fake_a: torch.Tensor | None = None) -> torch.Tensor:
    """Cycle consistency: |g_ba(g_ab(a)) - a| + |g_ab(g_ba(b)) - b|, each the mean over pixels.
    ``fake_b`` = g_ab(a) and ``fake_a`` = g_ba(b), when the caller has them already (the
    training step needs them for the critics too), are used instead of running the
    generators again."""
    fake_b = g_ab(real_a) if fake_b is None else fake_b
    fake_a = g_ba(real_b) if fake_a is None else fake_a
    return F.l1_loss(g_ba(fake_b), real_a) + F.l1_loss(g_ab(fake_a), real_b)


class CycleGAN(Synthesiser):
    unpaired = True  # trains on SynthesisData.unpaired(): sources and targets from different subjects

    def __init__(self, in_channels: int = 1, image_size: int = 96, width: int = 32, blocks: int = 6,
                 disc_channels: int = 32, lambda_cycle: float = 10.0, lambda_identity: float = 0.0,
                 pool_size: int = 50, lr: float = 2e-4, residual: bool = False):
        super().__init__()
        self.config = {"in_channels": in_channels, "image_size": image_size, "width": width, "blocks": blocks,
                       "disc_channels": disc_channels, "lambda_cycle": lambda_cycle,
                       "lambda_identity": lambda_identity, "pool_size": pool_size, "lr": lr, "residual": residual}
        if residual and in_channels != 1:
            raise ValueError(f"residual=True needs one source channel (input + correction), got {in_channels}.")
        wrap = ResidualGenerator if residual else (lambda generator: generator)
        self.g_ab = wrap(resnet_generator(in_channels, 1, width, blocks))   # source -> target
        self.g_ba = wrap(resnet_generator(1, in_channels, width, blocks))   # target -> source
        self.d_a = patch_discriminator(in_channels, disc_channels)
        self.d_b = patch_discriminator(1, disc_channels)
        self.adversarial = PatchAdversarialLoss(criterion="least_squares", no_activation_leastsq=True)
        self.pool_a = ImagePool(pool_size, (in_channels, image_size, image_size))
        self.pool_b = ImagePool(pool_size, (1, image_size, image_size))

    @classmethod
    def for_task(cls, task, profile, **overrides):
        # Same contrast on both sides (harmonising scanners): the identity term applies. The
        # paper's 0.5 is for photos; for site B -> A T1w (cpu profile, 300 steps) 2.0 kept the
        # anatomy better: harmonised T1w 21.4 -> 23.4 dB, downstream T2w 16.5 -> 17.0 dB.
        same_contrast = [base_modality(s) for s in task.sources] == [base_modality(task.target)]
        overrides.setdefault("lambda_identity", 2.0 if same_contrast else 0.0)
        overrides.setdefault("residual", same_contrast)
        # Four generator passes per step: half pix2pix's width keeps a cpu-profile step near 1 s.
        overrides.setdefault("width", profile.channels[0])
        overrides.setdefault("disc_channels", 2 * profile.channels[0])
        overrides.setdefault("image_size", profile.image_size)
        return cls(in_channels=len(task.sources), **overrides)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.g_ab(source)

    def make_optimizers(self):
        lr, betas = self.config["lr"], (0.5, 0.999)
        generators = list(self.g_ab.parameters()) + list(self.g_ba.parameters())
        critics = list(self.d_a.parameters()) + list(self.d_b.parameters())
        return {"generators": torch.optim.Adam(generators, lr=lr, betas=betas),
                "critics": torch.optim.Adam(critics, lr=lr, betas=betas)}

    def _fools(self, critic, fake):
        return self.adversarial(critic(fake)[-1], target_is_real=True, for_discriminator=False)

    def _critic_loss(self, critic, real, fake):
        real_loss = self.adversarial(critic(real)[-1], target_is_real=True, for_discriminator=True)
        fake_loss = self.adversarial(critic(fake.detach())[-1], target_is_real=False, for_discriminator=True)
        return 0.5 * (real_loss + fake_loss)

    def generator_losses(self, a: torch.Tensor, b: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """Losses of both generators, and the fakes (for the critics' step)."""
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        losses = {"g_adv": self._fools(self.d_b, fake_b) + self._fools(self.d_a, fake_a),
                  "cycle": cycle_loss(a, b, self.g_ab, self.g_ba, fake_b=fake_b, fake_a=fake_a)}
        total = losses["g_adv"] + self.config["lambda_cycle"] * losses["cycle"]
        if self.config["lambda_identity"] > 0:
            losses["identity"] = F.l1_loss(self.g_ab(b), b) + F.l1_loss(self.g_ba(a), a)
            total = total + self.config["lambda_identity"] * self.config["lambda_cycle"] * losses["identity"]
        losses["g_total"] = total
        return losses, fake_a, fake_b

    def train_step(self, batch, update):
        # Unpaired: "source" and "target" of a batch come from different subjects.
        a, b = batch["source"], batch["target"]
        losses, fake_a, fake_b = self.generator_losses(a, b)
        self.d_a.requires_grad_(False)
        self.d_b.requires_grad_(False)
        update(losses["g_total"], "generators")
        self.d_a.requires_grad_(True)
        self.d_b.requires_grad_(True)
        losses["d"] = (self._critic_loss(self.d_a, a, self.pool_a.query(fake_a))
                       + self._critic_loss(self.d_b, b, self.pool_b.query(fake_b)))
        update(losses["d"], "critics")
        return losses
