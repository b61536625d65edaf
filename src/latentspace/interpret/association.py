"""How strongly a latent direction is tied to a column of the run (a label, a factor, a metadata
column): the estimators, vectorised over directions.

Mutual information
    Both sides are discretised: a direction's values into ``bins`` equal-frequency (quantile) bins,
    a column with at most ``bins`` distinct values into one code per value, a continuous column into
    quantile bins too. The plug-in estimate over the joint histogram is corrected for its upward
    bias with Miller and Madow's term, ``(cells_xy - cells_x - cells_y + 1) / 2n`` (non-empty cells),
    clipped at 0, and *normalised by the entropy of the discretised column* (also Miller-Madow
    corrected): 1 when the direction determines the column's bin, 0 when it says nothing about it.
    This is the normalisation of MIG (Chen et al. 2018), whose latents are discretised the same way
    but into equal-width bins, which outliers of a latent squeeze into one bin.
Correlation
    For numeric columns, Spearman's rank correlation (ties averaged): its sign says which way the
    column moves along the direction.
Mean shift
    For categorical columns, the classes with the highest and lowest mean along the direction (among
    classes of at least ``MIN_CLASS`` rows) and how far apart those means are, in standard
    deviations of the direction.
"""

from __future__ import annotations

import numpy as np

MIN_CLASS = 5  # rows a class needs to take part in the mean shift


def n_bins(n: int) -> int:
    """Quantile bins of a direction for ``n`` rows: n^(1/3), between 4 and 20."""
    return int(min(20, max(4, round(n ** (1 / 3)))))


def quantile_codes(values: np.ndarray, bins: int) -> np.ndarray:
    """Each column of ``values`` (n, m) -> codes 0..bins-1 of equal-frequency bins, (n, m) int64.

    Edges are the column's quantiles; equal values always share a bin (a column of few distinct
    values gets fewer, fuller bins)."""
    values = np.asarray(values, np.float64)
    if values.ndim == 1:
        return quantile_codes(values[:, None], bins)[:, 0]
    out = np.empty(values.shape, np.int64)
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    for j in range(values.shape[1]):
        col = values[:, j]
        edges = np.unique(np.quantile(col, qs))
        out[:, j] = np.searchsorted(edges, col, side="right")
    return out


def column_codes(values: np.ndarray, bins: int) -> np.ndarray:
    """A numeric column -> codes: one per distinct value when it has at most ``bins``, else
    quantile bins."""
    values = np.asarray(values, np.float64)
    uniq = np.unique(values)
    if len(uniq) <= bins:
        return np.searchsorted(uniq, values)
    return quantile_codes(values, bins)


def _dense(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes renumbered 0..k-1 (the values present), and k."""
    uniq, inv = np.unique(codes, return_inverse=True)
    return inv.reshape(codes.shape), len(uniq)


def entropy(codes: np.ndarray, correct: bool = True) -> float:
    """Entropy (nats) of a discrete variable; Miller-Madow corrected unless ``correct`` is False."""
    counts = np.bincount(_dense(np.asarray(codes))[0])
    counts = counts[counts > 0]
    n = counts.sum()
    p = counts / n
    h = float(-(p * np.log(p)).sum())
    return h + (len(counts) - 1) / (2 * n) if correct else h


def mutual_information(a: np.ndarray, b: np.ndarray, correct: bool = True) -> np.ndarray:
    """Mutual information (nats) between every column of the codes ``a`` (n, m) and the one
    discrete variable ``b`` (n,): (m,), Miller-Madow corrected and clipped at 0 unless ``correct``
    is False (then it equals scikit-learn's ``mutual_info_score`` on each pair)."""
    a = np.asarray(a)
    if a.ndim == 1:
        return mutual_information(a[:, None], b, correct)
    n, m = a.shape
    b, kb = _dense(np.asarray(b))
    ka = int(a.max()) + 1 if a.size else 1
    cells = ka * kb
    flat = (a * kb + b[:, None] + np.arange(m)[None, :] * cells).ravel()
    joint = np.bincount(flat, minlength=m * cells).reshape(m, ka, kb).astype(np.float64)
    pxy = joint / n
    px = pxy.sum(2, keepdims=True)
    py = pxy.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pxy > 0, pxy * np.log(pxy / (px * py)), 0.0)
    mi = terms.sum((1, 2))
    if correct:
        nxy = (joint > 0).sum((1, 2))
        nx = (px[:, :, 0] > 0).sum(1)
        ny = (py[:, 0, :] > 0).sum(1)
        mi = np.maximum(mi - (nxy - nx - ny + 1) / (2 * n), 0.0)
    return mi


def normalised_mi(a_codes: np.ndarray, b_codes: np.ndarray) -> tuple[np.ndarray, float]:
    """(MI of each column of ``a_codes`` with ``b_codes`` over the entropy of ``b_codes``, in
    [0, 1]; that entropy in nats)."""
    h = entropy(b_codes)
    if h <= 0:
        return np.zeros(np.shape(a_codes)[1] if np.ndim(a_codes) == 2 else 1), 0.0
    return np.clip(mutual_information(a_codes, b_codes) / h, 0.0, 1.0), h


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks of each column (ties share their mean rank), float64."""
    from scipy.stats import rankdata

    return rankdata(np.asarray(values, np.float64), axis=0, method="average")


def spearman(rank_a: np.ndarray, rank_b: np.ndarray) -> np.ndarray:
    """Spearman correlation of every column of ``rank_a`` (n, m) with ``rank_b`` (n,) from their
    ranks: (m,), 0 where either side is constant."""
    a = rank_a - rank_a.mean(0)
    b = rank_b - rank_b.mean()
    den = np.sqrt((a * a).sum(0) * (b * b).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (a * b[:, None]).sum(0) / den
    return np.where(den > 0, np.clip(r, -1.0, 1.0), 0.0)


def class_shift(values: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of ``values`` (n, m): the class codes with the highest and lowest mean (classes of
    at least ``MIN_CLASS`` rows, else all) and the gap between those means in standard deviations of
    the column: (hi (m,), lo (m,), shift (m,))."""
    values = np.asarray(values, np.float64)
    uniq, codes = np.unique(np.asarray(codes), return_inverse=True)
    k = len(uniq)
    counts = np.bincount(codes, minlength=k).astype(np.float64)
    sums = np.zeros((k, values.shape[1]))
    np.add.at(sums, codes, values)
    means = sums / counts[:, None]
    big = counts >= MIN_CLASS
    if big.sum() < 2:
        big = counts > 0
    masked = np.where(big[:, None], means, np.nan)
    hi, lo = np.nanargmax(masked, 0), np.nanargmin(masked, 0)
    sd = values.std(0)
    gap = means[hi, np.arange(len(hi))] - means[lo, np.arange(len(lo))]
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(sd > 0, gap / sd, 0.0)
    return uniq[hi], uniq[lo], shift
