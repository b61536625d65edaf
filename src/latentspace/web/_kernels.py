"""numba kernels of the explorer's latent index (:class:`latentspace.web.latent_index.LatentIndex`):
the nearest latents of a few query points, without the GIL. Imported on first use (numba compiles
them once and caches them beside this file)."""

from __future__ import annotations

import numba
import numpy as np

_BLOCK = 64  # rows summarised by one minimum: a block whose minimum cannot enter the list is skipped
# "Nothing yet" is the largest float32, not inf: fastmath lets LLVM assume no infinities (nor NaNs),
# and comparisons with an inf it assumed away are not to be trusted.
EMPTY = np.float32(np.finfo(np.float32).max)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _walk(g, sq, b0, b1, first, out_i, out_d, q):
    """Offer rows ``b0 .. b1`` of a block to query ``q``'s top list, ascending by (value, row)."""
    m = out_d.shape[1]
    for i in range(b0, b1):
        s = sq[i] - np.float32(2.0) * g[i]
        r = first + i
        if s < out_d[q, m - 1] or (s == out_d[q, m - 1] and r < out_i[q, m - 1]):
            p = m - 1
            while p > 0 and (out_d[q, p - 1] > s or (out_d[q, p - 1] == s and out_i[q, p - 1] > r)):
                out_d[q, p] = out_d[q, p - 1]
                out_i[q, p] = out_i[q, p - 1]
                p -= 1
            out_d[q, p] = s
            out_i[q, p] = r


@numba.njit(cache=True, nogil=True, fastmath=True)
def top_m(G, sq, first, out_i, out_d):
    """Merge a block of rows into each query's running top list.

    G: (q, b) float32, the dot products of the queries with rows ``first .. first + b``; sq: (b,)
    those rows' squared norms. The ranking value is ``sq - 2 G``, the squared distance less the
    query's own squared norm (the same for all rows of a query). out_i (q, m) int64 / out_d (q, m)
    float32: each query's m smallest values so far, ascending by (value, row) (start them at -1 /
    ``EMPTY``), so the result does not depend on the order rows are offered in.

    One vectorised pass takes the minimum of every 64 rows. The m blocks with the smallest minima
    are walked first (together they hold at least m values no larger than the m-th of those
    minima), which fills the list with close candidates at once; of the other blocks only those
    whose minimum still beats the list's last entry are walked: a few per query, not the ~m ln(n)
    a walk in row order would take."""
    nq, b = G.shape
    m = out_d.shape[1]
    nb = (b + _BLOCK - 1) // _BLOCK
    low = np.empty(nb, np.float32)
    pick = np.empty(m, np.int64)
    pick_v = np.empty(m, np.float32)
    for q in range(nq):
        g = G[q]
        for j in range(b // _BLOCK):  # full blocks: a fixed trip count, which LLVM vectorises
            o, lo = j * _BLOCK, EMPTY
            for i in range(_BLOCK):
                lo = min(lo, sq[o + i] - np.float32(2.0) * g[o + i])
            low[j] = lo
        if b % _BLOCK:
            lo = EMPTY
            for i in range(b - b % _BLOCK, b):
                lo = min(lo, sq[i] - np.float32(2.0) * g[i])
            low[nb - 1] = lo
        n_pick = min(m, nb)  # the blocks with the n_pick smallest minima, by insertion
        for p in range(n_pick):
            pick_v[p] = EMPTY
            pick[p] = -1
        for j in range(nb):
            v = low[j]
            if v < pick_v[n_pick - 1]:
                p = n_pick - 1
                while p > 0 and pick_v[p - 1] > v:
                    pick_v[p] = pick_v[p - 1]
                    pick[p] = pick[p - 1]
                    p -= 1
                pick_v[p] = v
                pick[p] = j
        for p in range(n_pick):
            j = pick[p]
            _walk(g, sq, j * _BLOCK, min(j * _BLOCK + _BLOCK, b), first, out_i, out_d, q)
            low[j] = EMPTY  # walked
        for j in range(nb):
            if low[j] < EMPTY and low[j] <= out_d[q, m - 1]:
                _walk(g, sq, j * _BLOCK, min(j * _BLOCK + _BLOCK, b), first, out_i, out_d, q)
