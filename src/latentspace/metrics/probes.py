"""Feature quality: how well labels can be read off the latents (linear probe, kNN), beside raw data."""

from __future__ import annotations

import numpy as np

from .base import NotApplicable

MAX_PROBE_TRAIN = 10_000  # rows for the logistic regression (its cost grows with n * d * iterations)


def _subsample(n: int, size: int, seed: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def linear_probe(F_train, y_train, F_test, y_test, seed: int = 0) -> float:
    """Test accuracy of a multinomial logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = _subsample(len(F_train), MAX_PROBE_TRAIN, seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed))
    clf.fit(np.asarray(F_train)[rows], np.asarray(y_train)[rows])
    return float(clf.score(F_test, y_test))


def knn_probe(F_train, y_train, F_test, y_test, k: int = 5) -> float:
    """Test accuracy of a k-nearest-neighbour majority vote (exact search)."""
    from ..knn import nearest

    idx, _ = nearest(F_train, F_test, k)
    votes = np.asarray(y_train)[idx]  # (n_test, k)
    n_classes = int(max(np.max(y_train), np.max(y_test))) + 1
    counts = np.zeros((len(votes), n_classes), dtype=np.int64)
    np.add.at(counts, (np.arange(len(votes))[:, None], votes), 1)
    return float(np.mean(counts.argmax(1) == np.asarray(y_test)))


def probes(Z: np.ndarray, X, y, test_mask: np.ndarray, k: int = 5, seed: int = 0) -> dict:
    """Linear-probe and kNN accuracy on held-out labels, for the latents and for the raw data
    (``X=None``: vectors imported without their source data, the latents alone)."""
    if y is None:
        raise NotApplicable("the data have no labels")
    if not test_mask.any() or test_mask.all():
        raise NotApplicable("the run has no held-out split to test the probes on")
    train, test = ~test_mask, test_mask
    out = {
        "linear_probe_latent": linear_probe(Z[train], y[train], Z[test], y[test], seed),
        "knn_latent": knn_probe(Z[train], y[train], Z[test], y[test], k),
        "knn_k": k,
        "linear_probe_train_rows": int(min(train.sum(), MAX_PROBE_TRAIN)),
    }
    if X is not None:
        X_train, X_test = np.asarray(X[train]), np.asarray(X[test])
        out["linear_probe_raw"] = linear_probe(X_train, y[train], X_test, y[test], seed)
        out["knn_raw"] = knn_probe(X_train, y[train], X_test, y[test], k)
    return out
