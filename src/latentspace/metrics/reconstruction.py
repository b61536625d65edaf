"""Reconstruction error on held-out data."""

from __future__ import annotations

import numpy as np

_EPS = 1e-7


def reconstruction_errors(X: np.ndarray, X_hat: np.ndarray) -> dict:
    """MSE (per value and per item) and, for data in [0, 1], binary cross-entropy per item in nats.

    Parameters
    ----------
    X, X_hat : ndarray of shape (n, d)
        Data and its reconstruction (the decoder's mean).
    """
    X = np.asarray(X, dtype=np.float64)
    X_hat = np.asarray(X_hat, dtype=np.float64)
    sq = (X - X_hat) ** 2
    out = {"mse": float(sq.mean()), "mse_per_item": float(sq.sum(1).mean()), "n": int(len(X))}
    if X.min() >= 0.0 and X.max() <= 1.0:
        p = np.clip(X_hat, _EPS, 1.0 - _EPS)
        bce = -(X * np.log(p) + (1.0 - X) * np.log1p(-p)).sum(1)
        out["bce_per_item"] = float(bce.mean())
    return out


def reconstruction(model, X: np.ndarray) -> dict:
    """Reconstruction errors of ``model`` on ``X`` (decode of encode)."""
    return reconstruction_errors(X, model.decode(model.encode(X)))
