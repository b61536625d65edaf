"""Neighbourhood preservation between two spaces in O(n * k) memory: trustworthiness, continuity,
kNN preservation.

Venna & Kaski (2001): with r(i, j) the rank of j among the neighbours of i in the *original* space,

    T(k) = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in kNN_embedded(i)} max(0, r(i, j) - k)

and continuity C(k) is the same with the two spaces swapped. scikit-learn's ``trustworthiness``
builds the full n x n distance matrix and argsorts it (about 24 n^2 bytes). Here the original
space is streamed in blocks of rows (``latentspace.knn.blocked``): one block of distances (GEMM,
float32) gives both the block's k nearest neighbours and, by counting, the exact rank of every
neighbour in question. Blocks go to whichever thread is free (``latentspace.knn.parallel``), so a
core kept busy by other work slows the whole by its share only.
Counts within float32 rounding of a threshold are re-checked in float64, so ranks equal those of
exact distances. Exact ties (two points equally far, common in images with few grey levels) are
broken by row index, as a stable sort would; scikit-learn's argsort is not stable, so on data with
exact ties the two can differ by a few rank units (about 1e-9 at n = 10,000).
"""

from __future__ import annotations

import math

import numpy as np

from ..data.validate import check_array
from ..errors import InputError
from ..knn import exact_knn
from ..knn.blocked import BlockSpace, rows_per_block
from ..knn.parallel import ordered_map, threads
from ..progress import report


def _check_pair(X, Z, k: int) -> tuple[np.ndarray, np.ndarray]:
    X = check_array(X, name="X", min_rows=2)
    Z = check_array(Z, name="Z (embedding)", min_rows=2)
    if len(X) != len(Z):
        raise InputError(f"X has {len(X)} rows but the embedding has {len(Z)}; they must match")
    n = len(X)
    if not 1 <= int(k) < n / 2:
        raise InputError(f"k must be at least 1 and below n/2 = {n / 2:g} (n = {n}); got {k}")
    return X, Z


_MAX_COUNT_PASSES = 64  # up to this many thresholds per row, count with one vectorised pass each
SAMPLE_FROM = 200_000  # rows from which the scores are estimated from sampled query rows by default
SAMPLE_ROWS = 10_000  # query rows of such an estimate (its 95% interval is then about +-0.001)
# Exact scores cost about n^2 (d_X + d_Z) multiply-adds. Above this work (~15 s on two cores at the
# 7e10 a second measured on MNIST's 70,000 x 784 pass) they are estimated from SAMPLE_ROWS rows:
# MNIST's 3.9e12 would take about a minute a run; sampled, a seventh of that.
EXACT_WORK = 1e12
_LISTED_PER_ROW = 64  # doubtful-band members count_below lists per row while the row is in cache


def _scan(space: BlockSpace, rows: np.ndarray, targets: np.ndarray, k: int):
    """For the points ``rows`` (int64, ascending): exact ranks of ``targets`` (len(rows), m) and, if
    ``k``, the exact k nearest (else None), from one distance block and one numba pass over it.
    Serial: blocks run on the threads of :func:`ordered_map`."""
    from ._kernels import count_below

    D = space.block(rows)
    T = np.take_along_axis(D, targets, 1)
    tol = np.broadcast_to(space.tolerance(rows, T), T.shape)
    thresholds = np.concatenate([T - tol, T + tol], 1)
    listing = None
    if not k and thresholds.shape[1] <= _MAX_COUNT_PASSES:
        counts, *listing = count_below(D, rows, thresholds, T.shape[1], _LISTED_PER_ROW)
    else:
        counts, top_idx, top_val = space.scan(D, rows, thresholds, k + 1 if k else 0)
    ranks = _settle_ranks(space, D, rows, targets, T, tol, counts, listing)
    knn = space.nearest(D, rows, top_idx, top_val, k) if k else None
    return ranks, knn


