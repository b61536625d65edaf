"""Any encoder and decoder on the model contract, in a notebook: torch modules or functions of numpy
arrays, wrapped by :func:`wrap` so that every operation, metric and the explorer work on them.

A run folder keeps networks as ONNX and never code, so a wrapped model is saved by exporting its
torch modules (``to_onnx``, which ``save_run`` calls): the run then holds an ``onnx`` model. Plain
Python functions cannot be saved; the message says how to export them instead.
"""

from __future__ import annotations

import inspect
import math
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..data.validate import check_array
from ..errors import InputError
from .base import LatentModel, batched
from .gaussian import fit_gaussian, gaussian, sample_gaussian
from .params import Int, IntTuple
from .registry import register

ROWS = 1024  # rows per call of a wrapped function
CANNOT_SAVE = (
    "a model wrapped around Python functions cannot be saved in a run folder, which keeps networks"
    " as ONNX and never code: wrap torch modules (they are exported for you), or export your encoder"
    " and decoder to ONNX (torch.onnx.export, tf2onnx, skl2onnx) and bring them in with"
    " `latentspace import --encoder enc.onnx --decoder dec.onnx --data DATA --out RUN`"
)


def _is_module(fn) -> bool:
    torch = sys.modules.get("torch")  # a torch module exists only once torch is imported
    return torch is not None and isinstance(fn, torch.nn.Module)


class _InferenceMode:
    """A torch module in eval mode (dropout off, batch norm on its running statistics) and without
    gradients while latentspace calls it; every submodule's own mode is put back afterwards."""

    def __init__(self, module) -> None:
        import torch

        self.module, self.no_grad = module, torch.no_grad()
        first = next((t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()), None)
        self.device = first.device if first is not None else torch.device("cpu")
        self.dtype = first.dtype if first is not None else torch.float32

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.module.modules()]
        self.module.eval()
        self.no_grad.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.no_grad.__exit__(*exc)
        for m, training in self.modes:
            m.training = training

    def tensor(self, x: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device=self.device, dtype=self.dtype)


def _call(fn, x: np.ndarray, size: int | None, role: str) -> np.ndarray:
    """``fn`` on rows ``x`` (n, *shape), as float32 (n, values per row); checks ``size`` when known."""
    if _is_module(fn):
        with _InferenceMode(fn) as mode:
            out = fn(mode.tensor(x))
    else:
        out = fn(np.ascontiguousarray(x, np.float32))
    if isinstance(out, tuple | list):  # (mean, log-variance) and the like: the first is the point
        out = out[0]
    if hasattr(out, "detach"):  # a function that hands back a torch tensor
        out = out.detach().cpu().float().numpy()
    out = np.asarray(out)
    n = len(x)
    if out.ndim < 1 or out.shape[0] != n or (size is not None and out.size != n * size):
        expected = f"{size} values per row" if size is not None else "one row per input row"
        raise InputError(f"the {role} gave shape {list(out.shape)} for {n} rows; expected {expected}")
    if out.dtype.kind not in "fiu":
        raise InputError(f"the {role} gave {out.dtype} values; it must give numbers")
    return out.reshape(n, -1).astype(np.float32, copy=False)


