"""Training checkpoints in safetensors: weights, optimizer moments, best weights and loop state.

No pickle and no ``torch.load``: tensors go into safetensors, the rest (epoch, history, counters,
optimizer hyper-parameters) into its JSON metadata. Each write replaces the file atomically, so the
last good checkpoint stays loadable whatever happens during the next epoch.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..atomic import atomic_write
from ..errors import InputError, RunIntegrityError

LAST = "last.safetensors"
_META = "latentspace_checkpoint"


def save_checkpoint(directory: Path, module, optimizers: dict, best_state, loop: dict) -> Path:
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    for k, v in module.state_dict().items():
        tensors[f"module.{k}"] = v.detach().cpu().contiguous()
    for k, v in (best_state or {}).items():
        tensors[f"best.{k}"] = v.detach().cpu().contiguous()
    groups = {}
    for name, optimizer in optimizers.items():
        opt = optimizer.state_dict()
        for idx, state in opt["state"].items():
            for key, value in state.items():
                tensors[f"optim.{name}.{idx}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        groups[name] = opt["param_groups"]
    meta = {"loop": loop, "param_groups": groups}
    directory.mkdir(parents=True, exist_ok=True)
    return atomic_write(directory / LAST, save(tensors, metadata={_META: json.dumps(meta)}))


def load_checkpoint(directory: Path, module, optimizers: dict, device) -> tuple[dict | None, dict]:
    """Restore the module and every optimizer in place; return ``(best_state, loop)``."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = directory / LAST
    if not path.is_file():
        raise InputError(f"nothing to resume: no checkpoint at {path}")
    data = path.read_bytes()
    try:
        tensors = load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(json.loads(data[8 : 8 + header_len])["__metadata__"][_META])
    except (SafetensorError, KeyError, ValueError) as exc:
        raise RunIntegrityError(f"{path} is not a readable latentspace checkpoint: {exc}") from None
    own = {k[7:]: v for k, v in tensors.items() if k.startswith("module.")}
    best = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")} or None
    try:
        module.load_state_dict(own)
    except RuntimeError as exc:
        raise InputError(f"{path} was written for another architecture: {exc}") from None
    for name, optimizer in optimizers.items():
        state: dict[int, dict] = {}
        prefix = f"optim.{name}."
        for k, v in tensors.items():
            if k.startswith(prefix):
                idx, key = k[len(prefix) :].split(".", 1)
                state.setdefault(int(idx), {})[key] = v
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"][name]})
    return best, meta["loop"]