def _settle_ranks(space, D, rows, targets, T, tol, counts, listing=None) -> np.ndarray:
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
        doubtful &= (listed < 0)[:, None]  # rows too crowded to list in the kernel
    r, j = np.nonzero(doubtful)
    if len(r):  # list the points inside each doubtful band (their number is known)
        from ._kernels import band_members

        t, w = T[r, j], tol[r, j]
        sizes = counts[r, k + j] - counts[r, j]  # points with t - w <= d' < t + w
        offsets = np.zeros(len(r) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        cols = np.empty(int(offsets[-1]), dtype=np.int64)
        band_members(D, r, t - w, t + w, rows[r], offsets, cols)
        p = np.repeat(np.arange(len(r)), sizes)
        found_r = np.concatenate([found_r, r[p]])
        found_j = np.concatenate([found_j, j[p]])
        found_col = np.concatenate([found_col, cols])
    if len(found_r):  # re-check each band member against its target in float64
        i, target = rows[found_r], targets[found_r, found_j]
        d_col, d_target = space.exact(i, found_col), space.exact(i, target)
        closer = (d_col < d_target) | ((d_col == d_target) & (found_col < target))  # ties: lower index first
        np.add.at(ranks, (found_r, found_j), closer.astype(np.int64))
    return ranks


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

    Memory is O(n * k) plus one block of distances per thread. ``knn_Z`` / ``knn_X`` reuse precomputed exact
    (n, >=k) neighbour lists of either space (e.g. the run's shared graph of the latents); what is
    not given is computed here.

    ``sample`` (fewer than n): the scores are estimated from that many query rows drawn at random
    (seed ``seed``), each scored exactly against all n points, so the cost is sample x n instead of
    n^2. The result then says ``"estimate": "sampled"`` and gives a 95% confidence interval for each
    score (normal approximation over the per-row terms, with the finite-population correction).
    """
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
    sx, sz = BlockSpace(X), BlockSpace(Z)
    workers = threads()
    per = rows_per_block(n, len(query), workers)
    starts = range(0, len(query), per)
    blocks = [query[a : a + per] for a in starts]
    no_targets = np.empty((per, 0), dtype=np.int64)
    if knn_Z is not None:
        nn_Z = _given(knn_Z, n, k, "knn_Z")[query]
    else:  # the embedding's neighbours of the query rows only
        nn_Z = np.concatenate(list(ordered_map(lambda b: _scan(sz, b, no_targets[: len(b)], k)[1], blocks)))
    nn_X = _given(knn_X, n, k, "knn_X")[query] if knn_X is not None else np.empty((len(query), k), np.int64)
    trust = np.empty(len(query), dtype=np.int64)
    cont = np.empty(len(query), dtype=np.int64)
    # the one pass over the original space: the embedding neighbours' ranks (and the original
    # space's own kNN, unless given)
    k_x = 0 if knn_X is not None else k
    scans = ordered_map(lambda a: _scan(sx, blocks[a // per], nn_Z[a : a + per], k_x), starts)
    for a, (ranks, knn) in zip(starts, scans, strict=True):
        if knn is not None:
            nn_X[a : a + len(knn)] = knn
        trust[a : a + len(ranks)] = np.maximum(ranks - k, 0).sum(1)
        report(task or "trustworthiness", a + len(ranks), len(query))
    scans = ordered_map(lambda a: _scan(sz, blocks[a // per], nn_X[a : a + per], 0)[0], starts)
    for a, ranks in zip(starts, scans, strict=True):
        cont[a : a + len(ranks)] = np.maximum(ranks - k, 0).sum(1)
        report(task or "continuity", a + len(ranks), len(query))
    return trust, cont, _overlaps(nn_X, nn_Z)


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
    halves = []
    for name, terms, scale, offset in (
        ("trustworthiness", np.asarray(trust, dtype=np.float64), -n * norm, 1.0),
        ("continuity", np.asarray(cont, dtype=np.float64), -n * norm, 1.0),
        ("knn_preservation", np.asarray(overlap, dtype=np.float64), 1.0, 0.0),
    ):
        mean = offset + scale * float(terms.mean())
        half = 1.959964 * abs(scale) * float(terms.std(ddof=1)) / math.sqrt(s) * fpc
        out[name] = mean
        out[f"{name}_ci"] = [mean - half, mean + half]
        halves.append(f"{name} ±{half:.2g}")
    # one sentence for tables that show text but not lists (the report card, the CLI)
    out["interval"] = (
        f"estimated from {s:,} of {n:,} rows drawn at random (each scored exactly against all rows);"
        f" 95% intervals: {', '.join(halves)}"
    )
    return out


def auto_sample(n: int, d: int | None = None) -> int | None:
    """The default: every row up to SAMPLE_FROM rows, SAMPLE_ROWS sampled query rows beyond; with
    ``d`` (the features of both spaces together), also sampled when the exact pass would cost more
    than EXACT_WORK multiply-adds (n^2 d)."""
    costly = d is not None and float(n) * n * d > EXACT_WORK
    return SAMPLE_ROWS if (n >= SAMPLE_FROM or costly) and n > SAMPLE_ROWS else None


def _given(nn, n: int, k: int, name: str) -> np.ndarray:
    nn = np.asarray(nn)
    if nn.ndim != 2 or nn.shape[0] != n or nn.shape[1] < k:
        raise InputError(f"{name} must have shape ({n}, >= {k}); got {nn.shape}")
    return np.ascontiguousarray(nn[:, :k], dtype=np.int64)


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
