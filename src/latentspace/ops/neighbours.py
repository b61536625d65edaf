"""The items nearest a query in latent space (exact search, :mod:`latentspace.knn`)."""

from __future__ import annotations

import numpy as np

from ..data.validate import check_array
from ..errors import InputError


def neighbours(model, X, query, k: int = 8, *, Z: np.ndarray | None = None):
    """The ``k`` items of ``X`` nearest to ``query`` in latent space (euclidean, exact: ties to the
    lower row index).

    ``query`` is a row index of ``X`` (the item itself is left out), a data item or a latent
    vector. Returns ``(indices (k,), distances (k,))``; pass ``Z`` to reuse computed latents (then
    ``model`` may be None for a row-index query: nothing needs decoding or encoding).
    """
    from ..knn import nearest
    from .latent import as_latent

    if Z is None:
        Z = model.encode(X)
    else:
        Z = check_array(Z, name="Z", n_features=None if model is None else int(model.latent_dim))
    n = len(Z)
    if int(k) < 1 or int(k) >= n:
        raise InputError(f"k must be between 1 and {n - 1} (the number of other items); got {k}")
    if np.ndim(query) == 0:
        i = int(query)
        if not 0 <= i < n:
            raise InputError(f"item {i} is out of range: items are 0..{n - 1}")
        idx, dist = nearest(Z, Z[i : i + 1], int(k) + 1)
        keep = idx[0] != i
        return idx[0][keep][: int(k)], dist[0][keep][: int(k)]
    if model is None:
        raise InputError("a query that is not a row index needs the model (to encode it); pass model=")
    z = as_latent(model, query, name="query")
    idx, dist = nearest(Z, z[None, :], int(k))
    return idx[0], dist[0]
