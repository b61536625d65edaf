"""Neighbourhood preservation between two spaces in O(n * k) memory: trustworthiness, continuity,
kNN preservation.

Venna & Kaski (2001): with r(i, j) the rank of j among the neighbours of i in the *original* space,

    T(k) = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in kNN_embedded(i)} max(0, r(i, j) - k)

and continuity C(k) is the same with the two spaces swapped. scikit-learn's ``trustworthiness``
builds the full n x n distance matrix and argsorts it (about 24 n^2 bytes). Here the original
space is streamed in blocks of rows: one block of distances (GEMM, float32) at a time gives both
the block's k nearest neighbours and, by counting, the exact rank of every neighbour in question.
Counts within float32 rounding of a threshold are re-checked in float64, so ranks equal those of
exact distances. A tie (two points exactly as far) ranks as 1 + the number of strictly closer
points; scikit-learn's argsort orders ties arbitrarily, so on data with exact ties the two can
differ in the last digits.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data.validate import check_array
from ..errors import InputError
from ..progress import report

_TARGET_BLOCK_BYTES = 128 << 20  # bytes of the (rows x n) float32 distance block


def _check_pair(X, Z, k: int) -> tuple[np.ndarray, np.ndarray]:
    X = check_array(X, name="X", min_rows=2)
    Z = check_array(Z, name="Z (embedding)", min_rows=2)
    if len(X) != len(Z):
        raise InputError(f"X has {len(X)} rows but the embedding has {len(Z)}; they must match")
    n = len(X)
    if not 1 <= int(k) < n / 2:
        raise InputError(f"k must be at least 1 and below n/2 = {n / 2:g} (n = {n}); got {k}")
    return X, Z


def _block_rows(n: int, k: int) -> int:
    return max(8, min(2048, _TARGET_BLOCK_BYTES // (4 * n)))


_EPS32 = float(np.finfo(np.float32).eps)


class _Space:
    """One space, centred, in float32 for GEMM distances and float64 for the re-checks."""

    def __init__(self, A: np.ndarray):
        A64 = np.asarray(A, dtype=np.float64)
        A64 = A64 - A64.mean(axis=0)  # smaller norms, smaller rounding in ||x||^2 + ||y||^2 - 2 x.y
        self.f64 = torch.from_numpy(A64)
        self.f32 = self.f64.float()
        self.sq = (self.f64**2).sum(1).float()
        # |error| of a float32 GEMM distance is about sqrt(d) * eps * (|x|^2 + |y|^2) in practice
        # (Higham 2002, ch. 3, for random rounding); 8x that decides which counts get a float64 check
        self.tol_factor = 8.0 * math.sqrt(A64.shape[1]) * _EPS32
        self.sq_max = float(self.sq.max()) if len(self.sq) else 0.0

    def block(self, start: int, stop: int) -> torch.Tensor:
        """Squared distances of rows start:stop to every row, (rows, n); self-distance = inf."""
        d = torch.addmm(self.sq[None, :], self.f32[start:stop], self.f32.T, alpha=-2.0)
        d += self.sq[start:stop, None]
        d.clamp_(min=0.0)
        rows = torch.arange(start, stop)
        d[rows - start, rows] = math.inf
        return d


def _tolerance(space: _Space, start: int, rows: int) -> torch.Tensor:
    return space.tol_factor * (space.sq[start : start + rows, None] + space.sq_max)  # (rows, 1)


def _exact_sq(space: _Space, i: torch.Tensor, j: torch.Tensor, chunk: int = 1 << 16) -> torch.Tensor:
    """float64 squared distances of the row pairs (i[p], j[p])."""
    out = torch.empty(len(i), dtype=torch.float64)
    for a in range(0, len(i), chunk):
        out[a : a + chunk] = ((space.f64[j[a : a + chunk]] - space.f64[i[a : a + chunk]]) ** 2).sum(1)
    return out


def _ranks(space: _Space, D: torch.Tensor, start: int, targets: torch.Tensor) -> torch.Tensor:
    """Exact ranks (1 = nearest) of ``targets`` (rows, k) among the neighbours of each block row."""
    from ._kernels import count_below

    T = D.gather(1, targets)  # (rows, k) squared distances to the points in question
    tol = _tolerance(space, start, len(D))
    k = T.shape[1]
    counts = torch.from_numpy(count_below(D.numpy(), torch.cat([T - tol, T + tol], 1).numpy()))
    ranks = counts[:, :k] + 1  # points surely closer, + 1
    doubtful = counts[:, k:] - counts[:, :k] > 1  # besides the target, a point too close to call
    pr, pj = torch.nonzero(doubtful, as_tuple=True)
    step = max(1, (64 << 20) // D.shape[1])  # doubtful pairs per (pairs x n) boolean band
    for a in range(0, len(pr), step):  # settle them with float64 distances, vectorised
        r, j = pr[a : a + step], pj[a : a + step]
        t, w = T[r, j][:, None], tol[r]
        band = (D[r] >= t - w) & (D[r] < t + w)  # (pairs, n), holds the target itself too
        p, col = torch.nonzero(band, as_tuple=True)
        i = r[p] + start
        closer = _exact_sq(space, i, col) < _exact_sq(space, i, targets[r[p], j[p]])
        ranks.index_put_((r[p], j[p]), closer.long(), accumulate=True)
    return ranks


def _knn_block(space: _Space, D: torch.Tensor, start: int, k: int) -> torch.Tensor:
    """The k nearest of each block row, exact as a set: float32 top k+1, and float64 where the
    k-th and (k+1)-th distances are too close to tell apart in float32."""
    vals, best = torch.topk(D, k + 1, dim=1, largest=False, sorted=True)
    tol = _tolerance(space, start, len(D))[:, 0]
    unsure = torch.nonzero(vals[:, k] - vals[:, k - 1] <= 2 * tol).flatten()
    for rr in unsure.tolist():  # order the doubtful boundary exactly
        i = start + rr
        close = torch.nonzero(D[rr] < vals[rr, k] + 2 * tol[rr]).flatten()
        d = _exact_sq(space, torch.full_like(close, i), close)
        best[rr, :k] = close[torch.argsort(d, stable=True)[:k]]
    return best[:, :k]


def neighbourhood_scores(X, Z, k: int = 10, *, knn_Z: np.ndarray | None = None) -> dict:
    """Trustworthiness, continuity and kNN preservation (mean Jaccard) of embedding ``Z`` of ``X``.

    Memory is O(n * k) plus one block of distances. ``knn_Z`` reuses a precomputed exact (n, >=k)
    neighbour graph of ``Z`` (e.g. the run's shared graph); otherwise it is computed here.
    """
    X, Z = _check_pair(X, Z, k)
    n, k = len(X), int(k)
    sx, sz = _Space(X), _Space(Z)
    rows = _block_rows(n, k)
    blocks = [(a, min(a + rows, n)) for a in range(0, n, rows)]
    if knn_Z is None:
        nn_Z = torch.empty((n, k), dtype=torch.int64)
        for a, b in blocks:
            nn_Z[a:b] = _knn_block(sz, sz.block(a, b), a, k)
            report("latent neighbours", b, n)
    else:
        nn_Z = torch.from_numpy(np.asarray(knn_Z, dtype=np.int64)[:, :k].copy())
    nn_X = torch.empty((n, k), dtype=torch.int64)
    trust = 0
    for a, b in blocks:  # the one pass over the original space
        D = sx.block(a, b)
        nn_X[a:b] = _knn_block(sx, D, a, k)
        trust += int((_ranks(sx, D, a, nn_Z[a:b]) - k).clamp(min=0).sum())
        report("trustworthiness", b, n)
    cont = 0
    for a, b in blocks:
        cont += int((_ranks(sz, sz.block(a, b), a, nn_X[a:b]) - k).clamp(min=0).sum())
        report("continuity", b, n)
    norm = 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))
    return {
        "trustworthiness": 1.0 - trust * norm,
        "continuity": 1.0 - cont * norm,
        "knn_preservation": jaccard(nn_X.numpy(), nn_Z.numpy()),
        "k": k,
        "n": n,
    }


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Jaccard index of two neighbour lists per row: |A & B| / |A | B|."""
    k = a.shape[1]
    shared = np.array([len(np.intersect1d(x, y, assume_unique=True)) for x, y in zip(a, b, strict=True)])
    return float(np.mean(shared / (2 * k - shared)))


def trustworthiness(X, Z, k: int = 10) -> float:
    """Venna & Kaski's trustworthiness of ``Z`` as an embedding of ``X`` (scikit-learn's definition)."""
    return neighbourhood_scores(X, Z, k)["trustworthiness"]


def continuity(X, Z, k: int = 10) -> float:
    """Continuity: trustworthiness with the roles of the two spaces swapped."""
    return neighbourhood_scores(X, Z, k)["continuity"]
