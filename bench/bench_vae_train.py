"""VAE training on MNIST, side by side in one run: latentspace, Pythae 0.1.2 and a plain PyTorch loop.

Usage: .venv/bin/python bench/bench_vae_train.py [--epochs 10] [--threads N] [--target -110] [--quick]
(Pythae is the bench extra: ``.venv/bin/pip install -c constraints.txt -e '.[bench]'``.)

One model, one data set: MNIST's 60,000 training images, encoder 784-512-(16 means, 16
log-variances), decoder 16-512-784, ReLU, BCE summed over the pixels plus the KL, batch 128, lr 1e-3.
ours: ``VAE(arch="mlp")`` (AdamW, weight_decay=0: Adam's update); pythae: its default ``VAE`` with
``reconstruction_loss="bce"`` through ``TrainingPipeline`` (its DataLoader, Adam); plain: the loop a
user would write (one preloaded tensor, shuffled index batches, Adam, zero_grad/backward/step).

Each arm is a spawned process (same thread count, untimed warm-up on 1,024 rows). A baton passes
between them after every epoch, the order rotating, so no two train at once. An epoch runs from
taking the baton to the arm's end of epoch (epoch 1 includes setup); the test ELBO is then computed,
untimed, by one shared function with the same noise. Epochs where other processes used > 0.1 cores
(from /proc) are starred and left out of the medians while 2 remain. Reported: throughput from the
median epoch of 2..E (ratios, higher is better), the test ELBOs, the training time to ``--target``.
Exits non-zero if the arms saw different data or model sizes, or an own ELBO is 1 nat off the shared.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import header  # noqa: E402

LATENT, HIDDEN, D = 16, 512, 784
BATCH, LR = 128, 1e-3
EVAL_SEED = 1234  # posterior noise of the shared test-ELBO evaluation
WARMUP_ROWS = 1024
QUIET = 0.1  # cores other processes may use before an epoch counts as disturbed
ARMS = ("ours", "pythae", "plain")


def busy_ticks(pid: int | None = None) -> int:
    """Busy clock ticks so far of the whole machine (``pid`` None) or of one process (its threads)."""
    if pid is None:
        with open("/proc/stat") as fh:
            f = [int(v) for v in fh.readline().split()[1:9]]
        return f[0] + f[1] + f[2] + f[5] + f[6] + f[7]  # user nice system irq softirq steal
    with open(f"/proc/{pid}/stat") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime stime


@torch.no_grad()
def test_elbo(posterior, log_px, X: np.ndarray, rows: int = 2000) -> float:
    """Mean single-sample ELBO in nats over X, the same noise for every arm."""
    gen = torch.Generator().manual_seed(EVAL_SEED)
    total = 0.0
    for start in range(0, len(X), rows):
        x = torch.from_numpy(X[start : start + rows])
        mu, logvar = posterior(x)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(mu.shape, generator=gen)
        kl = 0.5 * (mu**2 + std**2 - 1.0 - logvar).sum(1)
        total += float((log_px(x, mu + std * eps) - kl).sum())
    return total / len(X)


def n_params(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def load_split(quick: bool):
    import latentspace as ls

    ds = ls.load_data("mnist")
    X = np.asarray(ds.X, dtype=np.float32)
    Xtr, Xte = X[~ds.test_mask], X[ds.test_mask]
    if quick:
        Xtr, Xte = Xtr[:10_000], Xte[:2_000]
    digest = hashlib.sha256(Xtr.tobytes() + Xte.tobytes()).hexdigest()[:16]
    return np.ascontiguousarray(Xtr), np.ascontiguousarray(Xte), digest


class Baton:
    """A worker's side: wait for "go", time the epoch, report it with its test ELBO."""

    def __init__(self, conn, Xte: np.ndarray):
        self.conn, self.Xte = conn, Xte

    def start(self, digest: str) -> None:
        """Warmed up: say so (with the data's digest) and wait for the first epoch's baton."""
        self.conn.send(("ready", digest))
        self.wait()

    def wait(self) -> None:
        assert self.conn.recv() == "go"
        self.t0 = time.perf_counter()

    def end_of_epoch(self, posterior, log_px) -> None:
        seconds = time.perf_counter() - self.t0
        self.conn.send(("epoch", seconds, test_elbo(posterior, log_px, self.Xte)))
        self.wait()


