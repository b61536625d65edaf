"""A Gaussian over the latents, as a mean and a covariance factor (or a diagonal scale): the prior
of a model whose networks came from elsewhere (ONNX files, wrapped callables)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

MAX_FULL_COVARIANCE = 512  # latent sizes above keep a diagonal prior (k^2 numbers otherwise)


def fit_gaussian(Z: np.ndarray) -> dict[str, np.ndarray]:
    """Mean and covariance factor (L L^T = cov; the diagonal scale above 512 dimensions) of the
    finite rows of ``Z`` (at least two), accumulated in float64 over blocks."""
    n, k = Z.shape
    full = k <= MAX_FULL_COVARIANCE
    total, second = np.zeros(k), np.zeros((k, k) if full else k)
    # rows are shifted by the first rows' mean, so that subtracting n m m^T at the end cancels no
    # significant digits when the latents sit far from the origin
    shift = Z[:1024].astype(np.float64).mean(axis=0)
    for start in range(0, n, 65536):
        block = Z[start : start + 65536].astype(np.float64) - shift
        total += block.sum(axis=0)
        second += block.T @ block if full else np.square(block).sum(axis=0)
    offset = total / n
    if not full:
        variance = np.maximum(second / n - offset**2, 0.0) * n / (n - 1)
        return {"mean": shift + offset, "scale": np.sqrt(variance)}
    return {"mean": shift + offset, "cov_factor": _factor((second - n * np.outer(offset, offset)) / (n - 1))}


def _factor(cov: np.ndarray) -> np.ndarray:
    """L with L L^T = cov: Cholesky, or (a singular covariance: latents on a subspace) V sqrt(w)."""
    cov = (cov + cov.T) / 2
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(cov)
        return V * np.sqrt(np.clip(w, 0.0, None))


def gaussian(prior, k: int) -> dict[str, np.ndarray]:
    """A user's ``(mean, cov)``: cov a (k, k) covariance or (k,) variances."""
    try:
        mean, cov = (np.asarray(p, dtype=np.float64) for p in prior)
    except (TypeError, ValueError):
        raise InputError("prior must be 'fitted', 'standard' or (mean, cov) of numbers") from None
    if mean.shape != (k,) or cov.shape not in ((k,), (k, k)):
        raise InputError(
            f"prior (mean, cov) must be shaped ({k},) and ({k}, {k}) or ({k},); got {mean.shape}, {cov.shape}"
        )
    if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
        raise InputError("prior (mean, cov) holds NaN or infinity")
    if cov.ndim == 1:
        if (cov < 0).any():
            raise InputError("prior: the variances must not be negative")
        return {"mean": mean, "scale": np.sqrt(cov)}
    tolerance = 1e-8 * max(1.0, float(np.abs(cov).max()))
    if not np.allclose(cov, cov.T, atol=tolerance) or np.linalg.eigvalsh(cov).min() < -tolerance:
        raise InputError("prior: cov must be a symmetric positive semi-definite matrix")
    return {"mean": mean, "cov_factor": _factor(cov)}


def check_prior(prior: dict, k: int) -> None:
    names = sorted(prior)
    if names not in (["mean", "scale"], ["cov_factor", "mean"]):
        raise InputError(f"the prior holds tensors {names}; expected mean with scale or cov_factor")
    if prior["mean"].shape != (k,):
        raise InputError(f"the prior's mean has shape {prior['mean'].shape}; expected ({k},)")
    if "scale" in prior and (prior["scale"].shape != (k,) or (prior["scale"] < 0).any()):
        raise InputError(f"the prior's scale must be {k} values at least 0")
    if "cov_factor" in prior and prior["cov_factor"].shape != (k, k):
        raise InputError(f"the prior's cov_factor has shape {prior['cov_factor'].shape}; expected ({k}, {k})")


def sample_gaussian(prior: dict, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws, float32 (n, k)."""
    eps = rng.standard_normal((n, k))
    spread = eps @ prior["cov_factor"].T.astype(np.float64) if "cov_factor" in prior else eps * prior["scale"]
    return (prior["mean"] + spread).astype(np.float32)
