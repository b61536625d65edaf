"""VAE training on MNIST: latentspace's training engine against Pythae 0.1.2, side by side in one run.

Usage: .venv/bin/python bench/bench_vae_train.py [--epochs 10] [--threads N] [--target -110] [--quick]
(Pythae comes with the bench extra: ``.venv/bin/pip install -c constraints.txt -e '.[bench]'``, as
``make bench`` does.)

Both libraries train the same model on the same 60,000 MNIST training images (``ls.load_data("mnist")``
minus its 10,000 test rows): an MLP encoder 784-512-(16 means, 16 log-variances) and decoder
16-512-784, ReLU, Bernoulli likelihood (BCE summed over the 784 pixels), KL to N(0, I), batch 128,
learning rate 1e-3, Adam (Pythae: ``torch.optim.Adam``; ours: ``AdamW`` with weight_decay=0, the same
update), torch's default initialisation. Ours is ``latentspace.models.vae.VAE(arch="mlp")``; Pythae's
is its default ``VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="bce"))``
(Encoder_VAE_MLP / Decoder_AE_MLP, checked below), trained the way Pythae's users train it:
``TrainingPipeline`` with a ``BaseTrainerConfig`` (its ``BaseTrainer``, ``DataLoader`` and callbacks).

How it is timed. Each library runs in its own worker process (spawned, torch in its main thread, the
same ``torch.set_num_threads``); the parent hands a baton between them after every epoch, alternating
which goes first, so the two never share the CPU and a change of machine load hits both alike. (Two
Python threads in one process are not an option: torch's OpenMP pool is per thread, and a second
thread ran the same training ~2x slower.) An epoch's time is the wall clock from the moment a worker
gets the baton to the end of that library's epoch (ours: the engine's last ``report("training", ...)``
of the epoch through the public progress hook; Pythae: a ``TrainingCallback.on_epoch_end``), so it
includes whatever the library does between epochs; epoch 1 also includes all setup (input checks,
Pythae's data processing and sanity check, building the nets). At the end of every epoch each worker
evaluates the test-set ELBO outside the timed span, with one shared function and the same posterior
noise for both. Before any timing each worker does an untimed warm-up fit on 1,024 rows (imports,
allocator, MKL), and Pythae's tqdm bar is written to os.devnull.

Other processes: on a small machine one busy neighbour halves torch's speed, so the parent waits (up
to ``--wait-quiet`` seconds) until other processes use < 0.1 cores before the run, before each
epoch and before each matmul measurement, and it measures from /proc how much CPU other processes
took during every epoch: epochs above 0.1 cores are starred, left out of the throughput medians, and
flagged in the time-to-target rows and in a closing warning (then rerun). Where the two CPUs sit:
the parent also measures the core-to-core latency of the first two CPUs (a C ping-pong, compiled
with the system's cc; skipped without one) just before and just after every epoch, while both
workers are idle. On the shared AMD EPYC machines of BENCHMARKS.md it is either about 40-70 ns or
about 170-210 ns (the vCPUs far apart), and our step runs 1.6x slower in the far placement, Pythae's
1.3x; such epochs are marked F, counted, and left out of a supplementary throughput and paired
GFLOP/s ratio over the near epochs only (the targets themselves count every epoch). An Intel Xeon
VM gave no such two levels: 88-2293 ns over 90 idle probes (median 146), 111-700 ns around the
epochs of three full runs, so nearly every epoch there is F and the supplementary line has little or
nothing to count.

Reported: (1) training throughput, samples/s from the median epoch time over epochs 2..E (epoch 1
carries the setup; ratio ours / Pythae, higher is better). (2) The GFLOP/s our training reaches,
counting 3 x the forward FLOPs per sample (2 x 827,392 multiply-adds forward; backward ~2x forward),
against the machine's float32 matmul rate measured in this run, before and after training, by
torch.mm (MKL) and by numpy.matmul (OpenBLAS), the faster of the two as the reference, for the
dominant (128x784)x(784x512) product, a 2048^3 product and the 11 products of one batch-128 step; and,
because the rate of this kind of shared virtual machine drifts by a third within minutes, also paired:
each worker measures the same-shape rate (faster of torch and numpy) just before and just after each
of its epochs, and each epoch's achieved rate is divided by the mean of the two. The ratio to the
best rate of the whole run is a lower bound (a typical epoch against the machine's best moment);
the paired median is the matched estimate. Both are printed with the target. (3) The
training time to first reach a test ELBO target, at the end of an epoch and linearly interpolated
between epoch ends (ratio ours / Pythae, lower is better). Exits non-zero if the two workers saw
different data, the models differ in size, or a library's own ELBO disagrees with the shared
evaluation by more than 1 nat.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import importlib.util
import math
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

LATENT, HIDDEN, D = 16, 512, 784
BATCH, LR = 128, 1e-3
sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_model  # noqa: E402

EVAL_SEED = 1234  # posterior noise of the shared test-ELBO evaluation (the same for both libraries)
WARMUP_ROWS = 1024
QUIET = 0.1  # cores other processes may use before an epoch counts as disturbed
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
LIBS = ("ours", "pythae")
# forward multiply-adds per sample: enc 784x512 + 512x32 (both heads), dec 16x512 + 512x784
FWD_MACS = D * HIDDEN + HIDDEN * 2 * LATENT + LATENT * HIDDEN + HIDDEN * D
FWD_FLOPS = 2 * FWD_MACS
STEP_FLOPS = 3 * FWD_FLOPS  # per sample: forward + backward (~2x forward)
# the exact count: backward needs every weight gradient but no input gradient for the first layer
EXACT_STEP_FLOPS = 2 * (2 * FWD_MACS + FWD_MACS - D * HIDDEN)


# --- the machine -----------------------------------------------------------------------------------


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "unknown"


def cpu_ticks(pid: int | None = None) -> int | None:
    """Busy clock ticks so far of the whole machine (``pid`` None) or of one process, from /proc."""
    try:
        if pid is None:
            with open("/proc/stat") as fh:
                f = [int(v) for v in fh.readline().split()[1:9]]
            return f[0] + f[1] + f[2] + f[5] + f[6] + f[7]  # user nice system irq softirq steal
        with open(f"/proc/{pid}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])  # utime + stime, all threads
    except (OSError, ValueError, IndexError):
        return None


def busy_cores(interval: float = 0.5) -> float | None:
    """Cores the machine keeps busy over ``interval`` seconds (our workers are idle while we look)."""
    m0, t0 = cpu_ticks(), time.perf_counter()
    time.sleep(interval)
    m1, t1 = cpu_ticks(), time.perf_counter()
    if m0 is None or m1 is None:
        return None
    return (m1 - m0) / TICK / (t1 - t0)


def wait_quiet(max_wait: float, loadavg_too: bool = False) -> float:
    """Wait up to ``max_wait`` s until other processes use < QUIET cores (and, if ``loadavg_too``, the
    1-minute load average is < 1.0). Returns the seconds waited; warns if it gave up."""
    start = time.monotonic()
    while True:
        busy = busy_cores()
        try:
            load1 = float(loadavg().split()[0])
        except ValueError:
            load1 = 0.0
        if busy is None or (busy < QUIET and (load1 < 1.0 or not loadavg_too)):
            return time.monotonic() - start
        if time.monotonic() - start >= max_wait:
            print(
                f"warning  : machine still busy ({busy:.2f} cores, load {load1:.2f})"
                f" after waiting {max_wait:.0f} s",
                flush=True,
            )
            return time.monotonic() - start
        time.sleep(5)


# --- where the two CPUs sit ------------------------------------------------------------------------
# One-way latency of a cache line handed back and forth between two pinned threads. On the shared
# AMD EPYC machines of BENCHMARKS.md it is bimodal: about 40-70 ns, or about 170-210 ns when the
# hypervisor puts the two vCPUs far apart (another chiplet); in the far placement the training step,
# whose threads hand gradients and weights to each other every step, ran 1.6x slower, Pythae's
# 1.3x. Written in C because Python threads cannot spin on a shared word; skipped without a compiler.
PINGPONG_C = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static _Atomic int flag __attribute__((aligned(64)));
static int n, cpu_b;
static void pin(int c) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(c, &s);
  pthread_setaffinity_np(pthread_self(), sizeof s, &s); }
static void *other(void *arg) { (void)arg; pin(cpu_b);
  for (int i = 0; i < n; i++) {
    while (atomic_load_explicit(&flag, memory_order_acquire) != 1) {}
    atomic_store_explicit(&flag, 0, memory_order_release); }
  return 0; }
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int cpu_a = atoi(argv[1]); cpu_b = atoi(argv[2]); n = atoi(argv[3]);
  pin(cpu_a); pthread_t t; struct timespec a, b;
  if (pthread_create(&t, 0, other, 0)) return 1;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < n; i++) {
    atomic_store_explicit(&flag, 1, memory_order_release);
    while (atomic_load_explicit(&flag, memory_order_acquire) != 0) {} }
  clock_gettime(CLOCK_MONOTONIC, &b);
  pthread_join(t, 0);
  printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n / 2);
  return 0; }
"""
FAR_NS = 100.0  # core-to-core latency above which the two CPUs count as far apart


