"""Numba kernels for the neighbourhood metrics (compiled once, cached on disk)."""

from __future__ import annotations

import numba
import numpy as np

_CHUNK = 32  # columns checked at once before any per-element work (scan_rows)
_BAND_CHUNK = 256  # the same for the band listings, whose members are rarer


# The per-chunk checks live in functions of their own over a slice: written inline in the chunk
# loop, LLVM does not vectorise them (a band check took 4.6 ms per 256 x 70,000 block, 1.3 ms here).
@numba.njit(cache=True, inline="always")
def _below(seg, cut):
    """How many values of ``seg`` are < cut."""
    h = np.int32(0)
    for i in range(seg.shape[0]):
        h += np.int32(seg[i] < cut)
    return h


@numba.njit(cache=True, inline="always")
def _within(seg, lo, hi):
    """How many values of ``seg`` lie in [lo, hi)."""
    h = np.int32(0)
    for i in range(seg.shape[0]):
        v = seg[i]
        h += np.int32(v >= lo) & np.int32(v < hi)
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


@numba.njit(parallel=True, cache=True)
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
    for r in numba.prange(rows):
        _counts(D[r], own[r], thresholds[r], counts[r], top_val[r], top_idx[r])
    return counts, top_idx, top_val


@numba.njit(parallel=True, cache=True)
def band_members(D, pair_rows, lows, highs, skip_cols, offsets, out):
    """For each pair p: the columns c of row pair_rows[p] (skipping skip_cols[p]) with
    lows[p] <= D[row, c] < highs[p], written to out[offsets[p]:offsets[p + 1]] (sizes known from
    the counts). ``pair_rows`` is sorted: the pairs of one row are done by one thread, while the row
    is in its cache."""
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
        n = row.shape[0]
        for p in range(a, b):  # one pass per band: their union can span most of the row
            lo, hi = lows[p], highs[p]
            w = offsets[p]
            for c0 in range(0, n, _BAND_CHUNK):
                c1 = min(c0 + _BAND_CHUNK, n)
                if _within(row[c0:c1], lo, hi) == 0:  # most chunks hold no band member
                    continue
                for c in range(c0, c1):
                    v = row[c]
                    if lo <= v < hi and c != skip:
                        out[w] = c
                        w += 1


@numba.njit(parallel=True, cache=True)
def count_below(D, own_cols, thresholds, bands, cap):
    """counts[r, j] = how many values of row r (its own column own_cols[r] skipped) are < thresholds[r, j].

    Vectorised passes over the row, four thresholds per pass with int32 counters (integer sums
    vectorise without fast-math): for a few dozen thresholds this beats a per-element binary
    search by several times.

    With ``bands`` > 0 the thresholds are [low_0 .. low_{b-1}, high_0 .. high_{b-1}]; every band
    [low_j, high_j) holding more than one value is listed while the row is still in cache:
    members[r, :listed[r]] are its columns and which[r, :listed[r]] their band j. A row whose
    bands hold more than ``cap`` values gets listed[r] = -1 (the caller lists it with
    band_members); reading the row again from memory later cost as much as the counting."""
    rows, n = D.shape
    m = thresholds.shape[1]
    counts = np.zeros((rows, m), dtype=np.int64)
    members = np.empty((rows, cap), dtype=np.int64)
    which = np.empty((rows, cap), dtype=np.int32)
    listed = np.zeros(rows, dtype=np.int32)
    for r in numba.prange(rows):
        row = D[r]
        own = row[own_cols[r]]
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
        if bands == 0:
            continue
        total = 0
        for j in range(bands):
            size = counts[r, bands + j] - counts[r, j]
            if size > 1:  # besides the target itself, a value too close to call
                total += size
        if total == 0:
            continue
        if total > cap:
            listed[r] = -1
            continue
        w = 0
        skip = own_cols[r]
        for j in range(bands):  # one pass per doubtful band: their union can span most of the row
            if counts[r, bands + j] - counts[r, j] <= 1:
                continue
            lo, hi = th[j], th[bands + j]
            for c0 in range(0, n, _BAND_CHUNK):
                c1 = min(c0 + _BAND_CHUNK, n)
                if _within(row[c0:c1], lo, hi) == 0:  # most chunks hold no band member
                    continue
                for c in range(c0, c1):
                    v = row[c]
                    if lo <= v < hi and c != skip:
                        members[r, w] = c
                        which[r, w] = j
                        w += 1
        listed[r] = w
    return counts, members, which, listed


@numba.njit(parallel=True, cache=True)
def direct_block(A, AT, rows, out):
    """out[r, c] = sum_q (A[rows[r], q] - A[c, q])^2 in float32, summed over q in a fixed order (for
    low-dimensional spaces, where |x|^2 + |y|^2 - 2 x.y would cancel)."""
    m, n = out.shape
    d = AT.shape[0]
    for r in numba.prange(m):
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
