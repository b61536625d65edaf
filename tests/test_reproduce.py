"""`latentspace reproduce --quick`: every experiment runs on small subsets and lands in a sane range.

The quick variants check code paths and orders of magnitude, not agreement with the literature
(that is `make reproduce`, recorded in RESULTS.md)."""

import pytest
from typer.testing import CliRunner

from latentspace.cli import app
from latentspace.errors import InputError
from latentspace.reproduce import EXPERIMENTS, reproduce


@pytest.fixture(scope="module")
def quick(tmp_path_factory, mnist):
    root = tmp_path_factory.mktemp("reproduce")
    done = reproduce(root / "results", root / "RESULTS.md", quick=True)
    return root, {e.key: e for e in done}


def _row(exp, start):
    return next(r for r in exp.rows if r.quantity.startswith(start))


def test_every_experiment_ran_and_is_written(quick):
    root, done = quick
    assert list(done) == list(EXPERIMENTS)
    text = (root / "RESULTS.md").read_text()
    for e in done.values():
        assert f". {e.title}" in text and e.source in text
    assert "| quantity | ours | published |" in text and "- Machine:" in text and "- Date:" in text
    assert (root / "results" / "vae-2d-manifold.png").stat().st_size > 10_000
    assert (root / "results" / "mnist-umap.png").stat().st_size > 10_000


def test_knn_and_quadratic_classifier(quick):
    e = quick[1]["knn_mnist"]
    assert 2.0 < _row(e, "kNN (L2, k=3) on raw pixels").ours < 10.0  # 6,000 training digits
    assert _row(e, "kNN (L2, k=3) on raw pixels").published == 5.0
    assert _row(e, "PCA-40 + quadratic").ours < 15.0


def test_maps_are_faithful(quick):
    e = quick[1]["maps_mnist"]
    for name in ("t-SNE", "UMAP"):
        assert _row(e, f"{name}: trustworthiness").ours > 0.85
        assert _row(e, f"{name}: 10-NN label accuracy").ours > 0.8


def test_maps_stand_beside_anchors_run_here(quick):
    """No publication scores maps this way: openTSNE and umap-learn, run in the same experiment and
    scored by the same code, fill the reference column, and ours is not far below either."""
    root, done = quick
    e = done["maps_mnist"]
    assert e.reference == "openTSNE / umap-learn" and "No published figure" in e.source
    assert "| quantity | ours | openTSNE / umap-learn |" in (root / "RESULTS.md").read_text()
    for r in e.rows:
        assert r.published is not None and 0.8 < r.published <= 1.0
        assert r.ours > r.published - 0.05, r.quantity


def test_iwae_estimate_is_tighter_than_the_elbo(quick):
    e = quick[1]["vae_nll"]
    nll, neg_elbo = e.rows[0].ours, _row(e, "VAE test -ELBO").ours
    assert 60.0 < nll <= neg_elbo < 400.0


def test_disentanglement_scores_are_in_range(quick):
    e = quick[1]["disentanglement_shapes"]
    assert len(e.rows) == 8
    assert all(0.0 <= r.ours <= 1.0 for r in e.rows)


def test_probes_read_labels(quick):
    e = quick[1]["probes_mnist"]
    assert _row(e, "raw pixels (784-d): linear probe").ours > 0.8
    assert _row(e, "PCA (16-d): 5-NN").ours > 0.8
    assert len(e.rows) == 10


def test_unknown_experiment_is_refused(tmp_path):
    with pytest.raises(InputError, match="unknown experiment 'nope'"):
        reproduce(tmp_path, tmp_path / "R.md", quick=True, only=["nope"])
    assert not (tmp_path / "R.md").exists()


def test_cli_lists_the_experiments():
    result = CliRunner().invoke(app, ["reproduce", "--list"])
    assert result.exit_code == 0
    assert all(key in result.output for key in EXPERIMENTS)
