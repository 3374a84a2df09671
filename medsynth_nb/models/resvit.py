"""ResViT: a CNN generator with vision transformers in its bottleneck (Dalmaz et al., IEEE TMI 2022,
"ResViT: Residual vision transformers for multi-modal medical image synthesis").

The one idea ResViT adds to pix2pix: convolutions see a neighbourhood, self-attention sees
the whole image. A CNN encoder (7 x 7 conv, two stride-2 convs) shrinks the image 4 times;
the bottleneck is a chain of *aggregated residual transformer* (ART) blocks; a CNN decoder
brings it back to full size. An ART block with a transformer cuts its feature map f into
p x p patches, embeds each as a token (plus a learned position), lets every token attend to
every other (MONAI's ``TransformerBlock``), folds the tokens back into a map of f's size,
concatenates it with f (the residual CNN path), compresses the 2C channels back to C and
ends with a residual CNN block. As in the paper, of 9 ART blocks the 1st and the 6th hold a
transformer, and they share its encoder layers (each keeps its own patch and position
embeddings); on a CPU, 6 blocks with transformers in the 1st and 4th (see ``for_task``).
Training is pix2pix's: L1 + LSGAN against a conditional PatchGAN, with Pix2Pix's loss terms.
Scaled down from the paper, which tokenises after two more stride-2 convolutions (1 x 1
patches), compresses channels with a residual 3 x 3 block and uses a pre-trained ViT-B
(12 layers, width 768): here the patch size sets the token count, the compression is a
1 x 1 conv and the small encoder trains from scratch.

The *unified* model (the paper's any-to-any ResViT) takes all modalities of its task, missing
ones zero-filled, and a code: one availability flag per modality and a one-hot target. The
code is embedded and added to every token, not given as constant image channels: instance
normalisation subtracts each channel's spatial mean, so a constant channel would be erased
after the first convolution. Each training step draws, per image, a target modality and a
random non-empty subset of the others as inputs (see ``random_translation``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from monai.losses import PatchAdversarialLoss
from monai.networks.blocks import TransformerBlock
from torch import nn

from medsynth_nb.models.base import Synthesiser, parameter_count
from medsynth_nb.models.cyclegan import ResidualBlock
from medsynth_nb.models.pix2pix import Pix2Pix, patch_discriminator

DOWNSAMPLING = 4  # two stride-2 convolutions between the image and the bottleneck
# Tokens per image the profile aims at. Attention costs tokens^2, but up to ~144 tokens the CNN
# blocks dominate a step; measured (benchmarks/resvit_cost.py, cpu profile, 1 thread, busy machine): 9 tokens
# 0.81 s, 64 tokens 0.96 s, 576 tokens (1 x 1 patches) 2.5 s per step, pix2pix 0.41 s.
TARGET_TOKENS = {"smoke": 16, "cpu": 64, "gpu": 256}


def patch_size_for(bottleneck: int, tokens: int) -> int:
    """The patch size that divides the bottleneck and gives the token count closest to ``tokens``."""
    divisors = [p for p in range(1, bottleneck + 1) if bottleneck % p == 0]
    return min(divisors, key=lambda p: abs(math.log((bottleneck // p) ** 2 / tokens)))


class TransformerEncoder(nn.Module):
    """``depth`` MONAI transformer layers and a final layer norm: the part ART blocks share."""

    def __init__(self, hidden_size: int, num_heads: int, depth: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerBlock(hidden_size, 4 * hidden_size, num_heads, dropout, qkv_bias=True, save_attn=True)
            for _ in range(depth))
        self.norm = nn.LayerNorm(hidden_size)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Transformed tokens, and each layer's attention (B x heads x tokens x tokens)."""
        attention = []
        for layer in self.layers:
            tokens = layer(tokens)
            attention.append(layer.attn.att_mat)  # read now: a shared layer overwrites it at its next use
        return self.norm(tokens), attention