@register("wrapped")
class WrappedModel(LatentModel):
    """An encoder and/or decoder of your own (torch modules or numpy functions) on the model
    contract, made by ``latentspace.wrap``; saved into a run as ONNX.

    Parameters
    ----------
    encoder, decoder : callable or None
        Data rows (n, *input_shape) -> latents (n, latent_dim), and back; a torch module is called
        in eval mode without gradients on float32 tensors; a tuple output counts by its first item.
    latent_dim : int
    input_shape : tuple of int or None
        One data row as the encoder reads it, e.g. (1, 28, 28); None: flat rows of the data's width.
    prior : "standard", "fitted" or (mean, cov)
        What ``sample_latent`` draws from: N(0, I), a Gaussian fitted to the encoded data by
        ``fit(X)``, or the given Gaussian (cov a (k, k) matrix or (k,) variances).
    random_state : int or None
        The default seed of ``sample``.
    """

    _param_rules = {
        "latent_dim": Int(1, allow_none=True),
        "input_shape": IntTuple(allow_none=True, max_len=8),
        "random_state": Int(0, allow_none=True),
    }

    def __init__(
        self,
        encoder=None,
        decoder=None,
        *,
        latent_dim: int | None = None,
        input_shape: tuple[int, ...] | None = None,
        prior="standard",
        random_state: int | None = None,
    ):
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.input_shape = input_shape
        self.prior = prior
        self.random_state = random_state

    @property
    def has_encoder(self) -> bool:
        return self.encoder is not None

    @property
    def has_decoder(self) -> bool:
        return self.decoder is not None

    def check_params(self) -> None:
        super().check_params()
        for role, fn in (("encoder", self.encoder), ("decoder", self.decoder)):
            if fn is not None and not callable(fn):
                raise InputError(f"wrap: {role} must be callable (a torch module or a function); got {fn!r}")
        if isinstance(self.prior, str):
            if self.prior not in ("standard", "fitted"):
                raise InputError(
                    f"wrap: prior must be 'standard', 'fitted' or (mean, cov); got {self.prior!r}"
                )
        elif self.latent_dim is not None:
            gaussian(self.prior, int(self.latent_dim))

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_features_in_")

    @property
    def _row_shape(self) -> tuple[int, ...]:
        return tuple(self.input_shape) if self.input_shape else (int(self.n_features_in_),)

    def _ready(self, n_features: int) -> WrappedModel:
        """Check the callables against the sizes (one call each on two rows of zeros) and set the
        prior unless it is fitted to data."""
        if self.latent_dim is None:
            raise InputError("WrappedModel: latent_dim is unknown; give it, or make the model with wrap()")
        k = int(self.latent_dim)
        self.n_features_in_ = int(n_features)
        if self.input_shape and math.prod(self.input_shape) != self.n_features_in_:
            raise InputError(
                f"input_shape {tuple(self.input_shape)} holds {math.prod(self.input_shape)} values;"
                f" the data have {self.n_features_in_} features"
            )
        if self.encoder is not None:
            _call(self.encoder, np.zeros((2, *self._row_shape), np.float32), k, "encoder")
        if self.decoder is not None:
            _call(self.decoder, np.zeros((2, k), np.float32), self.n_features_in_, "decoder")
        if self.prior == "standard":
            self.prior_ = {"mean": np.zeros(k, np.float32), "scale": np.ones(k, np.float32)}
        elif not isinstance(self.prior, str):
            self.prior_ = gaussian(self.prior, k)
        return self

    def fit(self, X, y=None) -> WrappedModel:
        """Check the callables against ``X`` and, with ``prior="fitted"``, fit the prior to its latents."""
        self.check_params()
        width = math.prod(self.input_shape) if self.input_shape else None
        X = check_array(
            X, min_rows=2 if self.prior == "fitted" else 1, n_features=width, expected_by="WrappedModel"
        )
        self._ready(X.shape[1])
        if isinstance(self.prior, str) and self.prior == "fitted":
            if self.encoder is None:
                raise InputError("prior='fitted' is fitted to encoded data: it needs an encoder")
            self.prior_ = fit_gaussian(self.transform(X))
            self.n_samples_ = len(X)
        return self

    # --- the contract ---------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        if self.encoder is None:
            raise InputError("this wrapped model has no encoder: wrap(encode=...) to encode data")
        X = self._check_input(X)
        shape, k = self._row_shape, int(self.latent_dim)
        return batched(
            lambda b: _call(self.encoder, b.reshape(len(b), *shape), k, "encoder"),
            X,
            k,
            task="encoding",
            batch=ROWS,
        )

    def inverse_transform(self, Z) -> np.ndarray:
        if self.decoder is None:
            raise InputError("this wrapped model has no decoder: wrap(decode=...) to decode latents")
        Z, d = self._check_latent(Z), int(self.n_features_in_)
        return batched(lambda b: _call(self.decoder, b, d, "decoder"), Z, d, task="decoding", batch=ROWS)

    def _prior_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if not hasattr(self, "prior_"):
            raise InputError("prior='fitted' is fitted to data: call fit(X) before sampling")
        return sample_gaussian(self.prior_, n, int(self.latent_dim), rng)

    def info(self) -> dict:
        prior = self.prior if isinstance(self.prior, str) else "given"
        names = {
            r: type(f).__name__ if f is not None else "none"
            for r, f in (("encoder", self.encoder), ("decoder", self.decoder))
        }
        return {**super().info(), **names, "prior": prior}

    # --- saving: as ONNX, or not at all ---------------------------------------------------------
    def to_onnx(self):
        """The same networks exported to ONNX, as an :class:`~latentspace.models.onnx.OnnxModel`
        with this model's prior (torch modules only; an ONNX model needs an encoder)."""
        from .onnx import OnnxModel

        check_is_fitted(self)
        if not all(_is_module(fn) for fn in (self.encoder, self.decoder) if fn is not None):
            raise InputError(CANNOT_SAVE)
        if self.encoder is None:
            raise InputError("an ONNX model needs an encoder (the run's latents are the encoded data)")
        k = int(self.latent_dim)
        enc = export_onnx(self.encoder, self._row_shape, "encoder")
        dec = None if self.decoder is None else export_onnx(self.decoder, (k,), "decoder")
        model = OnnxModel.from_files(enc, dec, prior=self.prior, latent_dim=k, random_state=self.random_state)
        if hasattr(self, "prior_"):
            model._set_prior(self.prior_, self.n_features_in_, getattr(self, "n_samples_", None))
        return model

    def _for_saving(self):
        if not all(_is_module(fn) for fn in (self.encoder, self.decoder) if fn is not None):
            raise InputError(CANNOT_SAVE)
        if not hasattr(self, "prior_"):
            raise InputError("prior='fitted' is fitted to data: call fit(X) before saving the model")
        return self.to_onnx()

    def _get_state(self):
        raise InputError(CANNOT_SAVE)

    def _get_files(self):
        raise InputError(CANNOT_SAVE)

    def _set_state(self, tensors, meta):
        raise InputError("a wrapped model is never stored in a run (its run holds an 'onnx' model)")


