"""What a transformer's token count costs: generator step time and attention memory against
the patch size (chapter 04). ``benchmarks/resvit_cost.py`` measures whole training steps
and process memory; this is the quick in-notebook version of the same curve."""
from __future__ import annotations

import time

import pandas as pd
import torch

from medsynth_nb.models import build_model
from medsynth_nb.models.base import parameter_count


def token_cost(profile, task: str, image_size: int, patch_sizes, *, repeats: int = 3) -> pd.DataFrame:
    """Per patch size: tokens, generator parameters, ms per generator forward + backward on a
    profile-sized batch, the memory the attention matrices alone take (batch x heads x
    tokens^2 floats per layer use: the part that grows quadratically) and, on a GPU, the peak
    memory of the step."""
    device = torch.device(profile.device)
    rows = []
    for patch in patch_sizes:
        model = build_model("resvit", task, profile, image_size=image_size, patch_size=patch).to(device)
        source = torch.rand(profile.batch_size, model.config["in_channels"], image_size, image_size, device=device)
        model.train()
        model.generator(source).mean().backward()  # warm-up: first-call allocations
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(repeats):
            model.generator(source).mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        ms = 1000 * (time.perf_counter() - start) / repeats
        tokens = model.token_grid[0] * model.token_grid[1]
        layer_uses = len(model.generator.attention)
        heads = model.config["num_heads"]
        rows.append({"patch": patch, "tokens": tokens,
                     "parameters (M)": parameter_count(model.generator) / 1e6,
                     "ms per step": ms,
                     "attention MB": layer_uses * profile.batch_size * heads * tokens**2 * 4 / 2**20,
                     "GPU peak MB": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None})
    return pd.DataFrame(rows)