# --- the three arms --------------------------------------------------------------------------------
def run_ours(conn, cfg: dict) -> dict:
    from latentspace.models.vae import VAE
    from latentspace.progress import progress_hook

    Xtr, Xte, digest = load_split(cfg["quick"])

    def make(epochs: int) -> VAE:
        return VAE(
            LATENT, arch="mlp", hidden=(HIDDEN,), likelihood="bernoulli", epochs=epochs, batch_size=BATCH,
            lr=LR, val_fraction=0.0, random_state=0, threads=cfg["threads"], device="cpu",
        )  # fmt: skip

    make(1).fit(Xtr[:WARMUP_ROWS])
    model = make(cfg["epochs"])
    baton = Baton(conn, Xte)

    def posterior(x):
        h = model.net_.encoder(x)
        return h[:, :LATENT], h[:, LATENT:]

    def log_px(x, z):  # the decoder returns logits
        return -F.binary_cross_entropy_with_logits(model.net_.decoder(z), x, reduction="none").sum(1)

    def hook(task, done, total, info=""):
        if task == "training" and done == total:
            baton.end_of_epoch(posterior, log_px)

    baton.start(digest)
    with progress_hook(hook):
        model.fit(Xtr)
    return {
        "params": n_params(model.net_.encoder, model.net_.decoder),
        "own_elbo": float(np.mean(model.elbo(Xte))),
        "shared_elbo": test_elbo(posterior, log_px, Xte),
    }


def run_pythae(conn, cfg: dict) -> dict:
    import logging

    from pythae.models import VAE, VAEConfig
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    for name in [n for n in logging.root.manager.loggerDict if n.startswith("pythae")]:
        logging.getLogger(name).setLevel(logging.WARNING)
    Xtr, Xte, digest = load_split(cfg["quick"])
    baton = Baton(conn, Xte)
    out_dir = tempfile.mkdtemp(prefix="bench_pythae_")
    state = {}

    def posterior(x):
        out = state["model"].encoder(x)
        return out.embedding, out.log_covariance

    def log_px(x, z):  # the decoder returns probabilities, (B, 1, 28, 28)
        probs = state["model"].decoder(z)["reconstruction"].reshape(len(x), -1)
        return -F.binary_cross_entropy(probs, x, reduction="none").sum(1)

    class Timer(TrainingCallback):
        def on_epoch_end(self, training_config, **kwargs):
            state["model"] = kwargs["model"]
            baton.end_of_epoch(posterior, log_px)

    def train(X: np.ndarray, epochs: int, callbacks):
        torch.manual_seed(0)
        model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce"))
        config = BaseTrainerConfig(
            output_dir=out_dir, per_device_train_batch_size=BATCH, learning_rate=LR, num_epochs=epochs,
            no_cuda=True, seed=0,
        )  # fmt: skip
        with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):  # its tqdm bars
            TrainingPipeline(model=model, training_config=config)(
                train_data=X.reshape(-1, 1, 28, 28), callbacks=callbacks
            )
        return model

    try:
        train(Xtr[:WARMUP_ROWS], 1, None)
        baton.start(digest)
        model = train(Xtr, cfg["epochs"], [Timer()])
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    state["model"] = model.eval()
    with torch.no_grad():  # its own loss: BCE summed over pixels + KL, the batch mean = -ELBO
        x = torch.from_numpy(Xte).reshape(-1, 1, 28, 28)
        own = -float(model({"data": x}).loss)
    return {
        "params": n_params(model.encoder, model.decoder),
        "own_elbo": own,
        "shared_elbo": test_elbo(posterior, log_px, Xte),
    }


