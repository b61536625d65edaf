"""Likelihood of held-out data for models that define one (VAEs): ELBO and the IWAE bound."""

from __future__ import annotations

import math

import numpy as np

from .base import NotApplicable


def to_bits_per_dim(nats: float, d: int) -> float:
    """Negative log-likelihood in bits per dimension from a log-likelihood in nats per item."""
    return -nats / (d * math.log(2.0))


def likelihood(model, X: np.ndarray, k: int = 50, seed: int = 0) -> dict:
    """Mean ELBO and importance-weighted log-likelihood (k samples) per item, in nats and bits/dim."""
    if not hasattr(model, "log_likelihood"):
        raise NotApplicable(f"{model.model_name} defines no likelihood (only VAEs do)")
    d = int(model.n_features_in_)
    elbo = float(np.mean(model.elbo(X, n_samples=1, random_state=seed)))
    iwae = float(np.mean(model.log_likelihood(X, k=k, random_state=seed)))
    return {
        "elbo_nats": elbo,
        "iwae_nats": iwae,
        "elbo_bits_per_dim": to_bits_per_dim(elbo, d),
        "iwae_bits_per_dim": to_bits_per_dim(iwae, d),
        "iwae_k": int(k),
        "likelihood": model.likelihood_,
    }