class CoreProbe:
    """Core-to-core latency (ns) between the first two CPUs this process may use, or NaN (with
    ``why``) where it cannot be measured."""

    def __init__(self, workdir: Path):
        self.binary, self.why = None, ""
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        compiler = shutil.which("cc") or shutil.which("gcc")
        if len(cpus) < 2 or compiler is None or not sys.platform.startswith("linux"):
            self.why = "needs Linux, two CPUs and a C compiler"
            return
        self.cpus = cpus[:2]
        src, binary = workdir / "pingpong.c", workdir / "pingpong"
        src.write_text(PINGPONG_C)
        done = subprocess.run(
            [compiler, "-O2", "-pthread", "-o", str(binary), str(src)], capture_output=True, text=True
        )
        if done.returncode != 0:
            self.why = f"the C probe did not compile: {done.stderr.strip()[:200]}"
            return
        self.binary = binary

    def measure(self, round_trips: int = 100_000) -> float:
        if self.binary is None:
            return float("nan")
        try:
            done = subprocess.run(
                [str(self.binary), *map(str, self.cpus), str(round_trips)],
                capture_output=True,
                text=True,
                timeout=10,
            )
            return float(done.stdout) if done.returncode == 0 else float("nan")
        except (subprocess.TimeoutExpired, ValueError):
            return float("nan")


