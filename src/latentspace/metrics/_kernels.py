"""Numba kernels for counting-based ranks (compiled once, cached on disk)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, cache=True, fastmath=False)
def count_below(D: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each row r and threshold t = thresholds[r, j]: how many D[r, :] are < t.

    D: (rows, n) float32; thresholds: (rows, m) float32, any order. Returns (rows, m) int64.
    One pass over each row: every value is placed among the row's sorted thresholds by binary
    search and counted in a histogram, whose running sum gives the counts.
    """
    rows, n = D.shape
    m = thresholds.shape[1]
    out = np.empty((rows, m), dtype=np.int64)
    for r in numba.prange(rows):
        order = np.argsort(thresholds[r])
        ts = thresholds[r][order]
        hist = np.zeros(m + 1, dtype=np.int64)
        top = ts[m - 1]
        row = D[r]
        for c in range(n):
            v = row[c]
            if v >= top:  # the common case: farther than every threshold
                hist[m] += 1
                continue
            lo, hi = 0, m - 1  # first index with ts[idx] > v (a value equal to a threshold is not below it)
            while lo < hi:
                mid = (lo + hi) >> 1
                if ts[mid] <= v:
                    lo = mid + 1
                else:
                    hi = mid
            hist[lo] += 1
        running = 0
        for j in range(m):
            running += hist[j]
            out[r, order[j]] = running
    return out
