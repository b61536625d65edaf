"""Numba kernels of the neighbourhood metrics' rank counting (compiled once, cached on disk).

Serial and ``nogil``: the blocks they work on are spread over threads by
:func:`latentspace.knn.parallel.ordered_map`. The distance blocks and the top-k scan are in
``latentspace.knn``."""

from __future__ import annotations

import numba
import numpy as np

_BAND_CHUNK = 256  # columns checked at once before listing band members (they are rare)


# The per-chunk check lives in a function of its own over a slice: written inline in the chunk
# loop, LLVM does not vectorise it (a band check took 4.6 ms per 256 x 70,000 block, 1.3 ms here).
@numba.njit(cache=True, inline="always")
def _within(seg, lo, hi):
    """How many values of ``seg`` lie in [lo, hi)."""
    h = np.int32(0)
    for i in range(seg.shape[0]):
        v = seg[i]
        h += np.int32(v >= lo) & np.int32(v < hi)
    return h


@numba.njit(cache=True, nogil=True)
def band_members(D, pair_rows, lows, highs, skip_cols, offsets, out):
    """For each pair p: the columns c of row pair_rows[p] (skipping skip_cols[p]) with
    lows[p] <= D[row, c] < highs[p], written to out[offsets[p]:offsets[p + 1]] (sizes known from
    the counts). ``pair_rows`` is sorted: the pairs of one row are done together, while the row is
    in cache."""
    n_pairs = len(pair_rows)
    firsts = [0]
    for p in range(1, n_pairs):
        if pair_rows[p] != pair_rows[p - 1]:
            firsts.append(p)
    firsts.append(n_pairs)
    bounds = np.array(firsts, dtype=np.int64)
    for g in range(len(bounds) - 1):
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


@numba.njit(cache=True, nogil=True)
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
    for r in range(rows):
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