def _operands(lib: str, m: int, k: int, n: int, g: torch.Generator):
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    if lib == "numpy":  # numpy's own BLAS (OpenBLAS in numpy's wheels)
        return a.numpy(), b.numpy(), np.matmul
    return a, b, torch.mm


def matmul_gflops(m: int, k: int, n: int, seconds: float, lib: str = "torch") -> float:
    """Float32 rate (GFLOP/s) of an (m, k) x (k, n) product by torch.mm (its MKL) or numpy.matmul
    (its OpenBLAS), median of 5 timed rounds."""
    a, b, mm = _operands(lib, m, k, n, torch.Generator().manual_seed(0))
    t = time.perf_counter()
    mm(a, b)
    reps = max(3, int(seconds / 5 / max(time.perf_counter() - t, 1e-6)))
    for _ in range(3):
        mm(a, b)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            mm(a, b)
        times.append((time.perf_counter() - t) / reps)
    return 2 * m * k * n / statistics.median(times) / 1e9


def step_gemms(b: int) -> list[tuple[int, int, int]]:
    """The (m, k, n) products of one training step: 4 forward, 3 input gradients, 4 weight gradients."""
    layers = [(D, HIDDEN), (HIDDEN, 2 * LATENT), (LATENT, HIDDEN), (HIDDEN, D)]  # (in, out)
    fwd = [(b, i, o) for i, o in layers]
    dx = [(b, o, i) for i, o in layers[1:]]
    dw = [(o, b, i) for i, o in layers]
    return fwd + dx + dw


def step_gemm_seconds(b: int, rounds: int, lib: str = "torch") -> float:
    """Median time of the 11 products of one step, each on its own operands (a GEMM-only floor)."""
    g = torch.Generator().manual_seed(0)
    ops = [_operands(lib, m, k, n, g) for m, k, n in step_gemms(b)]
    for _ in range(20):
        for a, c, mm in ops:
            mm(a, c)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(rounds):
            for a, c, mm in ops:
                mm(a, c)
        times.append((time.perf_counter() - t) / rounds)
    return statistics.median(times)


MATMUL_LIBS = ("torch", "numpy")


def matmul_rates(quick: bool) -> dict[str, float]:
    """The machine's dense float32 matmul rates, by torch (MKL) and by numpy (OpenBLAS): the
    reference is the faster of the two for each shape (MKL is slow on AMD processors, and our
    engine multiplies with torch's MKL, so the reference can only lower our ratio)."""
    secs = 0.3 if quick else 1.5
    step_flops = 2 * sum(m * k * n for m, k, n in step_gemms(BATCH))
    out = {}
    for lib in MATMUL_LIBS:
        step_s = step_gemm_seconds(BATCH, 50 if quick else 300, lib)
        out[f"same_{lib}"] = matmul_gflops(BATCH, D, HIDDEN, secs, lib)
        out[f"square_{lib}"] = matmul_gflops(2048, 2048, 2048, secs, lib)
        out[f"mix_{lib}"] = step_flops / step_s / 1e9
        out[f"mix_step_s_{lib}"] = step_s
    for key in ("same", "square", "mix"):
        out[key] = max(out[f"{key}_{lib}"] for lib in MATMUL_LIBS)
    out["mix_step_s"] = min(out[f"mix_step_s_{lib}"] for lib in MATMUL_LIBS)
    return out


# --- the shared evaluation -------------------------------------------------------------------------
@torch.no_grad()
def test_elbo(posterior, log_px, X: np.ndarray, rows: int = 2000) -> float:
    """Mean single-sample ELBO (nats per image) = log p(x|z) - KL(q(z|x) || N(0, I)), z ~ q(z|x).

    ``posterior(x) -> (mu, logvar)``; ``log_px(x, z) -> (B,)``. The noise comes from one generator
    seeded with EVAL_SEED, drawn in the same order, so both libraries see the same eps.
    """
    gen = torch.Generator().manual_seed(EVAL_SEED)
    total = 0.0
    for start in range(0, len(X), rows):
        x = torch.from_numpy(np.ascontiguousarray(X[start : start + rows]))
        mu, logvar = posterior(x)
        eps = torch.randn(mu.shape, generator=gen)
        z = mu + torch.exp(0.5 * logvar) * eps
        kl = 0.5 * (mu**2 + torch.exp(logvar) - 1.0 - logvar).sum(1)
        total += float((log_px(x, z) - kl).double().sum())
    return total / len(X)


def describe(module: torch.nn.Module) -> str:
    """The leaf layers in registration order, e.g. 'Linear 784->512, ReLU, Linear 512->32'."""
    parts = []
    for _, mod in module.named_modules():
        if len(list(mod.children())):
            continue
        if isinstance(mod, torch.nn.Linear):
            parts.append(f"Linear {mod.in_features}->{mod.out_features}")
        else:
            parts.append(type(mod).__name__)
    return ", ".join(parts)


