"""Exercise checks of chapter 04 (transformers (ResViT))."""
from __future__ import annotations

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