def run_plain(conn, cfg: dict) -> dict:
    """The obvious PyTorch loop."""
    Xtr, Xte, digest = load_split(cfg["quick"])

    def make():
        enc = nn.Sequential(nn.Linear(D, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2 * LATENT))
        dec = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, D))
        return enc, dec

    def train(X: torch.Tensor, epochs: int, enc, dec, end_of_epoch) -> None:
        opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=LR)
        for _ in range(epochs):
            perm = torch.randperm(len(X))
            for i in range(0, len(X), BATCH):
                x = X[perm[i : i + BATCH]]
                mu, logvar = enc(x).chunk(2, dim=1)
                z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
                rec = F.binary_cross_entropy_with_logits(dec(z), x, reduction="sum")
                kl = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp())
                loss = (rec + kl) / len(x)
                opt.zero_grad()
                loss.backward()
                opt.step()
            end_of_epoch()

    torch.manual_seed(0)
    train(torch.from_numpy(Xtr[:WARMUP_ROWS]), 1, *make(), lambda: None)
    torch.manual_seed(0)
    enc, dec = make()
    baton = Baton(conn, Xte)

    def posterior(x):
        return enc(x).chunk(2, dim=1)

    def log_px(x, z):
        return -F.binary_cross_entropy_with_logits(dec(z), x, reduction="none").sum(1)

    baton.start(digest)
    train(torch.from_numpy(Xtr), cfg["epochs"], enc, dec, lambda: baton.end_of_epoch(posterior, log_px))
    return {"params": n_params(enc, dec), "shared_elbo": test_elbo(posterior, log_px, Xte)}


def worker(name: str, conn, cfg: dict) -> None:
    torch.set_num_threads(cfg["threads"])
    try:
        run = {"ours": run_ours, "pythae": run_pythae, "plain": run_plain}[name]
        info = run(conn, cfg)
        conn.send(("done", info))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


# --- the parent ------------------------------------------------------------------------------------
def recv(name: str, conn, kind: str):
    msg = conn.recv()
    if msg[0] == "error":
        raise RuntimeError(f"{name} worker failed:\n{msg[1]}")
    if msg[0] != kind:
        raise RuntimeError(f"{name} worker sent {msg[0]!r}, expected {kind!r}")
    return msg[1:]


def time_to(times: list[float], elbos: list[float], target: float) -> tuple[int, float] | None:
    """(epoch, cumulative training seconds) when the test ELBO first reaches ``target``."""
    for i, e in enumerate(elbos):
        if e >= target:
            return i + 1, sum(times[: i + 1])
    return None