def n_params(*modules: torch.nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


# --- the workers -----------------------------------------------------------------------------------
def adjacent_rate(seconds: float = 0.3) -> float:
    """The same-shape (128x784)x(784x512) rate now, in this worker: the faster of numpy.matmul and
    torch.mm (numpy first, so that OpenBLAS's threads have gone idle before the epoch starts)."""
    return max(matmul_gflops(BATCH, D, HIDDEN, seconds, lib) for lib in ("numpy", "torch"))


class Baton:
    """The worker side of the hand-over: times each epoch and waits for its turn. Around every epoch
    (just before it, and just after it, outside the timed span) it measures the machine's
    same-shape matmul rate, so that each epoch's achieved GFLOP/s can be set against the rate the
    machine had at that moment: on a shared virtual machine that rate drifts by a third within
    minutes, more than the quantity being measured."""

    def __init__(self, conn):
        self.conn = conn
        self.t0 = 0.0
        self.epoch = 0
        self.rate_before = float("nan")
        self.hook_seconds: list[float] = []  # evaluation + waiting, per epoch

    def wait(self) -> None:
        msg = self.conn.recv()
        if msg != "go":
            raise RuntimeError(f"unexpected message {msg!r}")
        self.rate_before = adjacent_rate()
        self.t0 = time.perf_counter()

    def end_of_epoch(self, evaluate) -> None:
        t = time.perf_counter()
        seconds = t - self.t0
        self.epoch += 1
        rate_after = adjacent_rate()
        elbo = evaluate()
        rates = (self.rate_before, rate_after)
        self.conn.send(("epoch", self.epoch, seconds, elbo, rates, torch.get_num_threads()))
        self.wait()
        self.hook_seconds.append(time.perf_counter() - t)


def load_split(quick: bool):
    import latentspace as ls

    ds = ls.load_data("mnist")
    X = np.asarray(ds.X, dtype=np.float32)
    Xtr, Xte = X[~ds.test_mask], X[ds.test_mask]
    if quick:
        Xtr, Xte = Xtr[:10_000], Xte[:2_000]
    digest = hashlib.sha256(Xtr.tobytes() + Xte.tobytes()).hexdigest()[:16]
    return np.ascontiguousarray(Xtr), np.ascontiguousarray(Xte), digest


def run_ours(baton: Baton, cfg: dict) -> dict:
    from latentspace.models.vae import VAE
    from latentspace.progress import progress_hook

    Xtr, Xte, digest = load_split(cfg["quick"])

    def make(epochs: int) -> VAE:
        return VAE(
            latent_dim=LATENT,
            arch="mlp",
            hidden=(HIDDEN,),
            likelihood="bernoulli",
            epochs=epochs,
            batch_size=BATCH,
            lr=LR,
            weight_decay=0.0,
            val_fraction=0.0,
            random_state=0,
            threads=cfg["threads"],
            device="cpu",
        )

    make(1).fit(Xtr[:WARMUP_ROWS])  # untimed warm-up
    model = make(cfg["epochs"])

    def posterior(x):
        h = model.net_.encoder(x)
        return h[:, :LATENT], h[:, LATENT:]

    def log_px(x, z):  # the decoder returns logits
        return -F.binary_cross_entropy_with_logits(model.net_.decoder(z), x, reduction="none").sum(1)

    def hook(task, done, total, info=""):
        if task == "training" and done == total:
            baton.end_of_epoch(lambda: test_elbo(posterior, log_px, Xte))

    baton.conn.send(("ready", {"digest": digest, "n_train": len(Xtr), "n_test": len(Xte)}))
    baton.wait()
    with progress_hook(hook):
        model.fit(Xtr)
    net = model.net_
    return {
        "encoder": describe(net.encoder),
        "decoder": describe(net.decoder) + " (logits; BCE with logits)",
        "params": n_params(net.encoder, net.decoder),
        "own_elbo": float(np.mean(model.elbo(Xte, n_samples=1))),
        "own_elbo_what": "VAE.elbo(X_test, n_samples=1).mean()",
        "shared_elbo": test_elbo(posterior, log_px, Xte),
        # the engine's own per-epoch clock, less the time spent in our hook (evaluation, waiting)
        "engine_seconds": [h["seconds"] - w for h, w in zip(model.history_, baton.hook_seconds, strict=True)],
    }


def run_pythae(baton: Baton, cfg: dict) -> dict:
    import logging

    from pythae.models import VAE, VAEConfig
    from pythae.models.nn import default_architectures
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)
    torch.set_num_threads(cfg["threads"])
    Xtr, Xte, digest = load_split(cfg["quick"])
    out_dir = tempfile.mkdtemp(prefix="bench_pythae_")
    state = {}

    def posterior(x):
        out = state["model"].encoder(x)
        return out.embedding, out.log_covariance

    def log_px(x, z):  # the decoder returns sigmoid probabilities, (B, 1, 28, 28)
        probs = state["model"].decoder(z)["reconstruction"].reshape(len(x), -1)
        return -F.binary_cross_entropy(probs, x, reduction="none").sum(1)

    class Timer(TrainingCallback):
        def on_epoch_end(self, training_config, **kwargs):
            state["model"] = kwargs["model"]
            baton.end_of_epoch(lambda: test_elbo(posterior, log_px, Xte))

    def train(X: np.ndarray, epochs: int, callbacks) -> torch.nn.Module:
        torch.manual_seed(0)
        model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce"))
        config = BaseTrainerConfig(
            output_dir=out_dir,
            per_device_train_batch_size=BATCH,
            learning_rate=LR,
            num_epochs=epochs,
            no_cuda=True,
            seed=0,
        )
        with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
            TrainingPipeline(model=model, training_config=config)(
                train_data=X.reshape(-1, 1, 28, 28), callbacks=callbacks
            )
        return model

    try:
        train(Xtr[:WARMUP_ROWS], 1, None)  # untimed warm-up
        baton.conn.send(("ready", {"digest": digest, "n_train": len(Xtr), "n_test": len(Xte)}))
        baton.wait()
        model = train(Xtr, cfg["epochs"], [Timer()])
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    state["model"] = model
    # Pythae's own loss: per row BCE summed over pixels + KL, averaged over the batch = -ELBO per image
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(Xte), 1000):
            x = torch.from_numpy(Xte[start : start + 1000]).reshape(-1, 1, 28, 28)
            total += float(model({"data": x}).loss) * len(x)
    enc, dec = model.encoder, model.decoder
    return {
        "source": default_architectures.__file__,
        "encoder": f"{type(enc).__name__}: {describe(enc)}",
        "decoder": f"{type(dec).__name__}: {describe(dec)}",
        "params": n_params(enc, dec),
        "own_elbo": -total / len(Xte),
        "own_elbo_what": "-(VAE.forward loss) on X_test, batch-size weighted",
        "shared_elbo": test_elbo(posterior, log_px, Xte),
    }


