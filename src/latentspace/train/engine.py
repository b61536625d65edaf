"""The training engine shared by every neural model.

Data lives in one preloaded tensor on the training device and is batched by index (no DataLoader,
no per-sample Python). Each epoch draws its shuffling and its noise from a generator seeded by
(seed, epoch), so a run resumed from a checkpoint replays exactly the epochs it missed. After every
epoch (every few epochs when there are more than MAX_CHECKPOINTS, and at least once a minute) the
engine writes a checkpoint atomically; a non-finite loss stops training at once with the epoch and
step, leaving the previous checkpoint intact.

Small data get enough optimiser steps: with ``min_steps`` set, the epoch count is raised until the
epochs hold that many steps (``Trainer.plan``); every history row records the steps so far.

Data parallelism: the engine only ever touches ``self._train_index`` (this process's rows) and
writes checkpoints through ``self._is_main``; a DistributedDataParallel version shards the index per
rank, wraps the module, and all-reduces the epoch sums in ``_reduce``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.source import RowSource, RowSubset, is_streamed, random_access_copy
from ..errors import LatentspaceError
from ..progress import report
from .checkpoint import LAST, load_checkpoint, save_checkpoint
from .device import distributed_context, epoch_seed, flushing_subnormals, generator

log = logging.getLogger(__name__)

GATHER_ROWS = 8192  # training rows gathered per bulk copy (see Trainer._batches)

# loss_fn(batch (B, d), progress in epochs (float), generator, training?, phase name)
#   -> {"loss": scalar to minimise, other named metrics...}
LossFn = Callable[[torch.Tensor, float, torch.Generator, bool, str], dict[str, torch.Tensor]]


@dataclass
class Phase:
    """One optimiser and the parameters it updates. Several phases per step alternate in order
    (a GAN's discriminator, then its generator); each gets its own AdamW."""

    name: str
    params: list
    betas: tuple[float, float] = (0.9, 0.999)


class TrainingDiverged(LatentspaceError, FloatingPointError):
    """The loss became NaN or infinite, or rose far above its value at the first step; the message
    names the epoch (and step), the checkpoint, and what to change."""

    def __init__(self, happened: str, lr: float, checkpoint: str | None = None):
        self.happened, self.lr, self.checkpoint = happened, lr, checkpoint
        saved = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint is kept"
        super().__init__(
            f"training stopped: {happened}; {saved}. Lower --lr (now {lr:g}), set grad_clip,"
            " or check the data scale."
        )

    def without_checkpoint(self) -> TrainingDiverged:
        """The same report once its checkpoints have been removed."""
        return TrainingDiverged(self.happened, self.lr)


# An epoch whose monitored loss lies this many times the first step's magnitude above the first
# step's loss has diverged: at the learning rates where training works the loss falls, and at
# those where it does not it grows by orders of magnitude within an epoch (a VAE on scikit-learn's
# digits: first step 44.5; lr 1e-3 ends near 27; lr 0.5 reaches 1.6e5 in epoch 1, lr 1000 7e17).
DIVERGED_FACTOR = 1000.0


# A fit of many short epochs (2,000 steps on 160 rows are 1,000 epochs of 2 batches) saves a checkpoint
# every ceil(epochs / MAX_CHECKPOINTS)-th epoch, once CHECKPOINT_SECONDS have passed since the last one,
# and after the last epoch, not after every epoch: a save took 40 ms for a small VAE on a busy 2-core
# machine, as long as its 2 training steps, so 1,000 of them doubled the fit's time.
MAX_CHECKPOINTS = 50
CHECKPOINT_SECONDS = 60.0


def split_sizes(n: int, val_fraction: float) -> tuple[int, int]:
    """(training rows, validation rows) of ``n`` rows: the engine holds out ``val_fraction`` of them
    (none below 10 rows)."""
    n_val = int(round(val_fraction * n)) if n >= 10 else 0
    return n - n_val, n_val


@dataclass
class TrainSettings:
    """Everything the loop needs besides the model and the data (all from model parameters)."""

    epochs: int = 30
    min_steps: int = 0  # at least this many optimiser steps: epochs are raised to reach it (see plan)
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    val_fraction: float = 0.1  # share of the training rows held out for validation / early stopping
    patience: int | None = None  # stop after this many epochs without a better validation loss
    lr_schedule: str = "constant"  # "constant" | "cosine" | "plateau" (halve after 2 flat epochs)
    grad_clip: float | None = None  # max global gradient norm
    seed: int = 0
    device: torch.device = torch.device("cpu")
    checkpoint_dir: Path | None = None
    resume: bool = False


def _adamw(phase: Phase, s: TrainSettings) -> torch.optim.Optimizer:
    """AdamW, ``fused=True`` where torch has the kernel for the device: on the CPU the MNIST VAE's
    optimiser step took 0.3-0.5 ms fused against 11-30 ms for ``foreach`` or the per-parameter loop
    (2 threads, a busy machine), and a whole training step 8.7 ms against 9.9 with ``foreach``."""
    kwargs = dict(lr=s.lr, betas=phase.betas, weight_decay=s.weight_decay)
    if s.device.type in ("cpu", "cuda") and all(p.dtype == torch.float32 for p in phase.params):
        try:
            return torch.optim.AdamW(phase.params, fused=True, **kwargs)
        except (RuntimeError, TypeError):  # an older torch or an unsupported device
            pass
    return torch.optim.AdamW(phase.params, **kwargs)


class _Objective(torch.nn.Module):
    """The loss as a module over the model, the form DistributedDataParallel wraps."""

    def __init__(self, module: torch.nn.Module, loss_fn: LossFn):
        super().__init__()
        self.module = module
        self.loss_fn = loss_fn

    def forward(self, batch, progress, gen, training, phase):
        return self.loss_fn(batch, progress, gen, training, phase)


class _Streamed:
    """Training rows that stay on disk: each block of rows is read (in ascending row order, then put
    in the order asked for) by a background thread while the previous block trains."""

    def __init__(self, X, device: torch.device):
        self.source = X if isinstance(X, RowSource) else RowSubset(X, np.arange(X.shape[0]))
        self.shape = tuple(X.shape)
        self.device = device

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.source.take(index.cpu().numpy())).to(self.device)

    def blocks(self, indices: list[torch.Tensor]):
        """The rows of each index tensor in turn, the next one read ahead."""
        if not indices:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="latentspace-read") as pool:
            ahead = pool.submit(self.rows, indices[0])
            for i in range(len(indices)):
                block = ahead.result()
                if i + 1 < len(indices):
                    ahead = pool.submit(self.rows, indices[i + 1])
                yield block


