"""Nearest neighbours in latent space with faiss (exact L2 search, batched)."""

from __future__ import annotations

import numpy as np

from ..data.validate import check_array
from ..errors import InputError


def knn(Z: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows of ``Z`` for each query: (indices (q, k), euclidean distances (q, k))."""
    import faiss

    Z = np.ascontiguousarray(Z, dtype=np.float32)
    index = faiss.IndexFlatL2(Z.shape[1])
    index.add(Z)
    dist, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return idx.astype(np.int64), np.sqrt(np.maximum(dist, 0.0))


def neighbours(model, X, query, k: int = 8, *, Z: np.ndarray | None = None):
    """The ``k`` items of ``X`` nearest to ``query`` in latent space.

    ``query`` is a row index of ``X`` (the item itself is left out), a data item or a latent
    vector. Returns ``(indices (k,), distances (k,))``; pass ``Z`` to reuse computed latents.
    """
    from .latent import as_latent

    Z = model.encode(X) if Z is None else check_array(Z, name="Z", n_features=int(model.latent_dim))
    n = len(Z)
    if int(k) < 1 or int(k) >= n:
        raise InputError(f"k must be between 1 and {n - 1} (the number of other items); got {k}")
    if np.ndim(query) == 0:
        i = int(query)
        if not 0 <= i < n:
            raise InputError(f"item {i} is out of range: items are 0..{n - 1}")
        idx, dist = knn(Z, Z[i : i + 1], int(k) + 1)
        keep = idx[0] != i
        return idx[0][keep][: int(k)], dist[0][keep][: int(k)]
    z = as_latent(model, query, name="query")
    idx, dist = knn(Z, z[None, :], int(k))
    return idx[0], dist[0]
