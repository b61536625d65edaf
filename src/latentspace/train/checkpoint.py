"""Training checkpoints in safetensors: weights, optimizer moments, best weights and loop state.

No pickle and no ``torch.load``: tensors go into safetensors, the rest (epoch, history, counters,
optimizer hyper-parameters) into its JSON metadata. Each write replaces the file atomically, so the
previous checkpoint stays loadable whatever happens during the next epoch.

Every checkpoint carries a sha256 of its own content in its metadata (over the header without that
entry, then every tensor byte), like the file checksums of a run folder, and resuming verifies it:
a flipped bit anywhere is refused, naming the file, instead of resuming to other weights. The sum
is unkeyed, so a checkpoint re-signed after editing is still untrusted: every tensor must match the
module's and optimizers' own names and shapes and be finite, and the loop state must have the
types the engine keeps, before anything is loaded.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import torch

from ..atomic import atomic_write
from ..errors import InputError, RunIntegrityError

LAST = "last.safetensors"
_META = "latentspace_checkpoint"
_SHA = "latentspace_checkpoint_sha256"
_MAX_HEADER = 100 << 20  # safetensors' own limit on a header
_COUNTS = ("epoch", "best_epoch", "bad_epochs", "flat_epochs")  # the loop's integer entries
_NUMBERS = ("best", "lr_scale")  # and its numbers (``best`` starts at infinity); others may be null


def _split(data: bytes, where: Path) -> tuple[dict, bytes]:
    """(header, tensor bytes) of a safetensors file, the header parsed as JSON."""
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 < n <= min(len(data) - 8, _MAX_HEADER):
        raise RunIntegrityError(
            f"{where} is not a readable latentspace checkpoint: truncated or not safetensors"
        )
    try:
        header = json.loads(data[8 : 8 + n])
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict) or not isinstance(header.get("__metadata__"), dict):
        raise RunIntegrityError(f"{where} is not a readable latentspace checkpoint: its header is not valid")
    return header, data[8 + n :]


def _digest(header: dict, body: bytes) -> str:
    """sha256 over the header (its checksum entry left out, keys sorted) and the tensor bytes."""
    meta = {k: v for k, v in header["__metadata__"].items() if k != _SHA}
    canonical = json.dumps({**header, "__metadata__": meta}, sort_keys=True, separators=(",", ":"))
    h = hashlib.sha256(canonical.encode())
    h.update(body)
    return h.hexdigest()


def pack(tensors: dict[str, torch.Tensor], meta: dict) -> bytes:
    """The bytes of a checkpoint: ``tensors`` and ``meta`` (JSON) in safetensors, with the sha256
    of the rest in its metadata."""
    from safetensors.torch import save

    text = {_META: json.dumps(meta)}
    header, body = _split(save(tensors, metadata=text), Path("checkpoint"))
    # the tensor bytes and their offsets depend on the tensors alone, not on the metadata
    return save(tensors, metadata={**text, _SHA: _digest(header, body)})


def unpack(data: bytes, where: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, meta) of checkpoint bytes whose checksum holds; else one RunIntegrityError."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    header, body = _split(data, where)
    stored = header["__metadata__"].get(_SHA)
    if stored is None:
        raise RunIntegrityError(
            f"{where} has no checksum (written by an older latentspace?); start again without --resume"
        )
    if stored != _digest(header, body):
        raise RunIntegrityError(
            f"{where} does not match its checksum (truncated, edited or corrupted);"
            " it cannot be resumed: start again without --resume"
        )
    try:
        tensors = load(data)
        meta = json.loads(header["__metadata__"][_META])
    except (SafetensorError, KeyError, ValueError, RecursionError) as exc:
        raise RunIntegrityError(f"{where} is not a readable latentspace checkpoint: {exc}") from None
    if not isinstance(meta, dict):
        raise RunIntegrityError(
            f"{where} is not a readable latentspace checkpoint: its metadata is not an object"
        )
    return tensors, meta


def save_checkpoint(directory: Path, module, optimizers: dict, best_state, loop: dict) -> Path:
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
    return atomic_write(directory / LAST, pack(tensors, meta))


def load_checkpoint(directory: Path, module, optimizers: dict, device) -> tuple[dict | None, dict]:
    """Restore the module and every optimizer in place; return ``(best_state, loop)``.

    The file is verified (checksum, then every name, shape and type) before anything is restored."""
    path = directory / LAST
    if not path.is_file():
        raise InputError(f"nothing to resume: no checkpoint at {path}")
    tensors, meta = unpack(path.read_bytes(), path)
    loop = _check_loop(meta.get("loop"), path)
    own = {k[7:]: v for k, v in tensors.items() if k.startswith("module.")}
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    expected = module.state_dict()
    _check_state(own, expected, "module.", path)
    if best:
        _check_state(best, expected, "best.", path)
    states = _optimizer_states(tensors, optimizers, meta.get("param_groups"), path)
    parts = ("module.", "best.", *(f"optim.{name}." for name in optimizers))
    stray = sorted(k for k in tensors if not k.startswith(parts))
    if stray:
        raise RunIntegrityError(f"{path}: tensor {stray[0]} belongs to no part of the training")
    module.load_state_dict(own)
    for name, optimizer in optimizers.items():
        state, groups = states[name]
        try:
            optimizer.load_state_dict({"state": state, "param_groups": groups})
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise RunIntegrityError(f"{path}: optimizer {name} cannot take its saved state: {exc}") from None
    return ({k: v.to(device) for k, v in best.items()} or None), loop


def _check_loop(loop, path: Path) -> dict:
    """The loop state the engine resumes from: counts, numbers and a history of flat rows."""
    if not isinstance(loop, dict):
        raise RunIntegrityError(f"{path}: its loop state is missing")
    for key in _COUNTS:
        v = loop.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise RunIntegrityError(f"{path}: loop.{key} must be a whole number >= 0, got {_short(v)}")
    for key in _NUMBERS:
        if not _number(loop.get(key), nan=False):
            raise RunIntegrityError(f"{path}: loop.{key} must be a number, got {_short(loop.get(key))}")
    for key, v in loop.items():  # the rest: numbers, or null where nothing is known yet
        if key != "history" and v is not None and not _number(v):
            raise RunIntegrityError(f"{path}: loop.{key} must be a number, got {_short(v)}")
    history = loop.get("history")
    if not isinstance(history, list) or len(history) != loop["epoch"]:
        raise RunIntegrityError(f"{path}: loop.history must list one row per epoch run ({loop['epoch']})")
    for i, row in enumerate(history):
        if not isinstance(row, dict) or not all(_number(v) for v in row.values()):
            raise RunIntegrityError(f"{path}: loop.history[{i}] must map names to numbers")
    return loop


def _number(v, nan: bool = True) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and (nan or not math.isnan(v))


def _short(v) -> str:
    text = repr(v) if not isinstance(v, dict | list) else type(v).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _check_state(state: dict, expected: dict, prefix: str, path: Path) -> None:
    for k, ref in expected.items():
        if k not in state:
            raise RunIntegrityError(f"{path}: tensor {prefix}{k} is missing")
        t = state[k]
        if t.shape != ref.shape or t.dtype != ref.dtype:
            raise RunIntegrityError(
                f"{path}: tensor {prefix}{k} is {t.dtype} {list(t.shape)};"
                f" the model has {ref.dtype} {list(ref.shape)}"
            )
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise RunIntegrityError(f"{path}: tensor {prefix}{k} holds NaN or infinity")
    for k in state:
        if k not in expected:
            raise RunIntegrityError(f"{path}: tensor {prefix}{k} is not part of the model")


def _optimizer_states(tensors: dict, optimizers: dict, groups, path: Path) -> dict[str, tuple[dict, list]]:
    """name -> (state, param_groups) for every optimizer, each moment the shape of its parameter."""
    if not isinstance(groups, dict):
        raise RunIntegrityError(f"{path}: its optimizer settings are missing")
    out = {}
    for name, optimizer in optimizers.items():
        current = optimizer.state_dict()["param_groups"]
        saved = groups.get(name)
        if not isinstance(saved, list) or len(saved) != len(current):
            raise RunIntegrityError(
                f"{path}: optimizer {name} has {len(current)} parameter group(s); the file's differ"
            )
        for i, (old, new) in enumerate(zip(saved, current, strict=True)):
            if not isinstance(old, dict) or old.get("params") != new["params"] or set(old) != set(new):
                raise RunIntegrityError(
                    f"{path}: optimizer {name}'s parameter group {i} does not match the model's"
                )
            for key, value in old.items():
                if key != "params" and not _plain(value):
                    raise RunIntegrityError(
                        f"{path}: optimizer {name} setting {key} must be a number or flag"
                    )
        params = {  # the optimizer's index of each parameter -> the parameter
            i: p
            for g, pg in zip(current, optimizer.param_groups, strict=True)
            for i, p in zip(g["params"], pg["params"], strict=True)
        }
        prefix = f"optim.{name}."
        state: dict[int, dict] = {}
        for k, v in tensors.items():
            if not k.startswith(prefix):
                continue
            idx, _, key = k[len(prefix) :].partition(".")
            p = params.get(int(idx)) if idx.isdigit() else None
            if p is None or not key:
                raise RunIntegrityError(f"{path}: tensor {k} names no parameter of optimizer {name}")
            fits = v.numel() == 1 if key == "step" else (v.shape == p.shape and v.dtype == p.dtype)
            if not fits:
                raise RunIntegrityError(
                    f"{path}: tensor {k} is {v.dtype} {list(v.shape)};"
                    f" its parameter is {p.dtype} {list(p.shape)}"
                )
            if v.is_floating_point() and not torch.isfinite(v).all():
                raise RunIntegrityError(f"{path}: tensor {k} holds NaN or infinity")
            state.setdefault(int(idx), {})[key] = v
        _check_moments(optimizer, state, name, path)
        out[name] = (state, saved)
    return out


def _check_moments(optimizer, state: dict[int, dict], name: str, path: Path) -> None:
    """Adam(W) keeps a step and two moments per parameter (three with amsgrad): all or none."""
    if not isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW):
        return
    amsgrad = any(g.get("amsgrad") for g in optimizer.param_groups)
    need = {"step", "exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if amsgrad else set())
    for idx, entry in sorted(state.items()):
        if set(entry) != need:
            missing = sorted(need - set(entry)) or sorted(set(entry) - need)
            raise RunIntegrityError(
                f"{path}: optimizer {name}'s state of parameter {idx} has {sorted(entry)}, not {sorted(need)}"
                f" ({missing[0]})"
            )


def _plain(value) -> bool:
    """A number, flag, string or null, or a short list of numbers (AdamW's ``betas``)."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    return isinstance(value, list) and len(value) <= 8 and all(isinstance(v, int | float) for v in value)