class ARTBlock(nn.Module):
    """Aggregated residual transformer block. With a transformer: f -> p x p patch tokens (+ learned
    positions) -> transformer encoder -> folded back to f's size -> [f, that] -> 1 x 1 channel
    compression -> residual CNN block. Without: the residual CNN block alone. The tokeniser is
    the block's own; the encoder is passed in, so blocks can share one."""

    def __init__(self, channels: int, tokens: int = 0, patch_size: int = 1, hidden_size: int = 0):
        super().__init__()
        self.with_transformer = tokens > 0
        if self.with_transformer:
            # A p x p stride-p convolution is a linear map of each flattened patch; its transpose
            # maps each token back to C x p x p values, folded into place.
            self.embed = nn.Conv2d(channels, hidden_size, patch_size, stride=patch_size)
            self.position = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, tokens, hidden_size), std=0.02))
            self.unembed = nn.ConvTranspose2d(hidden_size, channels, patch_size, stride=patch_size)
            self.compress = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.InstanceNorm2d(channels),
                                          nn.ReLU(True))
        self.residual = ResidualBlock(channels)

    def forward(self, f: torch.Tensor, encoder: TransformerEncoder | None = None,
                condition: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        attention = []
        if self.with_transformer:
            grid = self.embed(f)
            b, d, gh, gw = grid.shape
            tokens = grid.flatten(2).transpose(1, 2) + self.position
            if condition is not None:  # the unified model's code, one vector per image
                tokens = tokens + condition[:, None]
            tokens, attention = encoder(tokens)
            transformed = self.unembed(tokens.transpose(1, 2).reshape(b, d, gh, gw))
            f = self.compress(torch.cat([f, transformed], 1))
        return self.residual(f), attention


class ResViTGenerator(nn.Module):
    """CNN encoder (to 1/4 size) -> ART blocks -> CNN decoder. ``code_size`` > 0: the unified
    model, whose code is embedded and added to every token."""

    def __init__(self, in_channels: int, channels, image_size: int, patch_size: int, hidden_size: int,
                 num_heads: int, depth: int, n_art_blocks: int, transformer_blocks, share_transformer: bool,
                 dropout: float, code_size: int = 0):
        super().__init__()
        c0, c1, c2 = channels
        self.image_size = image_size
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, c0, 7), nn.InstanceNorm2d(c0), nn.ReLU(True),
            nn.Conv2d(c0, c1, 3, stride=2, padding=1), nn.InstanceNorm2d(c1), nn.ReLU(True),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.InstanceNorm2d(c2), nn.ReLU(True))
        tokens = (image_size // DOWNSAMPLING // patch_size) ** 2
        self.art_blocks = nn.ModuleList(
            ARTBlock(c2, tokens, patch_size, hidden_size) if i in transformer_blocks else ARTBlock(c2)
            for i in range(n_art_blocks))
        # With sharing, one encoder serves every ART block that has a transformer; it is held
        # here once (not inside the blocks), so its weights are counted and saved once.
        self.transformers = nn.ModuleList(
            TransformerEncoder(hidden_size, num_heads, depth, dropout)
            for _ in range(1 if share_transformer else len(transformer_blocks)))
        self.slot = {block: 0 if share_transformer else i for i, block in enumerate(transformer_blocks)}
        self.condition = nn.Linear(code_size, hidden_size) if code_size else None
        # The code also scales and shifts the decoder's last features (FiLM, Perez et al. 2018): added to tokens
        # only, it reached the output too weakly - instance norms remove any per-channel constant it adds
        # (measured, cpu profile, 72 s: FLAIR from T1w+T2w+PD 9.5-11.7 dB, below the intensity lookup).
        self.film = nn.Linear(code_size, 2 * c0) if code_size else None
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.InstanceNorm2d(c1), nn.ReLU(True),
            nn.ConvTranspose2d(c1, c0, 3, stride=2, padding=1, output_padding=1), nn.InstanceNorm2d(c0), nn.ReLU(True))
        self.to_image = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(c0, 1, 7))
        self.attention: list[torch.Tensor] = []  # per transformer layer, in forward order, from the last forward

    def forward(self, images: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        if images.shape[-2:] != (self.image_size, self.image_size):
            s = self.image_size
            raise ValueError(f"This ResViT was built for {s} x {s} images (its position embeddings fix the token "
                             f"grid); got {tuple(images.shape[-2:])}. Build one with image_size={images.shape[-1]}.")
        condition = self.condition(code) if self.condition is not None else None
        f = self.encoder(images)
        self.attention = []
        for i, block in enumerate(self.art_blocks):
            encoder = self.transformers[self.slot[i]] if block.with_transformer else None
            f, attention = block(f, encoder, condition)
            self.attention += attention
        features = self.decoder(f)
        if self.film is not None:
            scale, shift = self.film(code)[:, :, None, None].chunk(2, 1)
            features = features * (1 + scale) + shift
        return self.to_image(features)


class ResViT(Pix2Pix):
    """ResViT trained like pix2pix (Pix2Pix's optimizers, critic and loss terms are reused);
    ``unified=True`` makes it the any-to-any model over ``modalities`` (sources, then target)."""

    def __init__(self, in_channels: int = 1, image_size: int = 96, channels=(16, 32, 64), patch_size: int = 3,
                 hidden_size: int = 128, num_heads: int = 4, depth: int = 2, n_art_blocks: int = 9,
                 transformer_blocks=(0, 5), share_transformer: bool = True, dropout: float = 0.0,
                 disc_channels: int = 32, lambda_l1: float = 100.0, lambda_adv: float = 1.0, lr: float = 1e-3,
                 unified: bool = False, modalities=None):
        Synthesiser.__init__(self)  # not Pix2Pix.__init__: that builds a U-Net generator
        transformer_blocks = sorted(set(transformer_blocks))
        modalities = list(modalities) if modalities is not None else None
        self.config = {"in_channels": in_channels, "image_size": image_size, "channels": list(channels),
                       "patch_size": patch_size, "hidden_size": hidden_size, "num_heads": num_heads, "depth": depth,
                       "n_art_blocks": n_art_blocks, "transformer_blocks": transformer_blocks,
                       "share_transformer": share_transformer, "dropout": dropout, "disc_channels": disc_channels,
                       "lambda_l1": lambda_l1, "lambda_adv": lambda_adv, "lr": lr, "unified": unified,
                       "modalities": modalities}
        if image_size % DOWNSAMPLING:
            raise ValueError(f"image_size={image_size}: ResViT needs a multiple of {DOWNSAMPLING} "
                             "(two stride-2 convolutions).")
        bottleneck = image_size // DOWNSAMPLING
        if bottleneck % patch_size:
            working = [p for p in range(1, bottleneck + 1) if bottleneck % p == 0]
            raise ValueError(f"patch_size={patch_size} does not tile the {bottleneck} x {bottleneck} bottleneck of a "
                             f"{image_size} px image; patch sizes that work: {working}.")
        if len(channels) != 3:
            raise ValueError(f"channels={list(channels)}: give the 3 encoder widths (7 x 7 conv, two downsamplings).")
        if not transformer_blocks or not all(0 <= i < n_art_blocks for i in transformer_blocks):
            raise ValueError(f"transformer_blocks={transformer_blocks}: name at least one ART block, by index "
                             f"0..{n_art_blocks - 1}.")
        if unified and (modalities is None or len(modalities) != in_channels + 1):
            raise ValueError(f"A unified ResViT needs its modalities, sources then target ({in_channels} source "
                             f"channel(s) + 1), e.g. modalities=['t1', 't2', 'pd', 'flair']; got {modalities}.")
        n_images = len(modalities) if unified else in_channels
        self.generator = ResViTGenerator(n_images, channels, image_size, patch_size, hidden_size, num_heads, depth,
                                         n_art_blocks, transformer_blocks, share_transformer, dropout,
                                         code_size=2 * n_images if unified else 0)
        # The critic sees the generator's images beside the target; the unified critic also sees the code as
        # constant channels (its first layer has no normalisation, so they are not erased).
        self.discriminator = patch_discriminator((3 if unified else 1) * n_images + 1, disc_channels)
        self.adversarial = PatchAdversarialLoss(criterion="least_squares", no_activation_leastsq=True)

    @classmethod
    def for_task(cls, task, profile, *, unified: bool = False, **overrides):
        image_size = overrides.setdefault("image_size", profile.image_size)
        overrides.setdefault("channels", tuple(profile.channels[:3]))
        overrides.setdefault("hidden_size", profile.channels[-1])
        overrides.setdefault("disc_channels", 2 * profile.channels[0])
        if image_size % DOWNSAMPLING == 0:  # otherwise __init__ explains what works
            overrides.setdefault("patch_size", patch_size_for(image_size // DOWNSAMPLING, TARGET_TOKENS[profile.name]))
        if profile.device != "cuda":
            # Minutes on a CPU buy too few steps for the paper's 9 ART blocks: 6 (transformers in the 1st and 4th)
            # reached 16.0 dB vs 14.7 (cpu profile, 64 px, T1->T2, 108 s: 358 vs 276 steps); on a GPU, the paper's 9.
            overrides.setdefault("n_art_blocks", 6)
            overrides.setdefault("transformer_blocks", (0, 3))
        if unified:
            overrides["modalities"] = [*task.sources, task.target]
        return cls(in_channels=len(task.sources), unified=unified, **overrides)

    @property
    def modalities(self) -> list[str] | None:
        return self.config["modalities"]

    @property
    def token_grid(self) -> tuple[int, int]:
        side = self.config["image_size"] // DOWNSAMPLING // self.config["patch_size"]
        return side, side

    @property
    def patch_pixels(self) -> int:
        """Side of one token's patch in image pixels."""
        return self.config["patch_size"] * DOWNSAMPLING

    def token_at(self, row: int, col: int) -> int:
        """Index of the token whose patch holds image pixel (row, col): a click -> a query token."""
        return (row // self.patch_pixels) * self.token_grid[1] + col // self.patch_pixels

    def describe(self) -> str:
        """One line: sizes, tokens and sharing."""
        c, gen = self.config, self.generator
        b, (gh, gw) = c["image_size"] // DOWNSAMPLING, self.token_grid
        encoders = len(gen.transformers)
        kind = f"unified over {','.join(c['modalities'])}" if c["unified"] else f"{c['in_channels']} source(s)"
        return (f"ResViT ({kind}): {parameter_count(gen) / 1e6:.2f} M generator + "
                f"{parameter_count(self.discriminator) / 1e6:.2f} M critic parameters; bottleneck {c['channels'][-1]} "
                f"x {b} x {b}, patch {c['patch_size']} -> {gh} x {gw} = {gh * gw} tokens of {c['hidden_size']}; "
                f"{c['num_heads']} heads, depth {c['depth']}; transformers in ART blocks {c['transformer_blocks']} "
                f"of {c['n_art_blocks']}, {encoders} encoder{'s' if encoders > 1 else ''} of "
                f"{parameter_count(gen.transformers[0]) / 1e6:.2f} M "
                f"({'shared' if c['share_transformer'] else 'unshared'})")

    def code(self, available: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Availability flags (B x M, bool) and target indices (B) -> the B x 2M code."""
        return torch.cat([available.float(), F.one_hot(target, len(self.modalities)).float()], 1)

    def _task_inputs(self, source: torch.Tensor):
        """The task's translation: every source present, the last modality as target."""
        b, m = source.shape[0], len(self.modalities)
        images = torch.cat([source, torch.zeros_like(source[:, :1])], 1)
        available = torch.arange(m, device=source.device).expand(b, m) < m - 1
        return images, self.code(available, torch.full((b,), m - 1, device=source.device))

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        """The task's target from the task's sources (all of them, for the unified model too)."""
        if self.config["unified"]:
            return self.generator(*self._task_inputs(source))
        return self.generator(source)

    def random_translation(self, batch):
        """For the unified model: per image, a random target modality and a random non-empty
        subset of the others as inputs (each present with probability 1/2). The engine's batch
        holds the task's sources and its target; together they are all the modalities. The
        draws use torch's global generator on the CPU, which checkpoints save, so a resumed
        run draws the same. Returns (zero-filled images, code, target image)."""
        images = torch.cat([batch["source"], batch["target"]], 1)
        b, m = images.shape[:2]
        target = torch.randint(m, (b,))
        available = torch.rand(b, m) < 0.5
        available[torch.arange(b), target] = False
        nothing = ~available.any(1)
        fallback = (target + torch.randint(1, m, (b,))) % m  # any modality but the target
        available[nothing, fallback[nothing]] = True
        available, target = available.to(images.device), target.to(images.device)
        target_images = images[torch.arange(b, device=images.device), target][:, None]
        return images * available[:, :, None, None], self.code(available, target), target_images

    def critic_condition(self, images: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """What the unified critic sees beside the target: the inputs and the code as constant channels."""
        return torch.cat([images, code[:, :, None, None].expand(-1, -1, *images.shape[-2:])], 1)

    def train_step(self, batch, update):
        if not self.config["unified"]:
            return super().train_step(batch, update)
        images, code, target = self.random_translation(batch)
        fake = self.generator(images, code)
        return self.adversarial_update(self.critic_condition(images, code), target, fake, update)

    @torch.no_grad()
    def synthesise(self, images: dict[str, torch.Tensor], target: str) -> torch.Tensor:
        """Unified model: ``target`` (B x 1 x H x W, [0, 1]) from any non-empty subset of the
        other modalities, ``{modality: B x 1 x H x W}``."""
        if not self.config["unified"]:
            raise ValueError("synthesise needs a unified ResViT (unified=True); this one maps its task: use predict.")
        m = self.modalities
        unknown = [k for k in (*images, target) if k not in m]
        if unknown or target in images or not images:
            raise ValueError(f"Give at least one input and a target among {m}, the target not among the inputs; "
                             f"got inputs {sorted(images)} and target {target!r}.")
        first = next(iter(images.values()))
        if any(x.ndim != 4 or x.shape[1] != 1 or x.shape != first.shape for x in images.values()):
            raise ValueError("Every input must be B x 1 x H x W, all the same shape; got "
                             f"{ {k: tuple(x.shape) for k, x in images.items()} }.")
        self.eval()
        device = next(self.parameters()).device
        stack = torch.cat([images[k] if k in images else torch.zeros_like(first) for k in m], 1).to(device)
        available = torch.tensor([k in images for k in m], device=device).expand(first.shape[0], -1)
        code = self.code(available, torch.full((first.shape[0],), m.index(target), device=device))
        return self.generator(stack, code).clamp(0, 1)

    @torch.no_grad()
    @torch.no_grad()
    def attention_maps(self, source: torch.Tensor) -> list[torch.Tensor]:
        """Attention of every transformer layer application, in forward order, for ``source``
        (the task's sources): a list of B x heads x tokens x tokens, rows summing to 1. After
        ``synthesise``, ``self.generator.attention`` holds that call's maps."""
        was_training = self.training
        self.eval()
        self(source)
        self.train(was_training)  # callable from a training hook (attention snapshots)
        return list(self.generator.attention)
