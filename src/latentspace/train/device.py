"""Device and thread selection, and seeded generators."""

from __future__ import annotations

import torch

from ..errors import InputError


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when present, else CPU. ``"cuda"`` without a GPU is an error, not a fallback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda[:N]'; got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda[:N]'; got {device!r}")
    return dev


def set_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(int(threads))


def generator(seed: int, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (every random draw in training uses one)."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed) % (2**63))
    return g


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch: an interrupted run resumed at ``epoch`` draws exactly what it would have."""
    return (int(seed) * 1_000_003 + 7919 * (epoch + 1)) % (2**63)
