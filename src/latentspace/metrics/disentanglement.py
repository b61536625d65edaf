"""Disentanglement against known generative factors: MIG, DCI and SAP.

Definitions follow disentanglement_lib (Locatello et al. 2019):
- MIG (Chen et al. 2018): for each factor, the gap between the two latents with the highest mutual
  information with it, over the factor's entropy; latents and continuous factors are discretised
  into 20 equal-width bins.
- DCI (Eastwood & Williams 2018): from an importance matrix R (latents x factors) of per-factor
  predictors: disentanglement (one factor per latent), completeness (one latent per factor) and
  informativeness (the predictors' test accuracy). disentanglement_lib uses gradient-boosted trees;
  we use random forests (faster, same role), as Eastwood & Williams also did.
- SAP (Kumar et al. 2018): for each factor, the gap between the two latents that best predict it
  alone (test accuracy of a one-dimensional classifier; here a small decision tree).
"""

from __future__ import annotations

import numpy as np

from .base import NotApplicable

N_BINS = 20


def discretize(values: np.ndarray, bins: int = N_BINS) -> np.ndarray:
    """Columns with more than ``bins`` distinct values -> ``bins`` equal-width bins; others -> codes."""
    values = np.asarray(values, dtype=np.float64)
    out = np.empty(values.shape, dtype=np.int64)
    for j in range(values.shape[1]):
        col = values[:, j]
        uniq = np.unique(col)
        if len(uniq) <= bins:
            out[:, j] = np.searchsorted(uniq, col)
        else:
            edges = np.histogram_bin_edges(col, bins)
            out[:, j] = np.clip(np.digitize(col, edges[1:-1]), 0, bins - 1)
    return out


def mutual_information(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mutual information (nats) between every column of ``a`` and every column of ``b`` (codes)."""
    from sklearn.metrics import mutual_info_score

    return np.array(
        [[mutual_info_score(b[:, j], a[:, i]) for j in range(b.shape[1])] for i in range(a.shape[1])]
    )


def mig(Z: np.ndarray, factors: np.ndarray) -> dict:
    """Mutual information gap, overall and per factor."""
    z, v = discretize(Z), discretize(factors)
    m = mutual_information(z, v)  # (latents, factors)
    entropy = np.array([mutual_information(v[:, [j]], v[:, [j]])[0, 0] for j in range(v.shape[1])])
    top = np.sort(m, axis=0)[::-1]
    second = top[1] if len(top) > 1 else np.zeros_like(top[0])
    keep = entropy > 0
    gaps = (top[0] - second)[keep] / entropy[keep]
    return {"mig": float(np.mean(gaps)), "mig_per_factor": [float(g) for g in gaps]}


def _entropy(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy of each row of ``p`` (probabilities), in log ``base``."""
    p = np.clip(p, 1e-12, 1.0)
    return -(p * np.log(p)).sum(1) / np.log(base)


def _split(n: int, seed: int, test_fraction: float = 0.3, max_train: int = 10_000):
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(int(n * test_fraction), max_train // 2)
    return order[n_test : n_test + max_train], order[:n_test]


def dci(Z: np.ndarray, factors: np.ndarray, seed: int = 0) -> dict:
    """Disentanglement, completeness and informativeness from random-forest importances."""
    from sklearn.ensemble import RandomForestClassifier

    v = discretize(factors)
    train, test = _split(len(Z), seed)
    L, F = Z.shape[1], v.shape[1]
    R = np.zeros((L, F))
    acc = []
    for j in range(F):
        # every split may look at every latent (max_features=None), as boosted trees do: with
        # sqrt(L) random candidates, forests credit irrelevant latents and blur the importances
        clf = RandomForestClassifier(
            n_estimators=50, max_depth=10, max_features=None, random_state=seed, n_jobs=-1
        )
        clf.fit(Z[train], v[train, j])
        R[:, j] = clf.feature_importances_
        acc.append(clf.score(Z[test], v[test, j]))
    R = np.abs(R) + 1e-12
    d_code = 1.0 - _entropy(R / R.sum(1, keepdims=True), F) if F > 1 else np.ones(L)
    weights = R.sum(1) / R.sum()
    c_factor = 1.0 - _entropy((R / R.sum(0, keepdims=True)).T, L) if L > 1 else np.ones(F)
    return {
        "dci_disentanglement": float(np.sum(weights * d_code)),
        "dci_completeness": float(np.mean(c_factor)),
        "dci_informativeness": float(np.mean(acc)),
    }


def sap(Z: np.ndarray, factors: np.ndarray, seed: int = 0) -> dict:
    """Separated attribute predictability: top-1 minus top-2 single-latent test accuracy.

    Each (latent, factor) score is the test accuracy of a depth-limited decision tree on that one
    latent: a tree can cut one axis into as many intervals as the factor has values, where a linear
    classifier on one dimension can only separate the two extreme classes.
    """
    from sklearn.tree import DecisionTreeClassifier

    v = discretize(factors)
    train, test = _split(len(Z), seed)
    L, F = Z.shape[1], v.shape[1]
    S = np.zeros((L, F))
    for j in range(F):
        depth = int(np.ceil(np.log2(max(len(np.unique(v[:, j])), 2)))) + 1
        for i in range(L):
            clf = DecisionTreeClassifier(max_depth=depth, random_state=seed)
            clf.fit(Z[train, i : i + 1], v[train, j])
            S[i, j] = clf.score(Z[test, i : i + 1], v[test, j])
    top = np.sort(S, axis=0)[::-1]
    second = top[1] if L > 1 else np.zeros(F)
    return {"sap": float(np.mean(top[0] - second))}


def disentanglement(Z: np.ndarray, factors, seed: int = 0) -> dict:
    """MIG, DCI and SAP of latents ``Z`` (n, L) against ground-truth ``factors`` (n, F)."""
    if factors is None:
        raise NotApplicable("the data have no ground-truth factors (use shapes or swissroll)")
    Z = np.asarray(Z, dtype=np.float64)
    factors = np.asarray(factors, dtype=np.float64)
    return {**mig(Z, factors), **dci(Z, factors, seed), **sap(Z, factors, seed)}
