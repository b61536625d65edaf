"""numba kernel of the explorer's latent index (:class:`latentspace.web.layers.LatentIndex`): the
nearest latents of a few query points, one scan of the rows per query, without the GIL. Imported on
first use (numba compiles it once and caches it beside this file)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, fastmath=True)
def scan(Z, Q, m, out_i, out_d):
    """For each query ``Q[q]``: the ``m`` rows of ``Z`` with the smallest float32 squared distance
    (candidates: the caller re-ranks them in float64), nearest first, into ``out_i[q]`` and
    ``out_d[q]``. Rows and queries are float32; serial (the explorer calls it from a thread pool)."""
    n, d = Z.shape
    for q in range(Q.shape[0]):
        for j in range(m):
            out_d[q, j] = np.inf
            out_i[q, j] = -1
        worst = np.float32(np.inf)
        for i in range(n):
            s = np.float32(0.0)
            for c in range(d):
                t = Z[i, c] - Q[q, c]
                s += t * t
            if s < worst:
                p = m - 1
                while p > 0 and out_d[q, p - 1] > s:
                    out_d[q, p] = out_d[q, p - 1]
                    out_i[q, p] = out_i[q, p - 1]
                    p -= 1
                out_d[q, p] = s
                out_i[q, p] = i
                worst = out_d[q, m - 1]
