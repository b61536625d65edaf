"""Numba kernels for the neighbourhood metrics (compiled once, cached on disk)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def scan_rows(D, row0, thresholds, top_k):
    """One pass over each row of a distance block.

    D: (rows, n) float32, row r of the block is point row0 + r (its own column is skipped).
    thresholds: (rows, m) float32. Returns
      counts (rows, m) int64: how many values of the row are < each threshold;
      top_idx (rows, top_k) int64 and top_val (rows, top_k) float32: the top_k smallest values,
      ascending, ties to the lower column index.
    """
    rows, n = D.shape
    m = thresholds.shape[1]
    counts = np.zeros((rows, m), dtype=np.int64)
    top_idx = np.zeros((rows, top_k), dtype=np.int64)
    top_val = np.full((rows, top_k), np.inf, dtype=np.float32)
    for r in numba.prange(rows):
        own = row0 + r
        order = np.argsort(thresholds[r])
        ts = thresholds[r][order]
        hist = np.zeros(m + 1, dtype=np.int64)
        highest = ts[m - 1] if m > 0 else -np.inf
        tv = top_val[r]
        ti = top_idx[r]
        for c in range(n):
            if c == own:
                continue
            v = D[r, c]
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
        running = 0
        for j in range(m):
            running += hist[j]
            counts[r, order[j]] = running
    return counts, top_idx, top_val


@numba.njit(parallel=True, cache=True)
def band_members(D, pair_rows, lows, highs, skip_cols, offsets, out):
    """For each pair p: the columns c of row pair_rows[p] (skipping skip_cols[p]) with
    lows[p] <= D[row, c] < highs[p], written to out[offsets[p]:offsets[p + 1]] (sizes known from
    scan_rows' counts)."""
    n = D.shape[1]
    for p in numba.prange(len(pair_rows)):
        r, lo, hi, skip = pair_rows[p], lows[p], highs[p], skip_cols[p]
        w, end = offsets[p], offsets[p + 1]
        for c in range(n):
            if w == end:
                break
            v = D[r, c]
            if lo <= v < hi and c != skip:
                out[w] = c
                w += 1
