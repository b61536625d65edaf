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
from ..errors import InputError
from ..progress import report
from .params import validate_params

BATCH_ROWS = 8192  # rows per encode/decode block: bounds temporaries for memory-mapped data


class LatentModel(TransformerMixin, BaseEstimator):
    """Base class: subclasses implement ``fit``, ``transform``, ``inverse_transform``, ``sample``,
    ``latent_dim`` and the state pair ``_get_state`` / ``_set_state``."""

    model_name: ClassVar[str] = ""
    latent_param: ClassVar[str] = "latent_dim"  # the constructor parameter that sets len(z)
    _param_rules: ClassVar[dict] = {}
    # scikit-learn's estimator checks the class is known to fail: {check name: why}. Handed to
    # check_estimator / parametrize_with_checks as ``expected_failed_checks`` (scikit-learn >= 1.6
    # declares exceptions there, no longer in the tags); tests/test_sklearn_checks.py runs them all.
    expected_failed_checks: ClassVar[dict[str, str]] = {}
    # What the model can do. Every trained family encodes and decodes; a latent space brought from
    # elsewhere may not (imported vectors have neither; a user's ONNX encoder may come alone), and
    # every place that would decode shows the nearest real items instead. Instances may override.
    has_encoder: bool = True
    has_decoder: bool = True
    # Files beside model.safetensors that hold part of the state (a user's ONNX networks), by name:
    # ``_get_files()`` gives their bytes when a run is saved, ``_set_files`` receives them (checked
    # against the run's checksums) before ``_set_state`` when it is loaded.
    state_files: ClassVar[tuple[str, ...]] = ()

    # --- the contract ---------------------------------------------------------------------------
    def encode(self, X) -> np.ndarray:
        """Data -> latent means, shape (n, latent_dim). Alias of ``transform``."""
        return self.transform(X)

    def decode(self, Z) -> np.ndarray:
        """Latent -> data space, shape (n, n_features). Alias of ``inverse_transform``."""
        return self.inverse_transform(Z)

    def sample_latent(self, n: int, random_state=None) -> np.ndarray:
        """Draw ``n`` latent vectors from the model's prior, shape (n, latent_dim)."""
        self._check_sample_size(n)
        seed = self.random_state if random_state is None else random_state
        return self._prior_sample(int(n), np.random.default_rng(seed))

    def _prior_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        """``n`` draws from the prior with ``rng``, shape (n, latent_dim); the model is fitted."""
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

    def _get_files(self) -> dict[str, bytes]:
        """Files saved beside model.safetensors (names from ``state_files``); most families none."""
        return {}

    def _set_files(self, files: dict[str, bytes]) -> None:  # pragma: no cover - families with files
        raise NotImplementedError

    def _for_saving(self) -> LatentModel:
        """The model a run folder stores: this one, except for a model that must first be converted
        (wrapped torch modules become ONNX networks) or cannot be saved (it raises InputError)."""
        return self

    # --- scikit-learn ---------------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # encode and decode compute in float32 and return float32 whatever comes in (float64 data
        # are converted once, by check_array): float32 is the dtype a transform preserves.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # --- helpers for subclasses -----------------------------------------------------------------
    def _validate_params(self) -> None:
        validate_params(self)

    def check_params(self) -> None:
        """Check the parameters as ``fit`` does, before anything is allocated: the rules of
        ``_param_rules`` and what a family adds (cross-parameter rules, a bound on the model
        size). :func:`~latentspace.models.create_model` calls it; raises :class:`InputError`."""
        self._validate_params()

    def _check_sample_size(self, n) -> None:
        check_is_fitted(self)
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise InputError(f"sample: n must be at least 1 (an int); got {n!r}")

    def _check_input(self, X, *, name: str = "X") -> np.ndarray:
        check_is_fitted(self)
        return check_array(X, name=name, n_features=self.n_features_in_, expected_by=type(self).__name__)

    def _check_latent(self, Z) -> np.ndarray:
        check_is_fitted(self)
        return check_array(Z, name="Z", n_features=int(self.latent_dim), expected_by=type(self).__name__)


def batched(fn, X: np.ndarray, out_dim: int, *, task: str, batch: int = BATCH_ROWS) -> np.ndarray:
    """Apply ``fn`` to row blocks of ``X`` into a preallocated float32 (n, out_dim) array."""
    n = X.shape[0]
    out = np.empty((n, out_dim), dtype=np.float32)
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        out[start:stop] = fn(np.asarray(X[start:stop]))
        report(task, stop, n)
    return out