def worker(name: str, conn, cfg: dict) -> None:
    torch.set_num_threads(cfg["threads"])
    baton = Baton(conn)
    try:
        info = (run_ours if name == "ours" else run_pythae)(baton, cfg)
        info["threads"] = torch.get_num_threads()
        conn.send(("done", info))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


# --- the parent ------------------------------------------------------------------------------------
def recv(name: str, conn, *kinds: str):
    msg = conn.recv()
    if msg[0] == "error":
        raise RuntimeError(f"{name} worker failed:\n{msg[1]}")
    if msg[0] not in kinds:
        raise RuntimeError(f"{name} worker sent {msg[0]!r}, expected one of {kinds}")
    return msg


def first_reach(times: list[float], elbos: list[float], target: float):
    """When the test ELBO first reaches ``target``: (epoch, cumulative training seconds at the end of that
    epoch, the same time interpolated linearly in ELBO between the two epoch ends around the target),
    or None if it never does."""
    total = 0.0
    for i, (t, e) in enumerate(zip(times, elbos, strict=True)):
        total += t
        if e >= target:
            if i == 0:
                return 1, total, total
            before = elbos[i - 1]
            return i + 1, total, total - t + t * (target - before) / (e - before)
    return None


def header(threads: int) -> None:
    import latentspace as ls

    try:
        from importlib.metadata import version

        pythae_version = version("pythae")
    except Exception:
        pythae_version = "unknown"
    print(f"date     : {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine  : {os.cpu_count()} cpus, {cpu_model()} ({platform.machine()}, {platform.system()})")
    print(f"python   : {platform.python_version()} ({sys.executable})")
    print(
        f"versions : latentspace {ls.__version__}, pythae {pythae_version}, torch {torch.__version__},"
        f" numpy {np.__version__}"
    )
    print(f"threads  : torch.set_num_threads({threads}) in both workers; load average {loadavg()}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="epochs per library (default 10; quick 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--target", type=float, default=-110.0, help="test ELBO target in nats")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10k/2k rows, 3 epochs")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=120.0,
        metavar="S",
        help="wait up to S seconds for a quiet machine (other processes < 0.1 cores) at the"
        " start (also 1-minute load average < 1) and before every epoch; 0: never wait",
    )
    args = parser.parse_args(argv)
    if importlib.util.find_spec("pythae") is None:  # the anchor: an extra, not in the default setup
        print(
            "bench_vae_train.py needs Pythae 0.1.2, the anchor it measures against; install the bench"
            " extra first: .venv/bin/pip install -c constraints.txt -e '.[bench]' (make bench does it)",
            file=sys.stderr,
        )
        return 2
    epochs = args.epochs or (3 if args.quick else 10)
    if epochs < 3:
        parser.error("--epochs must be at least 3 (epoch 1 is warm-up; at least 2 are measured)")
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    if args.wait_quiet > 0:
        wait_quiet(args.wait_quiet, loadavg_too=True)

    header(threads)
    cfg = {"epochs": epochs, "threads": threads, "quick": args.quick}
    ctx = mp.get_context("spawn")
    conns, procs, ready = {}, {}, {}
    probe_dir = tempfile.TemporaryDirectory(prefix="latentspace-bench-")
    try:
        probe = CoreProbe(Path(probe_dir.name))  # compiled here, removed with the folder below
        for name in LIBS:  # one at a time, so the warm-ups do not share the CPU either
            parent_end, child_end = ctx.Pipe()
            procs[name] = ctx.Process(target=worker, args=(name, child_end, cfg), daemon=True)
            procs[name].start()
            child_end.close()
            conns[name] = parent_end
            ready[name] = recv(name, parent_end, "ready")[1]
        n_train, n_test = ready["ours"]["n_train"], ready["ours"]["n_test"]
        print(
            f"data     : MNIST train {n_train} x {D}, test {n_test} x {D} (float32 in [0, 1));"
            f" batch {BATCH}, lr {LR}, {epochs} epochs each\n"
        )

        if args.wait_quiet > 0:
            wait_quiet(args.wait_quiet)
        rates = [matmul_rates(args.quick)]
        times: dict[str, list[float]] = {n: [] for n in LIBS}
        elbos: dict[str, list[float]] = {n: [] for n in LIBS}
        seen_threads: dict[str, set] = {n: set() for n in LIBS}
        others: dict[str, list[float]] = {n: [] for n in LIBS}  # cores other processes used, per epoch
        adjacent: dict[str, list[float]] = {n: [] for n in LIBS}  # same-shape rate around each epoch
        apart: dict[str, list[float]] = {n: [] for n in LIBS}  # core-to-core ns, worst around each epoch
        waited = 0.0
        print("ELBO: test set, nats/image; others: cores other processes kept busy during the epoch (ours /")
        print(f"pythae; * marks an epoch above {QUIET}); core ns: the two CPUs' core-to-core latency, the")
        print(f"higher of just before and just after the epoch (ours / pythae; F: above {FAR_NS:.0f}")
        print("ns, the CPUs sat far apart)" + (f"; not measured: {probe.why}" if probe.why else ""))
        print("epoch  first    ours s  pythae s  ours ELBO  pythae ELBO  others       core ns")
        for e in range(epochs):
            order = LIBS if e % 2 == 0 else LIBS[::-1]
            for name in order:
                if args.wait_quiet > 0:
                    waited += wait_quiet(args.wait_quiet)
                before = probe.measure()  # both workers are idle now
                m0, w0, t0 = cpu_ticks(), cpu_ticks(procs[name].pid), time.perf_counter()
                conns[name].send("go")
                _, _, seconds, elbo, around, nthreads = recv(name, conns[name], "epoch")
                adjacent[name].append(statistics.mean(around))
                m1, w1, wall = cpu_ticks(), cpu_ticks(procs[name].pid), time.perf_counter() - t0
                # after the CPU count: the probe's own spinning is not another process's load
                measured = [v for v in (before, probe.measure()) if math.isfinite(v)]
                apart[name].append(max(measured, default=float("nan")))
                busy = 0.0 if None in (m0, m1, w0, w1) else max(0, (m1 - m0) - (w1 - w0)) / TICK / wall
                others[name].append(busy)
                times[name].append(seconds)
                elbos[name].append(elbo)
                seen_threads[name].add(nthreads)
            busy = " / ".join(f"{others[n][-1]:.2f}" for n in LIBS)
            flag = " *" if max(others[n][-1] for n in LIBS) > QUIET else "  "
            cores = " / ".join(f"{apart[n][-1]:.0f}" + ("F" if apart[n][-1] > FAR_NS else " ") for n in LIBS)
            print(
                f"{e + 1:5d}  {order[0]:6}  {times['ours'][-1]:8.3f}  {times['pythae'][-1]:8.3f}"
                f"  {elbos['ours'][-1]:9.2f}  {elbos['pythae'][-1]:11.2f}  {busy}{flag}  {cores}",
                flush=True,
            )
        done = {}
        for name in LIBS:
            conns[name].send("go")
            done[name] = recv(name, conns[name], "done")[1]
            procs[name].join(timeout=60)
        if args.wait_quiet > 0:
            wait_quiet(args.wait_quiet)
        rates.append(matmul_rates(args.quick))
    finally:
        for p in procs.values():
            if p.is_alive():
                p.terminate()
        probe_dir.cleanup()

    ok = True
    print(f"\nmodels (as instantiated; Pythae's nets from {done['pythae']['source']}):")
    for name in LIBS:
        d = done[name]
        print(f"  {name:6} encoder {d['encoder']}")
        print(f"  {'':6} decoder {d['decoder']}")
        print(f"  {'':6} {d['params']:,} parameters; threads during training {sorted(seen_threads[name])}")
    if done["ours"]["params"] != done["pythae"]["params"]:
        ok = False
        print("  MISMATCH: the two models have different parameter counts")
    if ready["ours"]["digest"] != ready["pythae"]["digest"]:
        ok = False
        print("  MISMATCH: the workers loaded different data")
    else:
        print(f"  data sha256 (train+test) {ready['ours']['digest']}... identical in both workers")

    # 1. throughput
    # epochs 2..E, less those another process disturbed (while at least 2 undisturbed remain)
    used = {}
    for n in LIBS:
        quiet = [t for t, b in zip(times[n][1:], others[n][1:], strict=True) if b <= QUIET]
        used[n] = quiet if len(quiet) >= 2 else times[n][1:]
    med = {n: statistics.median(used[n]) for n in LIBS}
    sps = {n: n_train / med[n] for n in LIBS}
    counts = ", ".join(f"{n} {len(used[n])}" for n in LIBS)
    print(
        f"\n1. training throughput, median over epochs 2..{epochs} not disturbed by other processes"
        f" ({counts} epochs;"
    )
    print(f"   epoch 1 incl. setup: ours {times['ours'][0]:.2f} s, pythae {times['pythae'][0]:.2f} s)")
    for n in LIBS:
        spread = f"{min(used[n]):.3f}-{max(used[n]):.3f}"
        print(f"   {n:6} {med[n]:7.3f} s/epoch (range {spread})  {sps[n]:9,.0f} samples/s")
    eng_all = done["ours"]["engine_seconds"][1:]
    eng_quiet = [t for t, b in zip(eng_all, others["ours"][1:], strict=True) if b <= QUIET]
    eng = statistics.median(eng_quiet if len(eng_quiet) >= 2 else eng_all)
    print(f"   (ours by the engine's own per-epoch clock, less evaluation and waiting: median {eng:.3f} s)")
    ratio_sps = sps["ours"] / sps["pythae"]
    print(
        f"   ratio ours/pythae (samples/s, higher is better): {ratio_sps:.2f}   target >= 1.5:"
        f" {'met' if ratio_sps >= 1.5 else 'NOT met'}"
    )

    # 2. achieved GFLOP/s
    same = max(r["same"] for r in rates)
    square = max(r["square"] for r in rates)
    mix = max(r["mix"] for r in rates)
    floor_step = min(r["mix_step_s"] for r in rates)
    print(
        f"\n2. achieved GFLOP/s (FLOPs per sample per step counted as 3 x forward = 3 x 2 x {FWD_MACS:,}"
        f" = {STEP_FLOPS / 1e6:.3f} MFLOP;"
    )
    print(
        f"   the exact count, with no input gradient for the first layer, is {EXACT_STEP_FLOPS / 1e6:.3f}"
        " MFLOP)"
    )
    print("   float32 matmul GFLOP/s in this run (median of 5 rounds; before / after training), by torch.mm")
    print("   (MKL) and numpy.matmul (OpenBLAS); the reference is the best of all four per shape:")
    for lib in MATMUL_LIBS:
        r0, r1 = rates
        print(
            f"     {lib:5} (128x784)x(784x512), the dominant shape: {r0[f'same_{lib}']:7.1f} /"
            f" {r1[f'same_{lib}']:7.1f}"
        )
        print(
            f"     {lib:5} (2048x2048)x(2048x2048)                : {r0[f'square_{lib}']:7.1f} /"
            f" {r1[f'square_{lib}']:7.1f}"
        )
        print(
            f"     {lib:5} the 11 products of one batch-128 step   : {r0[f'mix_{lib}']:7.1f} /"
            f" {r1[f'mix_{lib}']:7.1f}"
        )
    print(
        f"     GEMM-only floor {floor_step * 1e3:.2f} ms/step = {BATCH / floor_step:,.0f} samples/s;"
        f" reference rates: same-shape {same:.1f}, 2048^3 {square:.1f}, step-mix {mix:.1f}"
    )
    achieved = {n: sps[n] * STEP_FLOPS / 1e9 for n in LIBS}
    for n in LIBS:
        print(
            f"   {n:6} {achieved[n]:6.1f} GFLOP/s = {achieved[n] / same:.2f} of the same-shape rate,"
            f" {achieved[n] / square:.2f} of the 2048^3 rate, {achieved[n] / mix:.2f} of the step-mix rate"
        )
    print(
        "   the same-shape rate measured in each worker just before and just after each of its epochs"
        " (mean of the two;"
    )
    print("   epochs as in 1.), and each epoch's achieved GFLOP/s against it:")

    def paired_ratio(n: str, i: int) -> float:
        """Epoch i's achieved GFLOP/s over the same-shape rate measured around it."""
        return n_train / times[n][i] * STEP_FLOPS / 1e9 / adjacent[n][i]

    paired = {}
    for n in LIBS:
        keep = [i for i in range(1, epochs) if others[n][i] <= QUIET]
        keep = keep if len(keep) >= 2 else list(range(1, epochs))
        refs = [adjacent[n][i] for i in keep]
        ratios = [paired_ratio(n, i) for i in keep]
        paired[n] = statistics.median(ratios)
        print(
            f"   {n:6} rate around its epochs {min(refs):.1f}-{max(refs):.1f} GFLOP/s (median"
            f" {statistics.median(refs):.1f}); achieved / rate: median {paired[n]:.2f}"
            f" (range {min(ratios):.2f}-{max(ratios):.2f})"
        )
    ratio_flops = achieved["ours"] / same
    print(
        f"   ours / the best same-shape rate of the whole run (the lower bound): {ratio_flops:.2f}"
        f"   target >= 0.75: {'met' if ratio_flops >= 0.75 else 'NOT met'}"
    )
    print(
        f"   ours / the rate around the same epoch (median): {paired['ours']:.2f}   target >= 0.75:"
        f" {'met' if paired['ours'] >= 0.75 else 'NOT met'}"
    )

    # the same two measures over the epochs whose CPUs sat near each other (supplementary)
    if probe.binary is not None:
        near = {
            n: [i for i in range(1, epochs) if others[n][i] <= QUIET and apart[n][i] <= FAR_NS] for n in LIBS
        }
        far = {n: sum(a > FAR_NS for a in apart[n][1:]) for n in LIBS}
        measured = [a for v in apart.values() for a in v if math.isfinite(a)]
        lo, hi = min(measured, default=float("nan")), max(measured, default=float("nan"))
        print(
            f"\n   the CPUs sat far apart (core-to-core > {FAR_NS:.0f} ns) around {far['ours']} of our"
            f" epochs 2..{epochs} and {far['pythae']} of Pythae's; core-to-core latency {lo:.0f}-{hi:.0f} ns"
        )
        if all(len(near[n]) >= 2 for n in LIBS):
            near_sps = {n: n_train / statistics.median(times[n][i] for i in near[n]) for n in LIBS}
            near_paired = statistics.median(paired_ratio("ours", i) for i in near["ours"])
            print(
                f"   supplementary, the epochs with the CPUs near only (ours {len(near['ours'])}, pythae"
                f" {len(near['pythae'])}): throughput ratio {near_sps['ours'] / near_sps['pythae']:.2f},"
                f" paired GFLOP/s ratio {near_paired:.2f} (the targets above count every epoch)"
            )
        else:
            why = f" (no epoch under {FAR_NS:.0f} ns; on an Intel Xeon VM the cores were rarely nearer)"
            print(
                "   supplementary, near epochs only: fewer than 2 such epochs for a library"
                + ("" if any(near.values()) else why)
            )

    # 3. time to a test ELBO
    print("\n3. training time to first reach a test ELBO: cumulative epoch times from epoch 1 (setup")
    print("   included, evaluation excluded) to the end of the first epoch at or above the target, and")
    print("   the same interpolated linearly between the two epoch ends around it; ratio ours/pythae,")
    print("   lower is better")
    print("   target nats    ours: epoch       s  interp.   pythae: epoch       s  interp.  ratio  interp.")
    targets = sorted({args.target, -120.0, -105.0, -100.0})
    ratio_tt = None
    for tgt in targets:
        hit = {n: first_reach(times[n], elbos[n], tgt) for n in LIBS}
        cells = "".join(
            f"   {h[0]:13d} {h[1]:7.2f} {h[2]:8.2f}" if h else f"   {'not reached':>30}" for h in hit.values()
        )
        line = f"   {tgt:11.1f}{cells}"
        if all(hit.values()):
            r, ri = hit["ours"][1] / hit["pythae"][1], hit["ours"][2] / hit["pythae"][2]
            line += f"   {r:4.2f}   {ri:6.2f}"
            if tgt == args.target:
                ratio_tt = (r, ri)
        noisy = any(b > QUIET for n, h in hit.items() if h for b in others[n][: h[0]])
        line += "   <- target" if tgt == args.target else ""
        print(line + ("   (! a disturbed epoch is included)" if noisy else ""))
    if ratio_tt is None:
        print(f"   target {args.target} nats not reached by both within {epochs} epochs")
    else:
        r, ri = ratio_tt
        print(
            f"   ratio ours/pythae at {args.target} nats: {r:.2f} (interpolated {ri:.2f})"
            f"   target <= 0.5: {'met' if r <= 0.5 else 'NOT met'}"
            f" (interpolated: {'met' if ri <= 0.5 else 'NOT met'})"
        )
    print(
        f"   final test ELBO after {epochs} epochs: ours {elbos['ours'][-1]:.2f},"
        f" pythae {elbos['pythae'][-1]:.2f}"
    )

    print("\nchecks (shared evaluation vs each library's own ELBO, same weights, different noise):")
    for n in LIBS:
        d = done[n]
        diff = abs(d["own_elbo"] - d["shared_elbo"])
        flag = "ok" if diff <= 1.0 else "MISMATCH > 1 nat"
        ok &= diff <= 1.0
        print(
            f"  {n:6} shared {d['shared_elbo']:9.3f}  own {d['own_elbo']:9.3f}  ({flag})"
            f"  [own: {d['own_elbo_what']}]"
        )
    worst = max(max(v) for v in others.values())
    disturbed = sum(b > QUIET for v in others.values() for b in v)
    print(
        f"load average at the end: {loadavg()}; waited {waited:.0f} s for quiet; other processes used"
        f" at most {worst:.2f} cores during an epoch"
        + (f"  (WARNING: {disturbed} disturbed epochs; rerun on a quiet machine)" if disturbed else "")
    )
    return 0 if ok and math.isfinite(ratio_sps) else 1


if __name__ == "__main__":
    sys.exit(main())
