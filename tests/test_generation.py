"""The generation metric against orderings known in advance: held-out real items score best, then
slightly blurred ones, then heavily blurred ones, then noise; likewise for growing additive noise."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import latentspace as ls
from latentspace.metrics.generation import DESCRIPTION, Whitener, distances, feature_classifier, generation


def blurred(X: np.ndarray, shape: tuple[int, int], sigma: float) -> np.ndarray:
    images = X.reshape(-1, *shape)
    return np.stack([gaussian_filter(im, sigma) for im in images]).reshape(len(X), -1).astype(np.float32)


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    """scikit-learn's digits: the classifier learns on every other row; the rest are split at
    random into the real reference and the candidates (which the classifier never saw)."""
    import os

    os.environ["LATENTSPACE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    ds = ls.load_data("digits")
    X, y = np.asarray(ds.X, dtype=np.float32), np.asarray(ds.y)
    train = np.arange(len(X)) % 2 == 0
    net = feature_classifier(X[train], y[train], "digits-ladder-test", seed=0)
    held = np.random.default_rng(0).permutation(np.flatnonzero(~train))
    half = len(held) // 2
    ref, cand = X[held[:half]], X[held[half : 2 * half]]
    rng = np.random.default_rng(1)
    shape = ds.sample_shape[1:]
    rungs = {
        "real": cand,
        "blur 0.5": blurred(cand, shape, 0.5),
        "blur 1": blurred(cand, shape, 1.0),
        "blur 2": blurred(cand, shape, 2.0),
        "noise 0.05": np.clip(cand + rng.normal(0, 0.05, cand.shape), 0, 1).astype(np.float32),
        "noise 0.15": np.clip(cand + rng.normal(0, 0.15, cand.shape), 0, 1).astype(np.float32),
        "noise 0.4": np.clip(cand + rng.normal(0, 0.4, cand.shape), 0, 1).astype(np.float32),
        "uniform noise": rng.random(cand.shape).astype(np.float32),
    }
    yield net, ref, {name: distances(net, ref, Xc) for name, Xc in rungs.items()}
    del os.environ["LATENTSPACE_CACHE"]


@pytest.mark.parametrize(
    "rungs",
    [
        ["real", "blur 0.5", "blur 1", "blur 2", "uniform noise"],
        ["real", "noise 0.05", "noise 0.15", "noise 0.4", "uniform noise"],
    ],
)
def test_both_distances_climb_the_ladder(ladder, rungs):
    _, _, dist = ladder
    fd = [dist[r][0] for r in rungs]
    kd = [dist[r][1] for r in rungs]
    assert all(a < b for a, b in zip(fd, fd[1:], strict=False)), dict(zip(rungs, fd, strict=True))
    assert all(a < b for a, b in zip(kd, kd[1:], strict=False)), dict(zip(rungs, kd, strict=True))
    # each rung stands clear of the one below: more than the real-vs-real distance apart in FD
    assert all(b - a > fd[0] * 0.1 for a, b in zip(fd[1:], fd[2:], strict=False))


def test_whitened_real_features_have_identity_covariance():
    """Whitening makes the real features' covariance the identity, up to the eigenvalue floor:
    direction i keeps lam_i / (lam_i + 1% of the mean eigenvalue) of its variance."""
    rng = np.random.default_rng(0)
    F = rng.normal(size=(4000, 5)) @ rng.normal(size=(5, 5)) + 3.0
    W = Whitener(F)(F)
    lam = np.linalg.eigvalsh(np.cov(F, rowvar=False))
    assert np.allclose(W.mean(0), 0, atol=1e-9)
    expected = np.sort(lam / (lam + Whitener.FLOOR * lam.mean()))
    assert np.allclose(np.linalg.eigvalsh(np.cov(W, rowvar=False)), expected, atol=1e-9)
    assert expected.max() > 0.99


def test_generation_card_ranks_a_blurring_model_below_a_faithful_one(ladder):
    """Through the report card's function: a "model" that draws held-out digits scores near the
    real-vs-real floor, one that draws the same digits blurred scores worse in both numbers, and the
    card carries the description of what the numbers can and cannot tell."""
    ds = ls.load_data("digits")
    X, y = np.asarray(ds.X, dtype=np.float32), np.asarray(ds.y)
    train = np.arange(len(X)) % 2 == 0

    class Drawn:
        def __init__(self, rows):
            self.rows = rows

        def sample(self, n, random_state=None):
            return self.rows[np.random.default_rng(random_state).integers(0, len(self.rows), n)]

    held = X[~train]
    faithful = generation(Drawn(held), X[train], y[train], held, "digits-ladder-test", n=400)
    blurry = generation(
        Drawn(blurred(held, (8, 8), 1.0)), X[train], y[train], held, "digits-ladder-test", n=400
    )
    assert faithful["fd_self"] < blurry["fd_self"] and faithful["kd_self"] < blurry["kd_self"]
    assert faithful["fd_self"] < 2 * faithful["fd_self_real_vs_real"]
    assert faithful["description"] == DESCRIPTION and "cannot tell" in DESCRIPTION
    assert "Heusel" in DESCRIPTION and "Bińkowski" in DESCRIPTION
