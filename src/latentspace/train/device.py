"""Device and thread selection, and seeded generators."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..errors import InputError


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when present, else CPU. ``"cuda"`` without a GPU is an error, not a fallback."""
    if device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        local = os.environ.get("LOCAL_RANK")  # under torchrun: one GPU per process
        return torch.device(f"cuda:{int(local) % torch.cuda.device_count()}" if local else "cuda")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda[:N]'; got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda[:N]'; got {device!r}")
    return dev


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` inside the block (``None`` leaves them), and
    put back after: a model's ``threads`` parameter must not change the rest of the process."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def subnormals_flushed() -> bool:
    """Whether this thread flushes subnormal floats to zero (``torch.set_flush_denormal`` has no
    getter: a float32 conversion of 1e-40, a subnormal, tells)."""
    return torch.tensor([1e-40], dtype=torch.float32).item() == 0.0


@contextmanager
def flushing_subnormals() -> Iterator[None]:
    """Subnormal floats flushed to zero inside the block; every thread's setting as it was after.

    Adam's moments of parameters whose gradients are mostly exactly zero (MNIST's blank border
    pixels, dead units) decay into subnormals, which the CPU handles slower (measured here: fused
    AdamW's step on a 784 x 512 layer with a quarter of its moments subnormal, 0.31-0.33 ms against
    0.27 flushed). Flushing changes nothing measurable (values below 1.2e-38).

    ``torch.set_flush_denormal`` sets the calling thread, and threads it starts later inherit the
    setting for good; so torch's CPU thread pool is started first (one parallel operation), and the
    flag reaches this thread's share of the work only. Where the CPU cannot flush it returns False
    and nothing changes.
    """
    was = subnormals_flushed()
    if not was:
        torch.ones(1 << 16).add_(1)  # 2 grains of torch's parallel loops: the pool starts now
    changed = not was and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if changed:
            torch.set_flush_denormal(False)


def generator(seed: int, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (every random draw in training uses one)."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed) % (2**63))
    return g


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch: an interrupted run resumed at ``epoch`` draws exactly what it would have."""
    return (int(seed) * 1_000_003 + 7919 * (epoch + 1)) % (2**63)


def distributed_context(device: torch.device) -> tuple[int, int]:
    """(world size, rank): under ``torchrun`` (WORLD_SIZE > 1) the process group is started here,
    NCCL on GPUs and gloo on CPUs; otherwise (1, 0)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 1, 0
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_world_size(), dist.get_rank()


def is_main_process() -> bool:
    """False on every rank but 0 of a distributed run (those write nothing)."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