class Trainer:
    """Fits ``module`` by minimising ``loss_fn`` over the rows of ``X``."""

    def __init__(
        self,
        module: torch.nn.Module,
        loss_fn: LossFn,
        settings: TrainSettings,
        phases: list[Phase] | None = None,
        epoch_report: Callable[[], dict[str, float]] | None = None,
    ):
        self.module = module
        self.epoch_report = epoch_report  # extra numbers for each epoch's history row
        self.loss_fn = loss_fn
        self.s = settings
        self.phases = phases or [Phase("main", [p for p in module.parameters() if p.requires_grad])]
        self.world, self.rank = distributed_context(settings.device)
        self._is_main = self.rank == 0
        self._objective = loss_fn
        if self.world > 1:  # DistributedDataParallel over the loss, so gradients are averaged
            from torch.nn.parallel import DistributedDataParallel

            dev = settings.device
            self._objective = DistributedDataParallel(
                _Objective(module, loss_fn),
                device_ids=[dev.index or 0] if dev.type == "cuda" else None,
                find_unused_parameters=True,  # a GAN phase, or an unused likelihood scale, leaves some idle
            )
        self.history: list[dict] = []
        self.epochs = settings.epochs  # the epochs planned (``plan``), set when training starts
        self._first_loss: float | None = None

    # --- hooks for data parallelism and tests ---------------------------------------------------
    def _reduce(self, sums: dict[str, float], count: int) -> tuple[dict[str, float], int]:
        """Metric sums and row counts added up over the ranks of a distributed run."""
        if self.world == 1:
            return sums, count
        import torch.distributed as dist

        keys = sorted(sums)
        t = torch.tensor([sums[k] for k in keys] + [float(count)], dtype=torch.float64, device=self.s.device)
        dist.all_reduce(t)
        return {k: float(v) for k, v in zip(keys, t[:-1].tolist(), strict=True)}, int(t[-1].item())

    def _end_of_epoch(self, epoch: int) -> None:
        """Called after each epoch's checkpoint (tests interrupt training here)."""

    # --- the plan ------------------------------------------------------------------------------
    def steps_per_epoch(self, n: int) -> int:
        """Optimiser steps (global batches) in one epoch over ``n`` rows."""
        return max(1, math.ceil(split_sizes(n, self.s.val_fraction)[0] / self.s.batch_size))

    def plan(self, n: int) -> int:
        """Epochs to run on ``n`` rows: ``epochs``, raised when that many passes would take fewer than
        ``min_steps`` optimiser steps (small data). Early stopping (``patience``) may stop sooner."""
        if not self.s.min_steps:
            return self.s.epochs
        return max(self.s.epochs, math.ceil(self.s.min_steps / self.steps_per_epoch(n)))

    # --- the loop -------------------------------------------------------------------------------
    def fit(self, X: np.ndarray) -> list[dict]:
        """Train on the rows of ``X``: an in-memory array (copied once to the device) or data on disk
        (a memory map or a RowSource), read GATHER_ROWS rows at a time, one block ahead. Subnormal
        floats are flushed to zero while it trains (see ``flushing_subnormals``)."""
        with flushing_subnormals():
            if not is_streamed(X):
                data = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(self.s.device)
                return self._fit(data)
            with random_access_copy(X, where=self.s.checkpoint_dir) as rows:  # Parquet, Dask: on disk
                return self._fit(_Streamed(rows, self.s.device))

    def _fit(self, data) -> list[dict]:
        s = self.s
        n = data.shape[0]
        split_gen = torch.Generator().manual_seed(s.seed)
        perm = torch.randperm(n, generator=split_gen)
        n_val = split_sizes(n, s.val_fraction)[1]
        self.epochs = epochs = self.plan(n)
        per_epoch = self.steps_per_epoch(n)
        if epochs > s.epochs and self._is_main:
            log.info(
                "training %d epochs instead of %d: %d epochs of %d batches would be %d optimiser steps,"
                " fewer than min_steps = %d",
                epochs,
                s.epochs,
                s.epochs,
                per_epoch,
                s.epochs * per_epoch,
                s.min_steps,
            )
        every = max(1, math.ceil(epochs / MAX_CHECKPOINTS))
        saved_at = time.monotonic()
        self._val_index = perm[:n_val].to(s.device)
        self._train_index = perm[n_val:].to(s.device)
        opts = {ph.name: _adamw(ph, s) for ph in self.phases}
        loop = {
            "epoch": 0,
            "best": math.inf,
            "best_epoch": 0,
            "bad_epochs": 0,
            "lr_scale": 1.0,
            "flat_epochs": 0,
            "first_loss": None,  # the loss of the untrained model's first batch (one phase only)
            "history": [],
        }
        best_state = None
        if s.resume and s.checkpoint_dir is not None and (s.checkpoint_dir / LAST).is_file():
            best_state, loop = load_checkpoint(s.checkpoint_dir, self.module, opts, s.device)
            log.info("resuming after epoch %d from %s", loop["epoch"], s.checkpoint_dir)
        self.history = loop["history"]
        for epoch in range(loop["epoch"], epochs):
            if s.patience is not None and loop["bad_epochs"] >= s.patience:
                break
            t0 = time.perf_counter()
            lr = self._lr(epoch, loop["lr_scale"])
            for opt in opts.values():
                for group in opt.param_groups:
                    group["lr"] = lr
            train = self._train_epoch(data, opts, epoch)
            # the rise and no-learning checks speak of the model's own objective and its --lr: one
            # "main" phase (a GAN's phases and its encoder stage report their own failures)
            if epoch == 0 and [p.name for p in self.phases] == ["main"] and self._first_loss is not None:
                total, ranks = self._reduce({"first": self._first_loss}, 1)  # the same on every rank
                loop["first_loss"] = total["first"] / ranks
            val = self._evaluate(data, self._val_index, epoch) if n_val else {}
            monitored = val.get("loss", train["loss"])
            self._check_rise(loop.get("first_loss"), monitored, epoch, "validation" if n_val else "training")
            improved = not math.isfinite(loop["best"]) or monitored < loop["best"]
            if improved:
                loop.update(best=monitored, best_epoch=epoch + 1, bad_epochs=0, flat_epochs=0)
                best_state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
            else:
                loop["bad_epochs"] += 1
                loop["flat_epochs"] += 1
                if s.lr_schedule == "plateau" and loop["flat_epochs"] >= 2:
                    loop["lr_scale"] *= 0.5
                    loop["flat_epochs"] = 0
            row = {
                "epoch": epoch + 1,
                "steps": (epoch + 1) * per_epoch,  # optimiser steps so far (each phase takes one per batch)
                "lr": lr,
                "seconds": round(time.perf_counter() - t0, 4),
            }
            row.update({f"train_{k}": v for k, v in train.items()})
            row.update({f"val_{k}": v for k, v in val.items()})
            if self.epoch_report is not None:
                row.update(self.epoch_report())
            self.history.append(row)
            loop["epoch"] = epoch + 1
            loop["history"] = self.history
            last = epoch + 1 == epochs or (s.patience is not None and loop["bad_epochs"] >= s.patience)
            due = (epoch + 1) % every == 0 or last or time.monotonic() - saved_at >= CHECKPOINT_SECONDS
            if s.checkpoint_dir is not None and self._is_main and due:
                save_checkpoint(s.checkpoint_dir, self.module, opts, best_state, loop)
                saved_at = time.monotonic()
            self._end_of_epoch(epoch + 1)
        if self._is_main and 0 < loop["epoch"] < epochs:  # stopped early: the progress task ends here
            done = per_epoch * epochs
            report("training", done, done, f"stopped early after epoch {loop['epoch']}/{epochs}")
        if best_state is not None and n_val:
            self.module.load_state_dict(best_state)  # keep the weights of the best validation epoch
        first = loop.get("first_loss")
        if self._is_main and first is not None and self.history and loop["best"] >= first:
            log.warning(
                "the model learned nothing: its best %s loss (%.4g) is no lower than the untrained"
                " model's first batch (%.4g). Lower --lr (now %g), train longer, or check the data scale.",
                "validation" if n_val else "training",
                loop["best"],
                first,
                s.lr,
            )
        return self.history

    def _lr(self, epoch: int, scale: float) -> float:
        if self.s.lr_schedule == "cosine":
            return self.s.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))
        return self.s.lr * scale

    def _train_epoch(self, data: torch.Tensor, opts: dict, epoch: int) -> dict[str, float]:
        s = self.s
        self.module.train()
        gen = generator(epoch_seed(s.seed, epoch), s.device)
        idx = self._train_index
        order = idx[torch.randperm(len(idx), generator=gen, device=s.device)]
        steps = math.ceil(len(order) / s.batch_size)
        # metric sums: on an accelerator added up on the device (no sync per metric per step); on
        # the CPU as Python floats (reading a value is cheaper than two tensor operations)
        on_cpu = s.device.type == "cpu"
        sums: dict = {}
        last = self.phases[-1].name
        every = max(1, steps // 100)  # progress reports: about 100 per epoch, always the last step
        running = 0.0
        seen = 0
        for step, batch, share in self._batches(data, order):
            seen += len(batch)
            for phase in self.phases:
                opt = opts[phase.name]
                progress = epoch + step / steps
                out = self._objective(batch, progress, gen, True, phase.name)
                loss = out["loss"]
                value = loss.item()
                if not math.isfinite(value):
                    self._diverged(epoch, step, value)
                if step == 0 and epoch == 0:
                    self._first_loss = value
                opt.zero_grad(set_to_none=True)
                (loss * share if share != 1.0 else loss).backward()
                if s.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(phase.params, s.grad_clip)
                opt.step()
                for k, v in out.items():
                    if k != "loss" or phase.name == last:  # "loss" is the last phase's objective
                        weighted = (v.item() if on_cpu else v.detach()) * len(batch)
                        sums[k] = weighted if k not in sums else sums[k] + weighted
                if phase.name == last:
                    running += value * len(batch)
            if self._is_main and ((step + 1) % every == 0 or step + 1 == steps):
                mean = running / max(seen, 1)
                # steps over the whole fit (not the epoch), so a log's ETA is the fit's
                total = steps * self.epochs
                info = f"epoch {epoch + 1}/{self.epochs}  loss {mean:.4g}"
                report("training", min(epoch * steps + step + 1, total), total, info)
        totals, count = self._reduce({k: float(v) for k, v in sums.items()}, seen)
        return {k: v / count for k, v in totals.items()}

    def _batches(self, data: torch.Tensor, order: torch.Tensor):
        """(step, batch, share) of this process: each global batch of ``order``, cut to this rank's
        rows under DDP (``share``: its fraction of the batch's rows, times the world size). Rows
        are gathered GATHER_ROWS at a time into one reused buffer: one 128-row random gather from
        MNIST per step cost 0.1 ms (3% of a VAE step), in bulk it is about a third of that."""
        bs = self.s.batch_size
        plan = []
        for step in range(math.ceil(len(order) / bs)):
            whole = order[step * bs : (step + 1) * bs]
            if self.world > 1:
                if len(whole) < self.world:  # a tail smaller than the ranks: skipped on every rank
                    continue
                part = whole[self.rank :: self.world]  # this rank's share of the global batch
                plan.append((step, part, len(part) * self.world / len(whole)))  # DDP averages
            else:
                plan.append((step, whole, 1.0))
        per = max(1, GATHER_ROWS // bs)
        groups = [plan[first : first + per] for first in range(0, len(plan), per)]
        if isinstance(data, _Streamed):
            blocks = data.blocks([torch.cat([part for _, part, _ in g]) for g in groups])
        else:
            buffer = data.new_empty((per * bs, *data.shape[1:]))  # reused: a fresh one page-faults
            blocks = (
                torch.index_select(data, 0, rows, out=buffer[: len(rows)])
                for rows in (torch.cat([part for _, part, _ in g]) for g in groups)
            )
        for group, block in zip(groups, blocks, strict=True):
            start = 0
            for step, part, share in group:
                yield step, block[start : start + len(part)], share
                start += len(part)

    @torch.no_grad()
    def _evaluate(self, data: torch.Tensor, index: torch.Tensor, epoch: int) -> dict[str, float]:
        self.module.eval()
        gen = generator(self.s.seed + 1, self.s.device)  # same noise every epoch: comparable losses
        sums: dict[str, float] = {}
        bs = max(self.s.batch_size, 1024)
        for start in range(0, len(index), bs):
            rows = index[start : start + bs]
            batch = data.rows(rows) if isinstance(data, _Streamed) else data[rows]
            for phase in self.phases:
                out = self.loss_fn(batch, float(epoch + 1), gen, False, phase.name)
                for k, v in out.items():
                    if k != "loss" or phase is self.phases[-1]:
                        sums[k] = sums.get(k, 0.0) + float(v) * len(batch)
        return {k: v / len(index) for k, v in sums.items()}

    def _check_rise(self, first: float | None, monitored: float, epoch: int, which: str) -> None:
        """Stop when the epoch's loss rose far above the first step's (see DIVERGED_FACTOR): the
        optimiser diverged without overflowing, and what follows is noise around a broken model."""
        if first is None or not math.isfinite(first):
            return
        if monitored - first > DIVERGED_FACTOR * max(abs(first), 1.0):
            self._diverged(
                epoch,
                None,
                f"the {which} loss rose from {first:.4g} at the first step to {monitored:.4g} at the"
                f" end of epoch {epoch + 1}",
            )

    def _diverged(self, epoch: int, step: int | None, what: float | str) -> None:
        if isinstance(what, str):
            happened = what
        else:
            happened = f"the loss became {what} at epoch {epoch + 1}, step {step + 1}"
        ckpt = None
        if self.s.checkpoint_dir is not None and (self.s.checkpoint_dir / LAST).is_file():
            ckpt = f"{self.s.checkpoint_dir / LAST} (end of epoch {epoch})"
        raise TrainingDiverged(happened, self.s.lr, ckpt)
