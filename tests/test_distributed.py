"""Data-parallel training under torchrun: 2 CPU processes (gloo) give the weights of one process
with the same global batch."""

import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from latentspace.runfolder import Run

ARGS = [
    "fit",
    "--data",
    "digits",
    "--model",
    "ae",
    "-k",
    "4",
    "--epochs",
    "3",
    "--batch-size",
    "64",
    "--seed",
    "0",
    "--threads",
    "1",
    "-p",
    'arch="mlp"',
]


def _run(cmd, tmp_path):
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    return res


def _torchrun(out, args, extra=()):
    """2 local ranks under torchrun running ``latentspace <args> --out out <extra>``."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return [*launch, "-m", "latentspace", *args, "--out", str(out), *extra]


def _env(tmp_path):
    return dict(os.environ, OMP_NUM_THREADS="1", LATENTSPACE_CACHE=str(tmp_path / "cache"))


def test_two_gloo_ranks_match_one_process(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _run([sys.executable, "-m", "latentspace", *ARGS, "--out", str(one)], tmp_path)
    res = _run(_torchrun(two, ARGS), tmp_path)
    assert res.stdout.count("fitted ae") == 1  # rank 0 reports and writes; rank 1 stays quiet
    A, B = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    assert A.keys() == B.keys()
    # each rank takes every other row of the global batch, DDP averages the gradients weighted by
    # rows: the same update up to float summation order (measured: 7e-7 after 3 epochs)
    for k in A:
        assert np.abs(A[k] - B[k]).max() < 1e-4, k
    h1, h2 = Run(one).read_json("history.json"), Run(two).read_json("history.json")
    for r1, r2 in zip(h1, h2, strict=True):
        assert abs(r1["train_loss"] - r2["train_loss"]) < 1e-4 * abs(r1["train_loss"])
        assert abs(r1["val_loss"] - r2["val_loss"]) < 1e-4 * abs(r1["val_loss"])
    assert (two / "checkpoints").is_dir() and not list(tmp_path.glob(".two*"))  # written once, moved in


LONG = [a if a != "3" else "30" for a in ARGS]  # 30 epochs: time to interrupt the run


def test_an_interrupted_two_rank_run_resumes_to_the_same_weights(tmp_path):
    """Kill a 2-rank torchrun run once its first checkpoint exists, resume it under torchrun, and
    end at the weights of an uninterrupted 2-rank run."""
    import contextlib
    import signal
    import time

    import psutil

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    _run(_torchrun(whole, LONG), tmp_path)
    proc = subprocess.Popen(
        _torchrun(cut, LONG), env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    last = tmp_path / ".cut.checkpoints" / "train" / "last.safetensors"
    deadline = time.monotonic() + 120
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    # torchrun may start its ranks in sessions of their own: kill every descendant, then torchrun
    family = psutil.Process(proc.pid).children(recursive=True)
    for p in [*family, psutil.Process(proc.pid)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    psutil.wait_procs(family, timeout=30)
    assert last.exists() and not cut.exists(), "the run must be cut after a checkpoint, before its end"
    _run(_torchrun(cut, LONG, ["--resume"]), tmp_path)
    A, B = load_file(whole / "model.safetensors"), load_file(cut / "model.safetensors")
    for k in A:
        assert np.abs(A[k] - B[k]).max() < 1e-6, k
    h1, h2 = Run(whole).read_json("history.json"), Run(cut).read_json("history.json")
    assert len(h1) == len(h2) == 30
    assert [r["train_loss"] for r in h1] == pytest.approx([r["train_loss"] for r in h2], rel=1e-6)
