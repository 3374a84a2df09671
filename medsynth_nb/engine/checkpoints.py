"""Checkpoints: one safetensors file per run, written atomically, never unpickled.

Everything a resumed run needs goes in one file: model weights, optimizer state, random
number generator states (tensors), and the model config, step, elapsed time and history
(JSON in the safetensors metadata). safetensors holds only tensors and strings, so
loading a checkpoint from someone else cannot execute code (unlike ``torch.load`` of a
pickle). The file is written to a temporary name and renamed over the old one, so a run
killed while saving keeps its previous checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from medsynth_nb.io import atomic_write

FORMAT = "medsynth-checkpoint/1"


def _flatten_optimizer(name: str, optimizer: torch.optim.Optimizer, tensors: dict) -> dict:
    """Tensors of the optimizer state into ``tensors``; the rest returned as JSON data."""
    state = optimizer.state_dict()
    plain = {"param_groups": state["param_groups"], "state": {}}
    for idx, per_param in state["state"].items():
        plain["state"][str(idx)] = {}
        for key, value in per_param.items():
            if torch.is_tensor(value):
                tensors[f"optim/{name}/{idx}/{key}"] = value.detach().cpu().contiguous()
                plain["state"][str(idx)][key] = {"tensor": True}
            else:
                plain["state"][str(idx)][key] = value
    return plain


def _unflatten_optimizer(name: str, plain: dict, tensors: dict) -> dict:
    state = {}
    for idx, per_param in plain["state"].items():
        state[int(idx)] = {key: tensors[f"optim/{name}/{idx}/{key}"] if isinstance(v, dict) and v.get("tensor") else v
                           for key, v in per_param.items()}
    return {"param_groups": plain["param_groups"], "state": state}


def save_checkpoint(path: str | Path, model: torch.nn.Module, optimizers: dict, state: dict,
                    rng: dict[str, torch.Tensor] | None = None) -> Path:
    """Write model + optimizers + ``state`` (JSON-able) + ``rng`` tensors to ``path``."""
    path = Path(path)
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optim_plain = {name: _flatten_optimizer(name, opt, tensors) for name, opt in optimizers.items()}
    for key, value in (rng or {}).items():
        tensors[f"rng/{key}"] = value.contiguous()
    metadata = {"format": FORMAT, "config": json.dumps(model.config), "state": json.dumps(state),
                "optimizers": json.dumps(optim_plain)}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path


def read_checkpoint(path: str | Path) -> dict:
    """Tensors and metadata of a checkpoint, with a clear error for a bad file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable checkpoint ({err}). It may be truncated: "
                         "delete it and train again, or restore a copy.") from err
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a MedSynth checkpoint (format {metadata.get('format')!r}, "
                         f"expected {FORMAT!r}).")
    return {
        "tensors": tensors,
        "config": json.loads(metadata["config"]),
        "state": json.loads(metadata["state"]),
        "optimizers": json.loads(metadata["optimizers"]),
    }


def restore(checkpoint: dict, model: torch.nn.Module, optimizers: dict | None = None) -> None:
    """Load weights (and optimizer states) from ``read_checkpoint``'s result."""
    tensors = checkpoint["tensors"]
    model.load_state_dict({k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")})
    for name, opt in (optimizers or {}).items():
        opt.load_state_dict(_unflatten_optimizer(name, checkpoint["optimizers"][name], tensors))


def rng_states(checkpoint: dict) -> dict[str, torch.Tensor]:
    return {k[len("rng/"):]: v for k, v in checkpoint["tensors"].items() if k.startswith("rng/")}