def _exporters() -> list[dict]:
    """Keyword sets for torch.onnx.export to try in order: the TorchScript exporter (fast, needs
    only torch), then torch.export's (the default from torch 2.9, needs onnxscript). Before torch
    2.5 ``export`` has no ``dynamo`` switch and is the TorchScript one."""
    import torch

    if "dynamo" not in inspect.signature(torch.onnx.export).parameters:
        return [{"dynamic_axes": {"x": {0: "batch"}, "y": {0: "batch"}}}]
    return [
        {"dynamo": False, "dynamic_axes": {"x": {0: "batch"}, "y": {0: "batch"}}},
        {"dynamo": True, "dynamic_shapes": ({0: torch.export.Dim("batch")},), "external_data": False},
    ]


def export_onnx(module, row_shape: tuple[int, ...], role: str) -> bytes:
    """A torch module exported to ONNX bytes with a dynamic batch axis (input ``x``, output ``y``)."""
    import torch

    errors = []
    with _InferenceMode(module) as mode, tempfile.TemporaryDirectory() as tmp:
        example = (mode.tensor(np.zeros((2, *row_shape), np.float32)),)  # two rows: no batch-1 shortcuts
        path = Path(tmp) / f"{role}.onnx"
        for options in _exporters():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # deprecation notes of one exporter or the other
                    torch.onnx.export(
                        module,
                        example,
                        str(path),
                        input_names=["x"],
                        output_names=["y"],
                        verbose=False,
                        **options,
                    )
                return path.read_bytes()
            except Exception as exc:  # noqa: BLE001 - each exporter fails in its own way
                errors.append(" ".join(str(exc).split())[:200] or type(exc).__name__)
    raise InputError(f"torch.onnx.export could not export the {role}: {' / '.join(errors)}")


def wrap(
    encode=None,
    decode=None,
    latent_dim: int | None = None,
    prior="standard",
    n_features: int | None = None,
    *,
    input_shape: tuple[int, ...] | None = None,
    random_state: int | None = None,
) -> WrappedModel:
    """Your encoder and/or decoder as a latentspace model: torch modules or numpy functions.

    Operations (``latentspace.ops``), metrics and the explorer work on the result. Sizes are found
    by calling the functions on two rows of zeros: ``latent_dim`` from the encoder (given
    ``n_features`` or ``input_shape``), ``n_features`` from the decoder (given ``latent_dim``, and
    then the decoder's output shape is what the encoder reads, unless ``input_shape`` says).
    ``prior="fitted"`` needs ``fit(X)`` before sampling. Saving the model into a run exports torch
    modules to ONNX; Python functions cannot be saved.

    >>> import numpy as np, latentspace as ls
    >>> W = np.random.default_rng(0).normal(size=(5, 2)).astype("float32")
    >>> model = ls.wrap(encode=lambda x: x @ W, decode=lambda z: z @ W.T, n_features=5)
    >>> model.latent_dim, model.decode(model.encode(np.ones((3, 5)))).shape
    (2, (3, 5))
    """
    if encode is None and decode is None:
        raise InputError("wrap needs encode=, decode= or both")
    shape = tuple(input_shape) if input_shape is not None else None
    if shape is None and n_features is not None:
        shape = (int(n_features),)
    elif shape is not None and n_features is not None and math.prod(shape) != n_features:
        raise InputError(f"input_shape {shape} holds {math.prod(shape)} values; n_features is {n_features}")
    model = WrappedModel(
        encode, decode, latent_dim=latent_dim, input_shape=shape, prior="standard", random_state=random_state
    )
    model.check_params()
    if shape is None and decode is not None and latent_dim is not None:
        out = _decoded_shape(decode, int(latent_dim))
        shape = out if encode is not None else (math.prod(out),)
    if latent_dim is None and encode is not None and shape is not None:
        latent_dim = _call(encode, np.zeros((2, *shape), np.float32), None, "encoder").shape[1]
    if latent_dim is None or shape is None:
        need = "n_features (or input_shape)" if encode is not None else "latent_dim"
        raise InputError(f"wrap: give {need}, so the sizes of the model can be found")
    model.set_params(latent_dim=int(latent_dim), input_shape=shape if len(shape) > 1 else None, prior=prior)
    model.check_params()
    return model._ready(math.prod(shape))


def _decoded_shape(decode, k: int) -> tuple[int, ...]:
    """The shape of one row the decoder gives (after the batch axis)."""
    if _is_module(decode):
        with _InferenceMode(decode) as mode:
            out = decode(mode.tensor(np.zeros((2, k), np.float32)))
    else:
        out = decode(np.zeros((2, k), np.float32))
    out = out[0] if isinstance(out, tuple | list) else out
    shape = tuple(out.shape) if hasattr(out, "shape") else np.shape(out)
    if len(shape) < 2 or shape[0] != 2:
        raise InputError(f"the decoder gave shape {list(shape)} for 2 rows; expected one row per latent")
    return tuple(int(s) for s in shape[1:])