def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def run_arms(cfg: dict):
    """Start the arms, pass the baton for every epoch; (times, ELBOs, others' cores, digests, done)."""
    ctx = mp.get_context("spawn")
    conns, procs, digest, done = {}, {}, {}, {}
    times, elbos, others = ({a: [] for a in ARMS} for _ in range(3))
    try:
        for a in ARMS:  # one at a time, so the warm-ups do not share the CPU either
            conns[a], child = ctx.Pipe()
            procs[a] = ctx.Process(target=worker, args=(a, child, cfg), daemon=True)
            procs[a].start()
            child.close()
            (digest[a],) = recv(a, conns[a], "ready")
        print("\ntest ELBO in nats/image; others: cores other processes used during the epoch (* > 0.1)")
        print(
            "epoch  " + "".join(f"{a + ' s':>10}" for a in ARMS) + "".join(f"{a + ' ELBO':>13}" for a in ARMS)
        )
        for e in range(cfg["epochs"]):
            for a in ARMS[e % 3 :] + ARMS[: e % 3]:
                m0, w0, t0 = busy_ticks(), busy_ticks(procs[a].pid), time.perf_counter()
                conns[a].send("go")
                seconds, elbo = recv(a, conns[a], "epoch")
                wall = time.perf_counter() - t0
                m1, w1 = busy_ticks(), busy_ticks(procs[a].pid)
                others[a].append(max(0, (m1 - m0) - (w1 - w0)) / os.sysconf("SC_CLK_TCK") / wall)
                times[a].append(seconds)
                elbos[a].append(elbo)
            star = "*" if max(others[a][-1] for a in ARMS) > QUIET else " "
            print(
                f"{e + 1:5d}{star} "
                + "".join(f"{times[a][-1]:10.2f}" for a in ARMS)
                + "".join(f"{elbos[a][-1]:13.2f}" for a in ARMS)
                + "   others " + " / ".join(f"{others[a][-1]:.2f}" for a in ARMS),
                flush=True,
            )  # fmt: skip
        for a in ARMS:
            conns[a].send("go")
            (done[a],) = recv(a, conns[a], "done")
            procs[a].join(timeout=60)
    finally:
        for p in procs.values():
            if p.is_alive():
                p.terminate()
    return times, elbos, others, digest, done


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="epochs per arm (default 10; quick 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--target", type=float, default=-110.0, help="test ELBO target in nats")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10k/2k rows, 3 epochs")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("pythae") is None:
        print("needs Pythae 0.1.2: .venv/bin/pip install -c constraints.txt -e '.[bench]'", file=sys.stderr)
        return 2
    epochs = args.epochs or (3 if args.quick else 10)
    if epochs < 3:
        parser.error("--epochs must be at least 3 (epoch 1 carries the setup; 2 or more are measured)")
    threads = args.threads or torch.get_num_threads()
    from importlib.metadata import version

    versions = {k: version(k) for k in ("latentspace", "pythae", "torch", "numpy")}
    header("VAE training on MNIST: latentspace, Pythae and a plain PyTorch loop", versions)
    n_train = 10_000 if args.quick else 60_000
    print(f"threads  : torch.set_num_threads({threads}) in every arm; load average {loadavg()}")
    print(f"data     : MNIST, {n_train} training rows; batch {BATCH}, lr {LR}, {epochs} epochs each")
    times, elbos, others, digest, done = run_arms({"epochs": epochs, "threads": threads, "quick": args.quick})

    ok = len(set(digest.values())) == 1 and len({done[a]["params"] for a in ARMS}) == 1
    sizes = ", ".join(f"{a} {done[a]['params']:,}" for a in ARMS)
    same = "identical" if len(set(digest.values())) == 1 else "DIFFERENT"
    print(f"\nmodels   : {sizes} parameters; data sha256 {same} in every arm")
    med = {}
    for a in ARMS:
        quiet = [t for t, b in zip(times[a][1:], others[a][1:], strict=True) if b <= QUIET]
        med[a] = statistics.median(quiet if len(quiet) >= 2 else times[a][1:])
    print(f"\nthroughput, median epoch over epochs 2..{epochs} (undisturbed where 2 or more are):")
    for a in ARMS:
        rate = n_train / med[a]
        print(f"  {a:6} {med[a]:7.2f} s/epoch  {rate:9,.0f} samples/s  (epoch 1: {times[a][0]:.2f} s)")
    r_pythae, r_plain = med["pythae"] / med["ours"], med["plain"] / med["ours"]
    print(f"  ratio ours/pythae {r_pythae:.2f} (target >= 1.2), ours/plain {r_plain:.2f} (target >= 1.0)")

    print(f"\ntest ELBO after {epochs} epochs: " + ", ".join(f"{a} {elbos[a][-1]:.2f}" for a in ARMS))
    reach = {a: time_to(times[a], elbos[a], args.target) for a in ARMS}
    cells = ", ".join(f"{a} " + (f"epoch {r[0]}, {r[1]:.1f} s" if r else "never") for a, r in reach.items())
    print(f"time to a test ELBO of {args.target}: {cells}")
    if all(reach.values()):
        t = {a: reach[a][1] for a in ARMS}
        print(f"  ratio ours/pythae {t['ours'] / t['pythae']:.2f}, ours/plain {t['ours'] / t['plain']:.2f}")

    print("\nchecks, the shared evaluation against each arm's own ELBO (same weights, other noise):")
    for a in ("ours", "pythae"):
        diff = abs(done[a]["own_elbo"] - done[a]["shared_elbo"])
        ok &= diff <= 1.0
        verdict = "ok" if diff <= 1 else "MISMATCH"
        print(f"  {a:6} shared {done[a]['shared_elbo']:.2f}, own {done[a]['own_elbo']:.2f}  ({verdict})")
    disturbed = sum(b > QUIET for v in others.values() for b in v)
    print(f"load average at the end {loadavg()}; epochs disturbed by other processes: {disturbed}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
