"""Figures of diffusion (chapter 03): the forward process under several noise schedules."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def forward_process(image: np.ndarray, schedulers: dict, steps, seed: int = 0):
    """The diffusion forward process: ``image`` (in [0, 1]) noised to each of ``steps``
    under each schedule (one row per schedule, the same noise everywhere), and beside
    them each schedule's signal-to-noise ratio abar_t / (1 - abar_t), log scale."""
    import torch

    steps = [int(t) for t in np.atleast_1d(steps)]
    x0 = torch.as_tensor(image, dtype=torch.float32)[None, None] * 2 - 1
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    fig, axes = plt.subplots(len(schedulers), len(steps) + 1, squeeze=False,
                             figsize=(2.2 * len(steps) + 3.4, 2.3 * len(schedulers)),
                             gridspec_kw={"width_ratios": [1] * len(steps) + [1.6]})
    for row, (name, scheduler) in zip(axes, schedulers.items()):
        abar = scheduler.alphas_cumprod.double().numpy()
        for ax, t in zip(row, steps):
            noisy = scheduler.add_noise(x0, noise, torch.tensor([t]))[0, 0].numpy()
            ax.imshow((noisy + 1) / 2, cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{name}, t = {t}", fontsize=9)
            ax.axis("off")
        snr = abar / (1 - abar)
        row[-1].semilogy(snr, color="0.3")
        row[-1].semilogy(steps, snr[steps], "o", color="tab:red")
        row[-1].set_xlabel("step t")
        row[-1].set_ylabel("SNR")
        row[-1].set_ylim(1e-5, 1e4)
    fig.tight_layout()
    return fig
