"""Vectors brought from elsewhere, with no model: a sentence or image encoder's embeddings, a
recommender's item vectors, the latents of a network trained outside latentspace.

An embeddings run has latents and no encoder or decoder. Everything that needs only the vectors
works on it (maps, neighbours, probes, the explorer); where a trained model would decode, the
explorer and the operations show the real items nearest the point instead, and say so. The model
keeps the mean and the spread of the vectors, which is what ``sample_latent`` draws from (a
Gaussian fitted to the vectors, diagonal), for "show me typical points".
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..data.validate import check_array
from ..errors import InputError
from .base import LatentModel
from .params import Int
from .registry import register

NO_MODEL = (
    "{name} holds imported vectors with no model: it cannot {what}; import an encoder and decoder"
    " (`latentspace import --encoder enc.onnx --decoder dec.onnx`) to {what}"
)


@register("embeddings")
class Embeddings(LatentModel):
    """Imported vectors with no model (latentspace import): maps, neighbours and probes work; where a
    model would decode, the nearest real items are shown.

    Parameters
    ----------
    latent_dim : int
        The length of each vector.
    """

    has_encoder = False
    has_decoder = False
    _param_rules = {"latent_dim": Int(1)}

    def __init__(self, latent_dim: int = 2):
        self.latent_dim = latent_dim

    def fit(self, Z, y=None):
        """Keep the mean and spread of the vectors ``Z`` (n, latent_dim)."""
        self._validate_params()
        Z = check_array(Z, name="the vectors", n_features=int(self.latent_dim), expected_by="Embeddings")
        acc = np.zeros(Z.shape[1]), np.zeros(Z.shape[1])
        rows = max(1, (1 << 22) // Z.shape[1])  # float64 sums over blocks of ~32 MiB: Z may be large
        for start in range(0, len(Z), rows):
            block = np.asarray(Z[start : start + rows], dtype=np.float64)
            acc[0][:] += block.sum(0)
            acc[1][:] += np.square(block).sum(0)
        n = len(Z)
        self.mean_ = (acc[0] / n).astype(np.float32)
        self.scale_ = np.sqrt(np.maximum(acc[1] / n - np.square(acc[0] / n), 0.0)).astype(np.float32)
        self.n_features_in_ = int(Z.shape[1])
        self.n_samples_ = n
        return self

    def _refuse(self, what: str):
        raise InputError(NO_MODEL.format(name="this run", what=what))

    def transform(self, X):
        check_is_fitted(self)
        self._refuse("encode new data")

    def inverse_transform(self, Z):
        check_is_fitted(self)
        self._refuse("decode a latent point")

    def _prior_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        draws = rng.standard_normal((n, int(self.latent_dim))).astype(np.float32)
        return self.mean_ + draws * self.scale_

    def sample(self, n: int, random_state=None):
        self._refuse("generate new items")

    def info(self) -> dict:
        return {**super().info(), "n_samples": int(self.n_samples_)}

    def _get_state(self):
        meta = {"n_features": self.n_features_in_, "n_samples": self.n_samples_}
        return {"mean": self.mean_, "scale": self.scale_}, meta

    def _set_state(self, tensors, meta):
        k = int(self.latent_dim)
        mean, scale = np.asarray(tensors["mean"]), np.asarray(tensors["scale"])
        if mean.shape != (k,) or scale.shape != (k,):
            raise InputError(f"embeddings state holds vectors of {mean.shape}; config says ({k},)")
        if np.any(scale < 0):
            raise InputError("embeddings state holds a negative scale")
        self.mean_, self.scale_ = mean.astype(np.float32), scale.astype(np.float32)
        self.n_features_in_, self.n_samples_ = int(meta["n_features"]), int(meta["n_samples"])
        return self
