"""The CLI through Typer's runner: every command, and one-line errors with exit code 2."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from latentspace.cli import app
from latentspace.runfolder import Run

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_error(result, message):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert message in " ".join(result.output.split())  # rich may wrap long lines


def test_help_on_every_command():
    for cmd in ("datasets", "models", "fit", "encode", "info", "demo"):
        result = invoke(cmd, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_datasets_lists_builtins():
    result = invoke("datasets")
    assert result.exit_code == 0
    for name in ("digits", "mnist", "shapes", "swissroll", "1,797 x 64", "70,000 x 784"):
        assert name in result.output


def test_fit_info_encode(tmp_path, digits):
    out = tmp_path / "runs" / "d"
    result = invoke("fit", "--data", "digits", "--model", "pca", "--latent-dim", 5, "--out", out, "--seed", 2)
    assert result.exit_code == 0, result.output
    assert "fitted pca" in result.output
    run = Run(out)
    assert run.config["latent_dim"] == 5 and run.config["seed"] == 2

    result = invoke("info", out)
    assert result.exit_code == 0 and "checksums verified" in result.output
    cfg = json.loads(invoke("info", out, "--json").output)
    assert cfg["model"]["name"] == "pca"

    np.save(tmp_path / "x.npy", digits.X[:50])
    result = invoke("encode", out, "--data", tmp_path / "x.npy", "--out", tmp_path / "z.parquet")
    assert result.exit_code == 0, result.output
    t = pq.read_table(tmp_path / "z.parquet")
    assert t.num_rows == 50
    np.testing.assert_allclose(t["z_0"].to_numpy(), run.latent_matrix()[:50, 0], atol=1e-6)


def test_data_args_reach_the_builtin(tmp_path):
    out = tmp_path / "s"
    result = invoke("fit", "-d", "shapes", "--data-arg", "n=300", "--data-arg", "size=16", "-k", 3, "-o", out)
    assert result.exit_code == 0, result.output
    assert Run(out).config["dataset"]["n"] == 300 and Run(out).config["dataset"]["d"] == 256


@pytest.mark.parametrize(
    "args, message",
    [
        (["-d", "nope", "-k", 2], "unknown dataset 'nope'"),
        (["-d", "digits", "-m", "vea", "-k", 2], "unknown model 'vea'"),
        (["-d", "digits", "-k", 65], "larger than allowed: at most"),
        (["-d", "digits", "-k", 0], "n_components must be an int in [1, inf]; got 0"),
        (["-d", "shapes", "--data-arg", "n", "-k", 2], "--data-arg expects KEY=VALUE"),
    ],
)
def test_bad_fit_input_is_one_line_and_leaves_nothing(tmp_path, args, message):
    out = tmp_path / "r"
    result = invoke("fit", *args, "-o", out)
    assert_clean_error(result, message)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_nan_file_names_row_and_column(tmp_path):
    X = np.ones((10, 3), dtype=np.float32)
    X[4, 2] = np.nan
    np.save(tmp_path / "x.npy", X)
    result = invoke("fit", "-d", tmp_path / "x.npy", "-k", 2, "-o", tmp_path / "r")
    assert_clean_error(result, "nan at row 4, column 2")
    assert not (tmp_path / "r").exists()


def test_encode_with_wrong_feature_count(tmp_path):
    invoke("fit", "-d", "digits", "-k", 2, "-o", tmp_path / "r")
    np.save(tmp_path / "x.npy", np.zeros((4, 10), dtype=np.float32))
    result = invoke("encode", tmp_path / "r", "-d", tmp_path / "x.npy", "-o", tmp_path / "z.parquet")
    assert_clean_error(result, "has 10 features, but")
    assert "64 features" in result.output
    assert not (tmp_path / "z.parquet").exists()


def test_tampered_run_fails_cleanly(tmp_path):
    invoke("fit", "-d", "digits", "-k", 2, "-o", tmp_path / "r")
    p = tmp_path / "r" / "model.safetensors"
    p.write_bytes(p.read_bytes()[:20])
    assert_clean_error(invoke("info", tmp_path / "r"), "does not match the checksum")


def test_existing_out_needs_overwrite(tmp_path):
    assert invoke("fit", "-d", "digits", "-k", 2, "-o", tmp_path / "r").exit_code == 0
    assert_clean_error(invoke("fit", "-d", "digits", "-k", 3, "-o", tmp_path / "r"), "--overwrite")
    assert invoke("fit", "-d", "digits", "-k", 3, "-o", tmp_path / "r", "--overwrite").exit_code == 0
    assert Run(tmp_path / "r").config["latent_dim"] == 3


@pytest.mark.slow
def test_demo_on_mnist(tmp_path, mnist):
    """The whole `make demo` job on MNIST (about 3 minutes on 2 cores)."""
    result = invoke("demo", "--out", tmp_path, "--no-serve")
    assert result.exit_code == 0, result.output
    run = Run(tmp_path / "mnist-pca")
    assert run.config["latent_dim"] == 16 and run.config["split"]["n_train"] == 60_000
    # 16 components of MNIST explain about 59% of the pixel variance
    assert 0.55 < run.config["info"]["explained_variance_total"] < 0.65
    vae = Run(tmp_path / "mnist-vae")
    assert {"metrics.json", "map-umap.parquet", "report.html"} <= set(vae.config["files"])
    assert (tmp_path / "compare.html").is_file()


def test_demo_on_digits(tmp_path, monkeypatch):
    """The demo's steps end to end on digits (what it falls back to without MNIST)."""
    import dataclasses

    from latentspace.data.builtin import BUILTINS

    monkeypatch.setitem(BUILTINS, "mnist", dataclasses.replace(BUILTINS["mnist"], available=lambda: False))
    result = invoke("demo", "--out", tmp_path, "--no-serve", "--epochs", "3")
    assert result.exit_code == 0, result.output
    assert "MNIST is not installed" in result.output
    pca, vae = Run(tmp_path / "digits-pca"), Run(tmp_path / "digits-vae")
    assert pca.config["latent_dim"] == 8 and vae.config["info"]["epochs_run"] == 3
    for run in (pca, vae):
        card = run.read_json("metrics.json")["results"]
        assert 0.9 < card["neighbourhood"]["values"]["trustworthiness"] <= 1.0
        assert "report.html" in run.config["files"]
    assert vae.read_json("metrics.json")["results"]["likelihood"]["values"]["elbo_nats"] < 0
    assert "map-umap.parquet" in vae.config["files"]
    page = (tmp_path / "compare.html").read_text()
    assert "digits-pca" in page and "digits-vae" in page
