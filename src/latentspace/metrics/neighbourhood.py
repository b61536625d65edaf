"""Neighbourhood preservation between two spaces in O(n * k) memory: trustworthiness, continuity,
kNN preservation.

Venna & Kaski (2001): with r(i, j) the rank of j among the neighbours of i in the *original* space,

    T(k) = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in kNN_embedded(i)} max(0, r(i, j) - k)

and continuity C(k) is the same with the two spaces swapped. scikit-learn's ``trustworthiness``
builds the full n x n distance matrix and argsorts it (about 24 n^2 bytes). Here the original
space is streamed in blocks of rows: one block of distances (GEMM, float32) at a time gives both
the block's k nearest neighbours and, by counting, the exact rank of every neighbour in question.
Counts within float32 rounding of a threshold are re-checked in float64, so ranks equal those of
exact distances. Exact ties (two points equally far, common in images with few grey levels) are
broken by row index, as a stable sort would; scikit-learn's argsort is not stable, so on data with
exact ties the two can differ by a few rank units (about 1e-9 at n = 10,000).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data.validate import check_array
from ..errors import InputError
from ..progress import report

_TARGET_BLOCK_BYTES = 128 << 20  # most bytes of the (rows x n) float32 distance block
_MAX_BLOCK_ROWS = 256  # beyond this the GEMM gains nothing and the block falls out of cache


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
    return max(8, min(_MAX_BLOCK_ROWS, _TARGET_BLOCK_BYTES // (4 * n)))


_EPS32 = float(np.finfo(np.float32).eps)
_DIRECT_MAX_DIM = 4
_MAX_COUNT_PASSES = 64  # up to this many thresholds per row, count with one vectorised pass each
SAMPLE_FROM = 200_000  # rows from which the scores are estimated from sampled query rows by default
SAMPLE_ROWS = 10_000  # query rows of such an estimate (its 95% interval is then about +-0.001)
_LISTED_PER_ROW = 64  # doubtful-band members count_below lists per row while the row is in cache


class _Space:
    """One space: centred float32 for GEMM distances, the original values for float64 re-checks.

    A block holds d'(i, j) = |x_j|^2 - 2 x_i.x_j, the squared distance less |x_i|^2: a constant per
    row, so every comparison within a row is unchanged and the block needs one GEMM and nothing else.
    """

    def __init__(self, A: np.ndarray):
        self.original = torch.from_numpy(np.ascontiguousarray(A, dtype=np.float32))
        n, step = len(self.original), 8192
        mean = sum(self.original[a : a + step].double().sum(0) for a in range(0, n, step)) / n
        self.f32 = self.original - mean.float()  # centred: smaller norms, smaller rounding
        blocks = [(self.f32[a : a + step].double() ** 2).sum(1) for a in range(0, n, step)]
        self.sq = torch.cat(blocks).float()
        # |error| of a float32 GEMM distance is about sqrt(d) * eps * (|x|^2 + |y|^2) in practice
        # (Higham 2002, ch. 3); 8x that decides which comparisons get an exact float64 re-check
        self.tol_factor = 8.0 * math.sqrt(A.shape[1]) * _EPS32
        self.sq_max = float(self.sq.max()) if len(self.sq) else 0.0
        self._buffer = torch.empty(0)  # one block's memory, reused (a fresh one costs page faults)
        # a 2-D or 3-D map: |x|^2 + |y|^2 - 2 x.y cancels badly (near points of a dense cluster are
        # far closer than the coordinates are large), so such spaces sum squared differences of the
        # original values instead: error at most (d + 3) u times the distance itself
        self.direct = A.shape[1] <= _DIRECT_MAX_DIM
        self.rel_factor = 4.0 * (A.shape[1] + 3) * _EPS32
        self._AT = None

    def block(self, rows: np.ndarray) -> torch.Tensor:
        """Distances of the points ``rows`` (int64, ascending) to every point, in memory shared by
        all blocks of this space (valid until the next call)."""
        size = len(rows) * len(self.f32)
        if self._buffer.numel() < size:
            self._buffer = torch.empty(size)
        out = self._buffer[:size].view(len(rows), len(self.f32))
        if not self.direct:
            contiguous = len(rows) and rows[-1] - rows[0] == len(rows) - 1
            A = self.f32[int(rows[0]) : int(rows[-1]) + 1] if contiguous else self.f32[torch.from_numpy(rows)]
            return torch.addmm(self.sq[None, :], A, self.f32.T, alpha=-2.0, out=out)
        from ._kernels import direct_block

        if self._AT is None:
            self._AT = self.original.T.contiguous().numpy()
        direct_block(self.original.numpy(), self._AT, rows, out.numpy())
        return out

    def tolerance(self, rows: np.ndarray, values: torch.Tensor) -> torch.Tensor:
        """How far a block value may be from exact, for the points ``rows`` holding ``values``
        (rows, m): broadcastable to ``values``."""
        if self.direct:  # relative; the tiny floor keeps exact ties (0 included) inside the band
            return self.rel_factor * values.abs() + 1e-30
        sq_i = self.sq[torch.from_numpy(rows)][:, None]
        loose = self.tol_factor * (sq_i + self.sq_max)  # (rows, 1): any |x_j| up to the largest
        # A point j whose value lies near v = |x_j|^2 - 2 x_i.x_j has |x_j| <= |x_i| + sqrt(|x_i|^2
        # + v) (Cauchy-Schwarz); points with larger norms are farther by more than their own error
        # (the gap grows as |x_j|^2, the error as eps |x_j|^2). So the band around v needs only that
        # norm, not the largest in the data: 3-10x narrower, and far fewer float64 re-checks.
        reach = torch.sqrt(sq_i) + torch.sqrt((sq_i + values + loose).clamp_min(0.0))
        return torch.minimum(loose, self.tol_factor * (sq_i + reach * reach))

    def exact(self, i: torch.Tensor, j: torch.Tensor, chunk: int = 1 << 16) -> torch.Tensor:
        """float64 squared distances of the original rows i[p] and j[p]."""
        out = torch.empty(len(i), dtype=torch.float64)
        for a in range(0, len(i), chunk):
            diff = self.original[j[a : a + chunk]].double() - self.original[i[a : a + chunk]].double()
            out[a : a + chunk] = (diff**2).sum(1)
        return out


def _scan(space: _Space, rows: np.ndarray, targets: torch.Tensor, k: int):
    """For the points ``rows`` (int64, ascending): exact ranks of ``targets`` (len(rows), m) and, if
    ``k``, the exact k nearest (else None), from one GEMM block and one numba pass over it."""
    from ._kernels import count_below, scan_rows

    D = space.block(rows)
    T = D.gather(1, targets)
    tol = space.tolerance(rows, T)
    thresholds = torch.cat([T - tol.expand_as(T), T + tol.expand_as(T)], 1).numpy()
    listing = None
    if not k and thresholds.shape[1] <= _MAX_COUNT_PASSES:
        counts, *listing = count_below(D.numpy(), rows, thresholds, T.shape[1], _LISTED_PER_ROW)
        top_idx = top_val = None
    else:
        counts, top_idx, top_val = scan_rows(D.numpy(), rows, thresholds, k + 1 if k else 0)
    ranks = _settle_ranks(space, D, rows, targets, T, tol, torch.from_numpy(counts), listing)
    knn = _settle_knn(space, D, rows, torch.from_numpy(top_idx), torch.from_numpy(top_val), k) if k else None
    return ranks, knn


def _settle_ranks(space, D, rows, targets, T, tol, counts, listing=None) -> torch.Tensor:
    """Ranks (1 = nearest) from the counts, with comparisons too close for float32 done in float64.

    ``listing``: (members, which, listed) from count_below, the doubtful bands' columns of the rows
    it could list; the other rows' bands are listed here."""
    k = T.shape[1]
    ranks = counts[:, :k] + 1  # points surely closer, + 1
    doubtful = counts[:, k:] - counts[:, :k] > 1  # besides the target itself, a point too close to call
    found_r = found_j = found_col = np.empty(0, dtype=np.int64)
    if listing is not None:
        members, which, listed = listing
        mask = np.arange(members.shape[1]) < listed[:, None]
        found_r, found_j, found_col = np.nonzero(mask)[0], which[mask].astype(np.int64), members[mask]
        doubtful &= torch.from_numpy(listed < 0)[:, None]  # rows too crowded to list in the kernel
    r, j = torch.nonzero(doubtful, as_tuple=True)
    if len(r):  # list the points inside each doubtful band (their number is known)
        from ._kernels import band_members

        t, w = T[r, j], tol.expand_as(T)[r, j]
        sizes = (counts[r, k + j] - counts[r, j]).numpy()  # points with t - w <= d' < t + w
        offsets = np.zeros(len(r) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        cols = np.empty(int(offsets[-1]), dtype=np.int64)
        lows, highs = (t - w).numpy(), (t + w).numpy()
        band_members(D.numpy(), r.numpy(), lows, highs, rows[r.numpy()], offsets, cols)
        p = np.repeat(np.arange(len(r)), sizes)
        found_r = np.concatenate([found_r, r.numpy()[p]])
        found_j = np.concatenate([found_j, j.numpy()[p]])
        found_col = np.concatenate([found_col, cols])
    if len(found_r):  # re-check each band member against its target in float64
        rr, jj, col = torch.from_numpy(found_r), torch.from_numpy(found_j), torch.from_numpy(found_col)
        i, target = torch.from_numpy(rows)[rr], targets[rr, jj]
        d_col, d_target = space.exact(i, col), space.exact(i, target)
        closer = (d_col < d_target) | ((d_col == d_target) & (col < target))  # ties: lower index first
        ranks.index_put_((rr, jj), closer.long(), accumulate=True)
    return ranks


def _settle_knn(space, D, rows, idx, val, k) -> torch.Tensor:
    """The k nearest as a set: exact in float64 where the k-th and (k+1)-th are too close to call."""
    tol = space.tolerance(rows, val[:, k : k + 1])[:, 0]
    unsure = torch.nonzero(val[:, k] - val[:, k - 1] <= 2 * tol).flatten()
    for rr in unsure.tolist():
        i = int(rows[rr])
        close = torch.nonzero(D[rr] < val[rr, k] + 2 * tol[rr]).flatten()
        close = close[close != i]
        d = space.exact(torch.full_like(close, i), close)
        idx[rr, :k] = close[torch.argsort(d, stable=True)[:k]]  # candidates ascend: ties to lower index
    return idx[:, :k]


def neighbourhood_scores(
    X,
    Z,
    k: int = 10,
    *,
    knn_Z: np.ndarray | None = None,
    knn_X: np.ndarray | None = None,
    sample: int | None = None,
    seed: int = 0,
) -> dict:
    """Trustworthiness, continuity and kNN preservation (mean Jaccard) of embedding ``Z`` of ``X``.

    Memory is O(n * k) plus one block of distances. ``knn_Z`` / ``knn_X`` reuse precomputed exact
    (n, >=k) neighbour lists of either space (e.g. the run's shared graph of the latents); what is
    not given is computed here.

    ``sample`` (fewer than n): the scores are estimated from that many query rows drawn at random
    (seed ``seed``), each scored exactly against all n points, so the cost is sample x n instead of
    n^2. The result then says ``"estimate": "sampled"`` and gives a 95% confidence interval for each
    score (normal approximation over the per-row terms, with the finite-population correction).
    """
    from ..maps.graph import exact_knn

    X, Z = _check_pair(X, Z, k)
    n, k = len(X), int(k)
    query = _query_rows(n, sample, seed)
    sampled = len(query) < n
    if knn_Z is None and not sampled:  # all rows: the whole embedding graph at once (a k-d tree in 2-D)
        knn_Z = exact_knn(Z, k, task="embedding neighbours")[0]
    trust, cont, overlap = row_terms(X, Z, k, query, knn_Z=knn_Z, knn_X=knn_X)
    return combine_terms(n, k, trust, cont, overlap, sampled=sampled, seed=seed)


def _query_rows(n: int, sample: int | None, seed: int) -> np.ndarray:
    if sample is None or int(sample) >= n:
        return np.arange(n, dtype=np.int64)
    if int(sample) < 2:
        raise InputError(f"sample must be at least 2 rows; got {sample}")
    return np.sort(np.random.default_rng(seed).choice(n, int(sample), replace=False))


def row_terms(X, Z, k: int, query: np.ndarray, *, knn_Z=None, knn_X=None, task: str = ""):
    """Per query row (int64, ascending): the sum of its embedding neighbours' rank excesses in X
    (trustworthiness), of its X neighbours' rank excesses in Z (continuity), and the Jaccard index
    of the two neighbour lists. Exact; rows are independent, so any partition of the rows gives the
    same terms (the unit of work of ``evaluate --dask``)."""
    n = len(X)
    sx, sz = _Space(X), _Space(Z)
    per = _block_rows(n, k)
    blocks = [query[a : a + per] for a in range(0, len(query), per)]
    q = torch.from_numpy(query)
    if knn_Z is not None:
        nn_Z = _given(knn_Z, n, k, "knn_Z")[q]
    else:  # the embedding's neighbours of the query rows only
        nn_Z = torch.cat([_scan(sz, b, torch.empty((len(b), 0), dtype=torch.int64), k)[1] for b in blocks])
    nn_X = (
        _given(knn_X, n, k, "knn_X")[q]
        if knn_X is not None
        else torch.empty((len(query), k), dtype=torch.int64)
    )
    trust = torch.empty(len(query), dtype=torch.int64)
    cont = torch.empty(len(query), dtype=torch.int64)
    done = 0
    for b in blocks:  # the one pass over the original space: the embedding neighbours' ranks
        sl = slice(done, done + len(b))
        ranks, knn = _scan(sx, b, nn_Z[sl], 0 if knn_X is not None else k)
        if knn is not None:  # (and the original space's own kNN, unless given)
            nn_X[sl] = knn
        trust[sl] = (ranks - k).clamp(min=0).sum(1)
        done += len(b)
        report(task or "trustworthiness", done, len(query))
    done = 0
    for b in blocks:
        sl = slice(done, done + len(b))
        ranks, _ = _scan(sz, b, nn_X[sl], 0)
        cont[sl] = (ranks - k).clamp(min=0).sum(1)
        done += len(b)
        report(task or "continuity", done, len(query))
    return trust.numpy(), cont.numpy(), _overlaps(nn_X.numpy(), nn_Z.numpy())


def combine_terms(n: int, k: int, trust, cont, overlap, *, sampled: bool, seed: int = 0) -> dict:
    """The scores from the per-row terms of every row (exact) or of sampled rows (estimates with
    95% intervals: normal approximation with the finite-population correction)."""
    norm = 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))
    out = {"k": k, "n": n}
    if not sampled:
        return {
            "trustworthiness": 1.0 - int(np.sum(trust)) * norm,
            "continuity": 1.0 - int(np.sum(cont)) * norm,
            "knn_preservation": float(np.mean(overlap)),
            **out,
        }
    s = len(trust)  # sum over all n rows ~ n x the sample mean
    fpc = math.sqrt(1.0 - s / n)
    out.update(estimate="sampled", sampled_rows=s, seed=seed, confidence=0.95)
    for name, terms, scale, offset in (
        ("trustworthiness", np.asarray(trust, dtype=np.float64), -n * norm, 1.0),
        ("continuity", np.asarray(cont, dtype=np.float64), -n * norm, 1.0),
        ("knn_preservation", np.asarray(overlap, dtype=np.float64), 1.0, 0.0),
    ):
        mean = offset + scale * float(terms.mean())
        half = 1.959964 * abs(scale) * float(terms.std(ddof=1)) / math.sqrt(s) * fpc
        out[name] = mean
        out[f"{name}_ci"] = [mean - half, mean + half]
    return out


