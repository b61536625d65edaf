"""Numba kernels for the neighbourhood metrics (compiled once, cached on disk)."""

from __future__ import annotations

import numba
import numpy as np

_CHUNK = 32  # columns whose minimum is checked before any per-element work


@numba.njit(cache=True, inline="always")
def _scan_row(row, own, ts, hist, tv, ti):
    """Histogram of ``row`` (skipping column ``own``) over the ascending thresholds ``ts``
    (hist[j] = values in [ts[j-1], ts[j]), hist[m] = values >= ts[m-1]) and the running
    top-k smallest (tv ascending, ti their columns, ties to the lower column)."""
    n = row.shape[0]
    m = ts.shape[0]
    top_k = tv.shape[0]
    highest = ts[m - 1] if m > 0 else -np.inf
    c0 = 0
    while c0 < n:
        c1 = min(c0 + _CHUNK, n)
        cut = highest
        if top_k > 0 and tv[top_k - 1] > cut:
            cut = tv[top_k - 1]
        low = np.float32(np.inf)
        for c in range(c0, c1):  # vectorised: most chunks hold nothing below any threshold
            low = min(low, row[c])
        if low >= cut and not (c0 <= own < c1):
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


@numba.njit(parallel=True, cache=True)
def scan_rows(D, row0, thresholds, top_k):
    """One pass over each row of a distance block.

    D: (rows, n) float32, row r of the block is point row0 + r (its own column is skipped).
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
    for r in numba.prange(rows):
        _counts(D[r], row0 + r, thresholds[r], counts[r], top_val[r], top_idx[r])
    return counts, top_idx, top_val


@numba.njit(parallel=True, cache=True)
def band_members(D, pair_rows, lows, highs, skip_cols, offsets, out):
    """For each pair p: the columns c of row pair_rows[p] (skipping skip_cols[p]) with
    lows[p] <= D[row, c] < highs[p], written to out[offsets[p]:offsets[p + 1]] (sizes known from
    the counts). ``pair_rows`` is sorted: the pairs of one row share a single pass over it."""
    n_pairs = len(pair_rows)
    firsts = [0]
    for p in range(1, n_pairs):
        if pair_rows[p] != pair_rows[p - 1]:
            firsts.append(p)
    firsts.append(n_pairs)
    bounds = np.array(firsts, dtype=np.int64)
    for g in numba.prange(len(bounds) - 1):
        a, b = bounds[g], bounds[g + 1]
        row = D[pair_rows[a]]
        skip = skip_cols[a]
        lo_min, hi_max = lows[a], highs[a]
        for p in range(a + 1, b):
            lo_min = min(lo_min, lows[p])
            hi_max = max(hi_max, highs[p])
        w = offsets[a:b].copy()
        n = row.shape[0]
        for c0 in range(0, n, _CHUNK):
            c1 = min(c0 + _CHUNK, n)
            hits = np.int32(0)
            for c in range(c0, c1):  # vectorised: most chunks hold no band member
                v = row[c]
                hits += np.int32(v >= lo_min) & np.int32(v < hi_max)
            if hits == 0:
                continue
            for c in range(c0, c1):
                v = row[c]
                if lo_min <= v < hi_max and c != skip:
                    for p in range(a, b):
                        if lows[p] <= v < highs[p]:
                            out[w[p - a]] = c
                            w[p - a] += 1


@numba.njit(parallel=True, cache=True)
def count_below(D, row0, thresholds):
    """counts[r, j] = how many values of row r (its own column row0 + r skipped) are < thresholds[r, j].

    Vectorised passes over the row, four thresholds per pass with int32 counters (integer sums
    vectorise without fast-math): for a few dozen thresholds this beats a per-element binary
    search by several times."""
    rows, n = D.shape
    m = thresholds.shape[1]
    counts = np.zeros((rows, m), dtype=np.int64)
    for r in numba.prange(rows):
        row = D[r]
        own = row[row0 + r]
        th = thresholds[r]
        for j in range(0, m, 4):
            t0, t1 = th[j], th[min(j + 1, m - 1)]
            t2, t3 = th[min(j + 2, m - 1)], th[min(j + 3, m - 1)]
            c0 = c1 = c2 = c3 = np.int32(0)
            for c in range(n):
                v = row[c]
                c0 += np.int32(v < t0)
                c1 += np.int32(v < t1)
                c2 += np.int32(v < t2)
                c3 += np.int32(v < t3)
            for q, cnt, t in ((0, c0, t0), (1, c1, t1), (2, c2, t2), (3, c3, t3)):
                if j + q < m:
                    counts[r, j + q] = cnt - (own < t)
    return counts


@numba.njit(parallel=True, cache=True)
def direct_block(A, AT, row0, out):
    """out[r, c] = sum_q (A[row0 + r, q] - A[c, q])^2 in float32, summed over q in a fixed order (for
    low-dimensional spaces, where |x|^2 + |y|^2 - 2 x.y would cancel)."""
    rows, n = out.shape
    d = AT.shape[0]
    for r in numba.prange(rows):
        o = out[r]
        a = A[row0 + r, 0]
        for c in range(n):
            v = a - AT[0, c]
            o[c] = v * v
        for q in range(1, d):
            a = A[row0 + r, q]
            for c in range(n):
                v = a - AT[q, c]
                o[c] += v * v
