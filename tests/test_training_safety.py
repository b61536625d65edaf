"""Training that goes wrong says so: a loss that explodes without overflowing stops the fit with
the epoch and the learning rate named; a model that learned nothing is reported."""

import logging

import numpy as np
import pytest
from sklearn.datasets import load_digits
from typer.testing import CliRunner

import latentspace as ls
from latentspace.cli import app
from latentspace.train import TrainingDiverged


@pytest.fixture(scope="module")
def digits_X():
    return (load_digits().data / 16).astype(np.float32)


def _vae(lr: float):
    return ls.create_model("vae", 4, epochs=4, lr=lr, threads=1, device="cpu", random_state=0)


def test_a_loss_that_explodes_stops_the_fit(digits_X):
    """lr 0.5 takes the digits VAE's loss from about 45 to about 1.6e5 in one epoch, finite all the
    way (before this check the fit ended with exit 0 and a loss of 1e4-1e5)."""
    with pytest.raises(
        TrainingDiverged, match=r"rose from 4\d\.\d+ at the first step to .* epoch 1; .*--lr \(now 0.5\)"
    ):
        _vae(0.5).fit(digits_X)
    with pytest.raises(TrainingDiverged, match=r"--lr \(now 1000\)"):
        _vae(1000.0).fit(digits_X)


def test_a_model_that_learned_nothing_is_reported(digits_X, caplog):
    with caplog.at_level(logging.WARNING, logger="latentspace.train.engine"):
        _vae(0.05).fit(digits_X)
    assert "learned nothing" in caplog.text and "Lower --lr (now 0.05)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="latentspace.train.engine"):
        fitted = _vae(1e-3).fit(digits_X)
    assert "learned nothing" not in caplog.text
    assert fitted.history_[-1]["val_loss"] < 0.8 * 44.5  # and it did learn


def _fit_cli(out, lr: str):
    args = ["fit", "--data", "digits", "--model", "vae", "-k", "4", "--epochs", "3", "--lr", lr]
    return CliRunner().invoke(app, [*args, "--out", str(out)])


def test_the_cli_says_so_in_one_line(tmp_path):
    res = _fit_cli(tmp_path / "run", "1000")  # the loss overflows in the first epoch
    assert res.exit_code == 2, res.output
    assert res.output.strip().startswith("error: training stopped") and "--lr (now 1000)" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "run").exists()
    assert "no checkpoint is kept" in res.output and not list(tmp_path.iterdir())  # nothing left
    # the digits conv VAE at lr 0.5 ends near 1.4e3 against 48 untrained: written, and said
    res = _fit_cli(tmp_path / "run2", "0.5")
    assert res.exit_code == 0 and "learned nothing" in " ".join(res.output.split()), res.output
