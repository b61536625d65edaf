"""``pca``: the latents' two or three leading principal directions (scikit-learn's PCA).

Linear both ways: new latents land exactly where the projection puts them, and a map position goes
back to the latent on the map's plane.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .registry import MapMethod, register


@register
class PCAMap(MapMethod):
    name = "pca"
    title = "PCA"
    params = {}
    exact_transform = True

    def check(self, Z: np.ndarray, dims: int) -> None:
        if Z.shape[1] < dims:
            raise InputError(
                f"a {dims}-D PCA map needs latents of at least {dims} dimensions; these have {Z.shape[1]}"
            )

    def fit(self, Z, graph, dims, seed, params):
        from sklearn.decomposition import PCA

        pca = PCA(n_components=dims, random_state=seed).fit(Z)
        state = {"mean": pca.mean_.astype(np.float32), "components": pca.components_.astype(np.float32)}
        return ((Z - state["mean"]) @ state["components"].T).astype(np.float32), state

    def transform(self, m, Znew):
        return ((Znew - m.state["mean"]) @ m.state["components"].T).astype(np.float32)

    def inverse(self, m, points, k=8):
        return (points @ m.state["components"] + m.state["mean"]).astype(np.float32)
