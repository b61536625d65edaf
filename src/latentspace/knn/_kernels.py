"""Numba kernels of the blocked search (compiled once, cached on disk).

Each kernel is serial and releases the GIL (``nogil``): the parallelism is the thread pool of
``parallel.py``, which hands blocks of rows to whichever thread is free.
"""

from __future__ import annotations

import numba
import numpy as np

_CHUNK = 32  # columns checked at once before any per-element work (scan_rows)


# The per-chunk check lives in a function of its own over a slice: written inline in the chunk
# loop, LLVM does not vectorise it.
@numba.njit(cache=True, inline="always")
def _below(seg, cut):
    """How many values of ``seg`` are < cut."""
    h = np.int32(0)
    for i in range(seg.shape[0]):
        h += np.int32(seg[i] < cut)
    return h


@numba.njit(cache=True, inline="always")
def _scan_row(row, own, ts, hist, tv, ti):
    """Histogram of ``row`` (skipping column ``own``) over the ascending thresholds ``ts``
    (hist[j] = values in [ts[j-1], ts[j]), hist[m] = values >= ts[m-1]) and the running
    top-k smallest (tv ascending, ti their columns, ties to the lower column)."""
    n = row.shape[0]
    m = ts.shape[0]
    top_k = tv.shape[0]
    highest = ts[m - 1] if m > 0 else np.float32(-np.inf)
    c0 = 0
    while c0 < n:
        c1 = min(c0 + _CHUNK, n)
        cut = highest
        if top_k > 0 and tv[top_k - 1] > cut:
            cut = tv[top_k - 1]
        if _below(row[c0:c1], np.float32(cut)) == 0 and not (c0 <= own < c1):  # most: nothing below
            hist[m] += c1 - c0
            c0 = c1
            continue
        for c in range(c0, c1):
            if c == own:
                continue
            v = row[c]
            if v >= highest:
                hist[m] += 1
            else:  # binary search: first threshold > v (a value equal to a threshold is not below it)
                lo, hi = 0, m - 1
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if ts[mid] <= v:
                        lo = mid + 1
                    else:
                        hi = mid
                hist[lo] += 1
            if top_k > 0 and v < tv[top_k - 1]:  # insert, keeping ascending order
                p = top_k - 1
                while p > 0 and tv[p - 1] > v:
                    tv[p] = tv[p - 1]
                    ti[p] = ti[p - 1]
                    p -= 1
                tv[p] = v
                ti[p] = c
        c0 = c1


@numba.njit(cache=True, inline="always")
def _counts(row, own, thresholds, counts_out, tv, ti):
    m = thresholds.shape[0]
    order = np.argsort(thresholds)
    ts = thresholds[order]
    hist = np.zeros(m + 1, dtype=np.int64)
    _scan_row(row, own, ts, hist, tv, ti)
    running = 0
    for j in range(m):
        running += hist[j]
        counts_out[order[j]] = running


@numba.njit(cache=True, nogil=True)
def scan_rows(D, own, thresholds, top_k):
    """One pass over each row of a distance block.

    D: (rows, n) float32, row r of the block is point own[r] (its own column is skipped).
    thresholds: (rows, m) float32. Returns
      counts (rows, m) int64: how many values of the row are < each threshold;
      top_idx (rows, top_k) int64 and top_val (rows, top_k) float32: the top_k smallest values,
      ascending, ties to the lower column index.
    """
    rows = D.shape[0]
    m = thresholds.shape[1]
    counts = np.zeros((rows, m), dtype=np.int64)
    top_idx = np.zeros((rows, top_k), dtype=np.int64)
    top_val = np.full((rows, top_k), np.inf, dtype=np.float32)
    for r in range(rows):
        _counts(D[r], own[r], thresholds[r], counts[r], top_val[r], top_idx[r])
    return counts, top_idx, top_val


@numba.njit(cache=True, nogil=True)
def direct_block(A, AT, rows, out):
    """out[r, c] = sum_q (A[rows[r], q] - A[c, q])^2 in float32, summed over q in a fixed order (for
    low-dimensional spaces, where |x|^2 + |y|^2 - 2 x.y would cancel)."""
    m, n = out.shape
    d = AT.shape[0]
    for r in range(m):
        o = out[r]
        a = A[rows[r], 0]
        for c in range(n):
            v = a - AT[0, c]
            o[c] = v * v
        for q in range(1, d):
            a = A[rows[r], q]
            for c in range(n):
                v = a - AT[q, c]
                o[c] += v * v


@numba.njit(cache=True, nogil=True)
def pair_distances(A, i, j):
    """float64 squared distances of the rows i[p] and j[p] of A (float32): out[p]."""
    out = np.empty(i.shape[0], dtype=np.float64)
    d = A.shape[1]
    for p in range(i.shape[0]):
        a, b = A[i[p]], A[j[p]]
        s = 0.0
        for q in range(d):
            v = np.float64(a[q]) - np.float64(b[q])
            s += v * v
        out[p] = s
    return out