def auto_sample(n: int) -> int | None:
    """The default: every row up to SAMPLE_FROM rows, SAMPLE_ROWS sampled query rows beyond."""
    return SAMPLE_ROWS if n >= SAMPLE_FROM else None


def _given(nn, n: int, k: int, name: str) -> torch.Tensor:
    nn = np.asarray(nn)
    if nn.ndim != 2 or nn.shape[0] != n or nn.shape[1] < k:
        raise InputError(f"{name} must have shape ({n}, >= {k}); got {nn.shape}")
    return torch.from_numpy(np.ascontiguousarray(nn[:, :k], dtype=np.int64))


def _overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard index of two neighbour lists, row by row: |A & B| / |A | B|."""
    k = a.shape[1]
    shared = np.array([len(np.intersect1d(x, y, assume_unique=True)) for x, y in zip(a, b, strict=True)])
    return shared / (2 * k - shared) if len(shared) else np.zeros(0)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Jaccard index of two neighbour lists per row: |A & B| / |A | B|."""
    return float(np.mean(_overlaps(a, b)))


def trustworthiness(X, Z, k: int = 10) -> float:
    """Venna & Kaski's trustworthiness of ``Z`` as an embedding of ``X`` (scikit-learn's definition)."""
    return neighbourhood_scores(X, Z, k)["trustworthiness"]


def continuity(X, Z, k: int = 10) -> float:
    """Continuity: trustworthiness with the roles of the two spaces swapped."""
    return neighbourhood_scores(X, Z, k)["continuity"]
