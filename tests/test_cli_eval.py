"""evaluate and compare from the CLI."""

import pytest
from typer.testing import CliRunner

import latentspace as ls
from latentspace.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    for k in (3, 9):
        ls.fit("digits", "pca", latent_dim=k, out=root / f"pca{k}")
    return root


def test_evaluate_then_compare(two_runs, tmp_path):
    for name in ("pca3", "pca9"):
        result = invoke(
            "evaluate", two_runs / name, "--metrics", "reconstruction,neighbourhood,probes", "--k", 5
        )
        assert result.exit_code == 0, result.output
        assert "trustworthiness" in result.output and "linear_probe_latent" in result.output
    out = tmp_path / "cmp.html"
    result = invoke("compare", two_runs / "pca3", two_runs / "pca9", "--out", out)
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "http" not in page  # self-contained
    assert page.count("★") >= 3 and "<th>pca3</th>" in page


def test_evaluate_skips_what_does_not_apply(two_runs):
    result = invoke("evaluate", two_runs / "pca3", "--metrics", "likelihood,disentanglement")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "pca defines no likelihood" in text and "no ground-truth factors" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--k", 5000], "--k must be at least 1 and below n/2"),
        (["--metrics", "beauty"], "unknown metric beauty; available: reconstruction"),
    ],
)
def test_evaluate_bad_input(two_runs, args, message):
    result = invoke("evaluate", two_runs / "pca3", *args)
    assert result.exit_code == 2 and message in " ".join(result.output.split())


def test_compare_needs_evaluated_runs_on_the_same_data(two_runs, tmp_path):
    ls.fit(ls.load_data("swissroll", n=200), "pca", latent_dim=2, out=tmp_path / "roll")
    result = invoke("compare", two_runs / "pca3", tmp_path / "roll")
    assert result.exit_code == 2 and "not comparable (pass --force" in " ".join(result.output.split())
    result = invoke("compare", two_runs / "pca3", tmp_path / "roll", "--force")
    assert result.exit_code == 2 and "has no metrics.json yet" in " ".join(result.output.split())


def test_run_without_latents_is_refused(tmp_path):
    run = ls.fit("digits", "pca", latent_dim=2, out=tmp_path / "r")
    (run.path / "latents.parquet").unlink()
    result = invoke("evaluate", run.path)
    assert result.exit_code == 2 and "latents.parquet is missing" in result.output
