"""Exercise checks of chapter 04 (transformers (ResViT))."""
from __future__ import annotations

import torch

from medsynth_nb.analysis import attention
from medsynth_nb.exercises.coding import Case, CodingExercise
from medsynth_nb.exercises.verdict import check, verdict


@check
def check_attention_growth(answer_factor: float, table) -> bool:
    """Chapter 04, exercise 1: how many times more attention memory the smallest patch size
    in the cost table (columns patch, tokens, "attention MB") needs than the largest."""
    rows = table.sort_values("patch")
    truth = float(rows["attention MB"].iloc[0] / rows["attention MB"].iloc[-1])
    ok = abs(float(answer_factor) - truth) <= 0.05 * truth
    token_ratio = rows["tokens"].iloc[0] / rows["tokens"].iloc[-1]
    return verdict(ok, f"{truth:.0f}x: {token_ratio:.0f}x the tokens, and attention stores tokens x tokens "
                        "numbers per head.",
                    "Count the tokens for each patch size ((bottleneck / patch)^2), then remember that every token "
                    "attends to every token.")


@check
def check_best_single_input(answer: str, table, target: str) -> bool:
    """Chapter 04, exercise 2: from the imputation table (columns target, inputs, n_inputs,
    psnr), the one input sequence that synthesises ``target`` best."""
    single = table[(table["target"] == target) & (table["n_inputs"] == 1)]
    if single.empty:
        raise ValueError(f"The table has no single-input rows for target {target!r}; targets: {sorted(set(table.target))}.")
    best = single.sort_values("psnr", ascending=False).iloc[0]
    ok = str(answer).strip().lower() == best["inputs"]
    return verdict(ok, f"{best['inputs']} ({best['psnr']:.1f} dB): the contrast that shares most of {target}'s "
                        "physics.",
                    f"Filter the table to target {target!r} with one input and sort by PSNR.")


def _rollout_cases() -> list[Case]:
    g = torch.Generator().manual_seed(4)
    # Two tokens: the first layer sends everything to token 1, the second to token 0. With the
    # residual half, the layers are [[.5, .5], [0, 1]] and then [[1, 0], [.5, .5]]; their product,
    # later layer on the left, is worked out by hand below (the other order gives [[.75, .25], [.5, .5]]).
    to_second = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).expand(1, 3, 2, 2)
    to_first = torch.tensor([[1.0, 0.0], [1.0, 0.0]]).expand(1, 3, 2, 2)
    return [
        Case("one layer of uniform attention over 4 tokens: 0.5 I + 0.5 / 4 everywhere",
             {"maps": [torch.full((1, 2, 4, 4), 0.25)]}, expected=0.5 * torch.eye(4)[None] + 0.125),
        Case("two layers where every token attends only to itself: the identity",
             {"maps": [torch.eye(5).expand(2, 3, 5, 5)] * 2}, expected=torch.eye(5).expand(2, 5, 5)),
        Case("two layers on 2 tokens, to token 1 then to token 0: the order of the product matters",
             {"maps": [to_second, to_first]}, expected=torch.tensor([[[0.5, 0.5], [0.25, 0.75]]])),
        Case("three layers of random softmax attention, 2 images, 4 heads, 9 tokens (seed 4)",
             {"maps": [torch.randn(2, 4, 9, 9, generator=g).softmax(-1) for _ in range(3)]}),
    ]


check_attention_rollout = CodingExercise(
    name="attention_rollout",
    course=attention.attention_rollout,
    cases=_rollout_cases,
    hint="per layer: the mean over the heads (dim 1), then 0.5 * that + 0.5 * the identity (torch.eye), each row "
         "divided by its sum; then multiply through the layers in forward order with the later layer on the left: "
         "rollout = layer @ rollout.",
    good="Each row of the rollout sums to 1: it shares out, over the input tokens, what reaches one output token.")


def show_rollout(rollout_fn, maps, image, model, query: int, step: int):
    """The trained ResViT ``model``'s rollout for patch ``query`` of ``image`` (the probe slice,
    image 0 of ``maps``), by ``rollout_fn`` (the student's ``attention_rollout`` or the
    course's): prints how much of it stays on the patch against an even spread, and draws it
    (``viz.attention_snapshots`` at training ``step``). Returns the B x T x T rollout."""
    from medsynth_nb import viz

    rollout = rollout_fn([m.detach().cpu() for m in maps])
    tokens = rollout.shape[-1]
    print(f"the patch keeps {float(rollout[0, query, query]):.1%} of its own rollout; an even spread would give "
          f"each of the {tokens} tokens {1 / tokens:.1%}")
    viz.attention_snapshots({step: rollout}, image, model.token_grid, model.patch_pixels, query)
    return rollout
