"""Named dimensions and directions: how important each latent dimension is, the leading principal
directions of the latents (as GANSpace does for GANs, here for any model), what each is tied to,
and a short name generated from the strongest tie.

Importance
    For a model with a Gaussian posterior (``encode_posterior``: the VAE family), the KL divergence of
    each dimension's posterior from the N(0, 1) prior, averaged over held-out rows, in nats; a
    dimension below ``KL_INACTIVE`` carries no information (posterior collapse). Otherwise the
    variance of the dimension over the rows; a dimension below ``VARIANCE_INACTIVE`` of the largest
    is inactive.
Principal directions
    The eigenvectors of the latents' covariance with the largest eigenvalues, signs fixed so the
    largest loading is positive; each one's importance is its share of the total variance.
Names
    The column with the highest normalised mutual information names a direction when that value is
    at least ``NAMED_MI``: ``scale up`` (a numeric column rising along the direction, by the sign of
    Spearman's correlation; ``scale (non-monotonic)`` when that correlation is below ``MONOTONIC``
    in size: the tie is there, but not one way) or ``label 1 vs 0`` (the classes with the highest
    and lowest mean along it); see :mod:`latentspace.interpret.association` for the estimators.
"""

from __future__ import annotations

import numpy as np

from .association import class_shift, column_codes, normalised_mi, quantile_codes, ranks, spearman

KL_INACTIVE = 0.01  # nats: a dimension whose posterior stays this close to the prior is inactive
VARIANCE_INACTIVE = 0.01  # share of the largest dimension variance below which a dimension is inactive
NAMED_MI = 0.05  # normalised MI a column needs to name a direction
ASSOCIATIONS = 5  # the strongest ties kept per direction
MONOTONIC = 0.3  # |rank correlation| from which a numeric column is said to go up or down


def kl_per_dimension(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Mean KL(N(mu, exp(logvar)) || N(0, 1)) of each dimension over the rows, nats, (L,)."""
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    return (0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)).mean(0)


def importance(Z: np.ndarray, kl: np.ndarray | None = None) -> dict:
    """Each dimension's importance (KL when given, else variance), the inactive ones, and their
    order (most important first, ties by index)."""
    var = np.asarray(Z, np.float64).var(0)
    if kl is not None:
        score, kind = np.asarray(kl, np.float64), "kl"
        inactive = score < KL_INACTIVE
        rule = f"KL < {KL_INACTIVE:g} nats"
    else:
        score, kind = var, "variance"
        inactive = var < VARIANCE_INACTIVE * float(var.max()) if var.max() > 0 else np.ones(len(var), bool)
        rule = f"variance < {VARIANCE_INACTIVE:.0%} of the largest"
    order = np.lexsort((np.arange(len(score)), -score))
    return {"kind": kind, "score": score, "variance": var, "inactive": inactive, "order": order, "rule": rule}


def principal_directions(Z: np.ndarray, count: int, seed: int = 0) -> dict:
    """The ``count`` leading principal directions of ``Z``: unit vectors (P, L), variance along
    each, share of the total variance, and the mean they are taken about."""
    Z = np.asarray(Z, np.float64)
    n, L = Z.shape
    count = max(0, min(int(count), L, n - 1))
    mean = Z.mean(0)
    total = float(Z.var(0, ddof=1).sum()) if n > 1 else 0.0
    if count == 0 or total <= 0:
        return {"vectors": np.zeros((0, L)), "variance": np.zeros(0), "ratio": np.zeros(0), "mean": mean}
    Zc = Z - mean
    if L <= 1024:
        evals, evecs = np.linalg.eigh(Zc.T @ Zc / (n - 1))
        top = np.argsort(evals)[::-1][:count]
        vectors, var = evecs[:, top].T, np.maximum(evals[top], 0.0)
    else:  # a wide latent: a randomized SVD finds the leading few without the L x L covariance
        from sklearn.utils.extmath import randomized_svd

        _, s, vt = randomized_svd(Zc, count, random_state=seed)
        vectors, var = vt, s**2 / (n - 1)
    big = np.argmax(np.abs(vectors), axis=1)
    vectors = vectors * np.sign(vectors[np.arange(len(vectors)), big])[:, None]
    return {"vectors": vectors, "variance": var, "ratio": var / total, "mean": mean}


def associations(V: np.ndarray, columns, bins: int) -> list[list[dict]]:
    """For each column of ``V`` (n, m: the values of m directions on the rows), its ties to every
    column (:class:`~latentspace.interpret.columns.Column`), strongest first."""
    V = np.asarray(V, np.float64)
    m = V.shape[1]
    out: list[list[dict]] = [[] for _ in range(m)]
    all_codes = all_ranks = None
    for col in columns:
        full = bool(col.valid.all())
        if full:
            if all_codes is None:
                all_codes = quantile_codes(V, bins)
            codes = all_codes
        else:
            codes = quantile_codes(V[col.valid], bins)
        vals = col.values[col.valid]
        target = column_codes(vals, bins) if col.kind == "numeric" else vals
        mi, _ = normalised_mi(codes, target)
        if col.kind == "numeric":
            if full:
                if all_ranks is None:
                    all_ranks = ranks(V)
                rk = all_ranks
            else:
                rk = ranks(V[col.valid])
            corr = spearman(rk, ranks(vals))
            for i in range(m):
                out[i].append({"column": col.key, "mi": float(mi[i]), "corr": float(corr[i])})
        else:
            hi, lo, shift = class_shift(V[col.valid], vals)
            for i in range(m):
                out[i].append(
                    {
                        "column": col.key,
                        "mi": float(mi[i]),
                        "shift": float(shift[i]),
                        "hi": col.class_name(hi[i]),
                        "lo": col.class_name(lo[i]),
                    }
                )
    for ties in out:
        ties.sort(key=lambda a: (-a["mi"], a["column"]))
    return out


def name(ident: str, ties: list[dict], shown: dict[str, str], inactive: str | None = None) -> tuple[str, str]:
    """(short name, title line) of a direction from its ties (strongest first); ``shown`` maps a
    column key to its displayed name; ``inactive``: why the direction is inactive, if it is."""
    if inactive is not None:
        return "inactive", f"{ident}: inactive ({inactive})"
    if not ties:
        return "unnamed", f"{ident}: unnamed (the run has no label, factor or metadata to compare with)"
    best = ties[0]
    if best["mi"] < NAMED_MI:
        return "unnamed", f"{ident}: unnamed (strongest tie {shown[best['column']]}, MI {best['mi']:.2f})"
    col = shown[best["column"]]
    if "corr" in best:
        if abs(best["corr"]) >= MONOTONIC:
            short = f"{col} {'up' if best['corr'] >= 0 else 'down'}"
        else:
            short = f"{col} (non-monotonic)"
        return short, f"{ident}: {short}, MI {best['mi']:.2f}"
    short = f"{col} {best['hi']} vs {best['lo']}"
    return short, f"{ident}: {short}, shift {best['shift']:.1f}σ"
