"""The GAN works on real images with its defaults, and says when it has failed.

Thresholds are the issue's: samples at least 0.6x as diverse as the data (mean pairwise distance),
every class drawn 4-20% of the time by a kNN classifier on the real data, the encoder inverting
better than the mean image. A forced collapse must be reported.
"""

import logging

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from latentspace.data import load_builtin
from latentspace.models.gan import COLLAPSED_BELOW, GAN, mean_pairwise_distance


def test_mean_pairwise_distance_is_the_mean_over_pairs():
    A = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert mean_pairwise_distance(A) == pytest.approx((5 + 10 + 5) / 3)
    assert mean_pairwise_distance(np.ones((4, 3))) == 0.0


def test_a_collapsed_generator_is_reported(digits, caplog):
    """lr 0.2 (a thousand times the default) collapses the digits GAN to one output: the history,
    the warning, info's verdict and a saved-and-loaded model all say so."""
    with caplog.at_level(logging.WARNING, logger="latentspace.models.gan"):
        gan = GAN(8, epochs=10, encoder_epochs=2, lr=0.2, random_state=0, threads=1).fit(digits.X)
    assert gan.diversity_ < 0.05 < COLLAPSED_BELOW
    assert "the generator collapsed: its samples are all nearly the same" in caplog.text
    assert "worse than the mean image" in caplog.text
    info = gan.info()
    assert info["verdict"].startswith("the generator collapsed") and info["sample_diversity"] < 0.05
    tensors, meta = gan._get_state()
    again = GAN(8, epochs=10, encoder_epochs=2, lr=0.2)._set_state(tensors, meta)
    assert again.info()["verdict"] == info["verdict"]


def _coverage(gan, X, y, n=1000) -> np.ndarray:
    knn = KNeighborsClassifier(3).fit(X, y)
    return np.bincount(knn.predict(gan.sample(n, random_state=0)), minlength=int(y.max()) + 1) / n


def _diversity_ratio(gan, X) -> float:
    real = X[np.random.default_rng(1).choice(len(X), 500, replace=False)]
    return mean_pairwise_distance(gan.sample(500, random_state=1)) / mean_pairwise_distance(real)


@pytest.mark.slow
def test_gan_on_shapes_covers_every_shape():
    ds = load_builtin("shapes", n=10_000)
    X, y = np.asarray(ds.X), np.asarray(ds.y)
    gan = GAN(16, epochs=10, random_state=0).fit(X)
    shares = _coverage(gan, X, y)
    assert shares.min() >= 0.15, shares  # three shapes, each drawn
    assert _diversity_ratio(gan, X) >= 0.6
    assert gan.inversion_["mse_encoder"] < gan.inversion_["mse_mean_image"]


@pytest.mark.slow
def test_gan_on_mnist_with_its_defaults():
    ds = load_builtin("mnist")
    X, y = np.asarray(ds.X[:60_000]), np.asarray(ds.y[:60_000])
    gan = GAN(32, random_state=0).fit(X)
    shares = _coverage(gan, X, y)
    assert shares.min() >= 0.04 and shares.max() <= 0.2, shares
    assert _diversity_ratio(gan, X) >= 0.6
    assert gan.inversion_["mse_encoder"] < gan.inversion_["mse_mean_image"]
    assert gan.info()["verdict"] == "ok"


def test_the_report_card_sees_a_collapse(digits, tmp_path, monkeypatch):
    """Generation scores beside the Fréchet distance that a collapsed generator cannot fake: a
    "model" that draws real held-out digits covers every class with the data's diversity; one that
    draws a single digit over and over covers one class in ten with none."""
    from latentspace.metrics.generation import coverage, generation

    monkeypatch.setenv("LATENTSPACE_CACHE", str(tmp_path))
    X, y = digits.X, digits.y
    train, test = np.arange(len(X)) % 5 != 0, np.arange(len(X)) % 5 == 0

    class Drawn:
        def __init__(self, rows):
            self.rows = rows

        def sample(self, n, random_state=None):
            rng = np.random.default_rng(random_state)
            return self.rows[rng.integers(0, len(self.rows), n)]

    good = generation(Drawn(X[test]), X[train], y[train], X[test], "digits-test", n=300)
    bad = generation(Drawn(X[test][:1]), X[train], y[train], X[test], "digits-test", n=300)
    assert good["class_coverage"] >= 0.9 and 0.9 < good["sample_diversity"] < 1.1
    assert bad["class_coverage"] == pytest.approx(0.1) and bad["sample_diversity"] == 0.0
    assert bad["class_share_max"] == 1.0 and bad["class_share_min"] == 0.0
    assert coverage(np.array([0.5, 0.5, 0.0]), np.array([0.4, 0.4, 0.2])) == pytest.approx(2 / 3)


def test_info_and_the_report_say_a_gan_failed(tmp_path):
    from typer.testing import CliRunner

    from latentspace.cli import app
    from latentspace.report.html import write_report
    from latentspace.stages.fit import fit

    run = fit(
        "digits", "gan", latent_dim=8, out=tmp_path / "run", epochs=10, encoder_epochs=2, lr=0.2, threads=1
    )
    page = open(write_report(run)).read()
    assert "This model has failed" in page and "the generator collapsed" in page
    res = CliRunner().invoke(app, ["info", str(tmp_path / "run")])
    assert res.exit_code == 0 and "the generator collapsed" in " ".join(res.output.split()), res.output


def test_gan_on_an_rgb_image_folder(tmp_path):
    """Three channels end to end: a folder of colour PNGs, a conv GAN, a run that loads again."""
    from PIL import Image

    import latentspace as ls
    from latentspace.stages.fit import fit

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(60):
            img = np.zeros((16, 16, 3), np.uint8)
            img[4:12, 4:12, 0 if label == "a" else 2] = 255
            img += rng.integers(0, 40, img.shape, dtype=np.uint8)
            Image.fromarray(img).save(tmp_path / "imgs" / label / f"{i}.png")
    run = fit(
        str(tmp_path / "imgs"),
        "gan",
        latent_dim=4,
        out=tmp_path / "run",
        epochs=3,
        encoder_epochs=1,
        threads=1,
    )
    model = ls.open_run(tmp_path / "run").load_model()
    assert model.arch_ == "conv" and model.sample(5, random_state=0).shape == (5, 3 * 16 * 16)
    diversity = [h["diversity"] for h in run.read_json("history.json") if h.get("stage") == "gan"]
    assert len(diversity) == 3 and all(0.0 <= d < 5.0 for d in diversity)


def test_a_one_row_last_batch_trains():
    """The generator's batch norm needs two rows in training: a one-row last batch (65 rows in
    batches of 64) once stopped the fit with a ValueError."""
    X = np.random.default_rng(0).random((65, 64), dtype=np.float32)
    gan = GAN(2, epochs=1, encoder_epochs=1, threads=1, sample_shape=(1, 8, 8), val_fraction=0.0).fit(X)
    assert len(gan.history_) == 2 and np.isfinite(gan.history_[0]["train_g_loss"])
