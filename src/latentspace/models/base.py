"""The model contract every latentspace model satisfies (see DESIGN.md).

A model is a scikit-learn estimator (``__init__`` stores parameters only; learned state ends in ``_``)
with ``encode``/``decode`` aliases, ``sample``, ``latent_dim``, and a flat tensor state for
safetensors (no pickle anywhere).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..data.validate import check_array
from ..progress import report
from .params import validate_params

BATCH_ROWS = 8192  # rows per encode/decode block: bounds temporaries for memory-mapped data


class LatentModel(TransformerMixin, BaseEstimator):
    """Base class: subclasses implement ``fit``, ``transform``, ``inverse_transform``, ``sample``,
    ``latent_dim`` and the state pair ``_get_state`` / ``_set_state``."""

    model_name: ClassVar[str] = ""
    latent_param: ClassVar[str] = "latent_dim"  # the constructor parameter that sets len(z)
    _param_rules: ClassVar[dict] = {}

    # --- the contract ---------------------------------------------------------------------------
    def encode(self, X) -> np.ndarray:
        """Data -> latent means, shape (n, latent_dim). Alias of ``transform``."""
        return self.transform(X)

    def decode(self, Z) -> np.ndarray:
        """Latent -> data space, shape (n, n_features). Alias of ``inverse_transform``."""
        return self.inverse_transform(Z)

    def sample_latent(self, n: int, random_state=None) -> np.ndarray:  # pragma: no cover - abstract
        """Draw ``n`` latent vectors from the model's prior, shape (n, latent_dim)."""
        raise NotImplementedError

    def sample(self, n: int, random_state=None) -> np.ndarray:
        """New data from the prior: ``decode(sample_latent(n))``, shape (n, n_features)."""
        return self.decode(self.sample_latent(n, random_state))

    def info(self) -> dict:
        """A JSON-able summary of what was learned (shown by ``latentspace info``)."""
        return {"model": self.model_name, "latent_dim": int(self.latent_dim)}

    # --- persistence (used by latentspace.runfolder) -------------------------------------------------
    def _get_state(self) -> tuple[dict[str, np.ndarray], dict]:  # pragma: no cover - abstract
        """Learned state as (tensors for safetensors, small JSON-able values)."""
        raise NotImplementedError

    def _set_state(self, tensors: dict[str, np.ndarray], meta: dict) -> LatentModel:
        raise NotImplementedError  # pragma: no cover - abstract

    # --- helpers for subclasses -----------------------------------------------------------------
    def _validate_params(self) -> None:
        validate_params(self)

    def _check_input(self, X, *, name: str = "X") -> np.ndarray:
        check_is_fitted(self)
        return check_array(X, name=name, n_features=self.n_features_in_)

    def _check_latent(self, Z) -> np.ndarray:
        check_is_fitted(self)
        return check_array(Z, name="Z", n_features=int(self.latent_dim))


def batched(fn, X: np.ndarray, out_dim: int, *, task: str, batch: int = BATCH_ROWS) -> np.ndarray:
    """Apply ``fn`` to row blocks of ``X`` into a preallocated float32 (n, out_dim) array."""
    n = X.shape[0]
    out = np.empty((n, out_dim), dtype=np.float32)
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        out[start:stop] = fn(np.asarray(X[start:stop]))
        report(task, stop, n)
    return out
