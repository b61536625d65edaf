"""Smoothness and sensitivity of the decoder: the known weak spot of latent spaces, where a small
move in latent space can change the output a lot.

All measures work through the model contract (``encode``/``decode``), so they compare PCA, AEs,
VAEs and GANs on the same footing. Lengths are Euclidean in data space.
"""

from __future__ import annotations

import numpy as np

from .base import NotApplicable


def interpolation_smoothness(model, Z: np.ndarray, pairs: int = 200, steps: int = 16, seed: int = 0) -> dict:
    """Decoded straight-line interpolations between random pairs of latents.

    - path ratio: the decoded path's length over the distance between its decoded endpoints
      (1 = a straight line in data space; large = detours or jumps);
    - second-difference energy: sum ||x_{t+1} - 2 x_t + x_{t-1}||^2 over the path, divided by the
      squared endpoint distance (0 for a path at constant speed along a line).
    """
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(Z), pairs), rng.integers(0, len(Z), pairs)
    keep = a != b
    a, b = a[keep], b[keep]
    t = np.linspace(0, 1, steps)[None, :, None]
    path = (1 - t) * Z[a][:, None, :] + t * Z[b][:, None, :]  # (pairs, steps, L)
    X = model.decode(path.reshape(-1, Z.shape[1]).astype(np.float32)).reshape(len(a), steps, -1)
    X = X.astype(np.float64)
    seg = np.linalg.norm(np.diff(X, axis=1), axis=2).sum(1)
    chord = np.linalg.norm(X[:, -1] - X[:, 0], axis=1)
    ok = chord > 1e-9
    ratio = seg[ok] / chord[ok]
    second = (np.diff(X, n=2, axis=1) ** 2).sum(axis=(1, 2))[ok] / chord[ok] ** 2
    return {
        "path_ratio_median": float(np.median(ratio)),
        "path_ratio_p90": float(np.quantile(ratio, 0.9)),
        "second_difference_energy_median": float(np.median(second)),
        "interpolation_pairs": int(ok.sum()),
    }


def decoder_lipschitz(model, Z: np.ndarray, points: int = 200, directions: int = 8, seed: int = 0) -> dict:
    """Local Lipschitz constant of the decoder: ||decode(z + h v) - decode(z)|| / h over random unit
    directions v (central differences, h = 1e-2 times the latents' typical spread), taking the
    largest direction at each point: a lower bound on the Jacobian's spectral norm."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(Z), size=min(points, len(Z)), replace=False)
    z = Z[idx].astype(np.float64)
    h = 1e-2 * float(np.median(Z.std(axis=0)) or 1.0)
    v = rng.standard_normal((len(z), directions, Z.shape[1]))
    v /= np.linalg.norm(v, axis=2, keepdims=True)
    plus = (z[:, None, :] + h * v).reshape(-1, Z.shape[1]).astype(np.float32)
    minus = (z[:, None, :] - h * v).reshape(-1, Z.shape[1]).astype(np.float32)
    diff = (model.decode(plus).astype(np.float64) - model.decode(minus)) / (2 * h)
    gains = np.linalg.norm(diff, axis=1).reshape(len(z), directions).max(1)
    return {
        "lipschitz_median": float(np.median(gains)),
        "lipschitz_p90": float(np.quantile(gains, 0.9)),
        "lipschitz_max": float(gains.max()),
    }


def perturbation_sensitivity(
    model, Z: np.ndarray, scale: float = 0.05, points: int = 500, seed: int = 0
) -> dict:
    """How far reconstructions move when latents move by Gaussian noise of ``scale`` times each
    dimension's spread: mean ||decode(z + e) - decode(z)|| over mean ||decode(z) - decode(z')||
    of random pairs (so 0.05 means small moves make 5%-of-typical changes)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(Z), size=min(points, len(Z)), replace=False)
    z = Z[idx]
    noise = rng.standard_normal(z.shape) * (scale * Z.std(axis=0))
    base = model.decode(z).astype(np.float64)
    moved = model.decode((z + noise).astype(np.float32)).astype(np.float64)
    typical = np.linalg.norm(base - base[rng.permutation(len(base))], axis=1).mean()
    change = np.linalg.norm(moved - base, axis=1).mean()
    return {"perturbation_relative_change": float(change / max(typical, 1e-12)), "perturbation_scale": scale}


def active_units(model, X: np.ndarray, threshold: float = 0.01) -> dict:
    """Burda et al. (2016): latent units whose posterior mean varies over the data (Cov_x E[z|x] > 0.01)."""
    if not hasattr(model, "encode_posterior"):
        raise NotApplicable(f"{model.model_name} has no posterior (active units are defined for VAEs)")
    mu, _ = model.encode_posterior(X)
    var = mu.astype(np.float64).var(axis=0)
    return {
        "active_units": int((var > threshold).sum()),
        "latent_dim": int(mu.shape[1]),
        "active_unit_variances": [round(float(v), 5) for v in var],
    }


def smoothness(model, X: np.ndarray, Z: np.ndarray, seed: int = 0) -> dict:
    """Interpolation smoothness, decoder Lipschitz constants and perturbation sensitivity."""
    out = {
        **interpolation_smoothness(model, Z, seed=seed),
        **decoder_lipschitz(model, Z, seed=seed),
        **perturbation_sensitivity(model, Z, seed=seed),
    }
    try:
        out.update(active_units(model, X))
    except NotApplicable as exc:
        out["active_units"] = f"n/a: {exc}"
    return out
