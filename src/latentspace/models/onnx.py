"""A user's own networks, trained elsewhere and exported to ONNX, on the latentspace contract.

The encoder (required) and the decoder (optional) run through onnxruntime on the CPU. A run folder
keeps them as ``encoder.onnx`` and ``decoder.onnx`` beside ``model.safetensors``, which holds the
prior: a Gaussian fitted to the encoded training rows (full covariance up to 512 latent
dimensions, diagonal beyond), N(0, I), or one given by the user.

Nothing in a file is executed as Python: ONNX is a graph of standard operators, no custom-operator
library is ever registered, and a network whose tensors live in external data files is refused
(onnxruntime would read them from any path the file names).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..data.validate import check_array
from ..errors import InputError
from ..extras import require
from .base import LatentModel, batched
from .gaussian import check_prior, fit_gaussian, gaussian, sample_gaussian
from .params import Int, OneOf
from .registry import register

ENCODER, DECODER = "encoder.onnx", "decoder.onnx"
MAX_ONNX_BYTES = 2 << 30  # protobuf's own limit for one message
ROWS = 1024  # rows per onnxruntime call
_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}


def _ort():
    require("onnx", "a model in ONNX (run through onnxruntime)")
    import onnxruntime

    return onnxruntime


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if text.startswith("[ONNXRuntimeError]"):  # "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : ..."
        text = text.split(" : ", 3)[-1]
    return (text[:297] + "...") if len(text) > 300 else text or type(exc).__name__


# --- external data: found in the protobuf itself, since onnx (the package) is not a dependency ----
# Which length-delimited fields of each message hold a message that may contain a tensor (field
# numbers from onnx.proto; tests/test_onnx.py checks them against the onnx package).
_MODEL, _GRAPH, _NODE, _ATTR, _TENSOR, _SPARSE, _TRAINING, _FUNCTION = range(8)
_SUBMESSAGES = {
    _MODEL: {7: _GRAPH, 20: _TRAINING, 25: _FUNCTION},
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},
    _NODE: {5: _ATTR},
    _ATTR: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _TENSOR: {},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},
    _TRAINING: {1: _GRAPH, 2: _GRAPH},
    _FUNCTION: {7: _NODE, 11: _ATTR},
}
_TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 13, 14
_MAX_DEPTH = 96


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while shift < 64:
        if pos >= end:
            raise ValueError("a field runs past the end of its message")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise ValueError("a malformed number")


def _has_external_data(buf: bytes, start: int, end: int, kind: int, depth: int = 0) -> bool:
    """Whether any tensor inside the message ``buf[start:end]`` (of ``kind``) keeps its data in
    an external file; raises ValueError when the bytes are not a protobuf message."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"subgraphs nest deeper than {_MAX_DEPTH} levels")
    subs, pos = _SUBMESSAGES[kind], start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            if kind == _TENSOR and field == _TENSOR_DATA_LOCATION and value == 1:
                return True
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        elif wire == 2:
            size, pos = _varint(buf, pos, end)
            if pos + size > end:
                raise ValueError("a field runs past the end of its message")
            if kind == _TENSOR and field == _TENSOR_EXTERNAL_DATA:
                return True
            if field in subs and _has_external_data(buf, pos, pos + size, subs[field], depth + 1):
                return True
            pos += size
        else:
            raise ValueError(f"field {field} has wire type {wire}")
    if pos != end:
        raise ValueError("a field runs past the end of its message")
    return False


def read_onnx(source, role: str) -> tuple[bytes, str]:
    """The bytes of the ``role`` ("encoder", "decoder") ONNX file, given as a path or as bytes, and
    the name messages use for it (the path, or ``encoder.onnx``)."""
    name = f"{role}.onnx"
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | Path):
        path, name = Path(source), str(source)
        if not path.exists():
            raise InputError(f"the {role} file {name} does not exist")
        if not path.is_file():
            raise InputError(f"the {role} file {name} is not a file; name an .onnx file")
        size = path.stat().st_size
        if size > MAX_ONNX_BYTES:
            raise InputError(f"{name} is {size / 2**30:.1f} GiB; an ONNX file may be at most 2 GiB")
        data = path.read_bytes()
    else:
        kind = type(source).__name__
        raise InputError(f"the {role} must be the path or the bytes of an ONNX file; got {kind}")
    if len(data) > MAX_ONNX_BYTES:
        raise InputError(f"{name} is {len(data) / 2**30:.1f} GiB; an ONNX file may be at most 2 GiB")
    return data, name


class Net:
    """One ONNX network: its bytes, an onnxruntime session made from them, and its shapes.

    ``in_shape`` is one row as the network reads it (the input's dimensions after the batch axis);
    ``out_size`` the values per row of its first output (what latentspace uses: a VAE encoder's
    mean when it also outputs a variance)."""

    def __init__(self, data: bytes, name: str, role: str) -> None:
        self.data, self.name, self.role = data, name, role
        self._session = None
        try:
            external = _has_external_data(data, 0, len(data), _MODEL)
        except ValueError as exc:
            raise InputError(
                f"{name} is not an ONNX model: its bytes are not a protobuf message ({exc})"
            ) from None
        if external:
            raise InputError(
                f"{name} keeps tensors in external data files, which latentspace does not read;"
                " save the network as one file (torch.onnx.export(..., external_data=False), or"
                " onnx.save_model(model, path, save_as_external_data=False))"
            )
        session = self.session
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs) or "none"
            what = (
                "an encoder reads one (the data rows)"
                if role == "encoder"
                else "a decoder reads one (the latents)"
            )
            raise InputError(f"{name} has {len(inputs)} inputs ({names}); {what}")
        if not outputs:
            raise InputError(f"{name} has no output")
        inp = inputs[0]
        self.input, self.output = inp.name, outputs[0].name
        if inp.type not in _DTYPES:
            raise InputError(f"{name} reads {inp.type} values; allowed: float, double or float16 tensors")
        self.dtype = _DTYPES[inp.type]
        shape = list(inp.shape)
        if len(shape) < 2:
            raise InputError(f"{name} reads input of shape {shape}; it needs a batch axis and a row")
        if isinstance(shape[0], int):
            raise InputError(
                f"{name} has a fixed batch size of {shape[0]}; export it with a dynamic batch axis"
                " (torch.onnx.export(..., dynamic_axes={'x': {0: 'batch'}}))"
            )
        if not all(isinstance(s, int) and s > 0 for s in shape[1:]):
            raise InputError(
                f"{name} reads input of shape {shape}: every axis after the batch axis needs a fixed size"
            )
        self.in_shape = tuple(shape[1:])
        self.in_size = math.prod(self.in_shape)
        self.out_size = self._probe()

    @property
    def session(self):
        if self._session is None:
            ort = _ort()
            options = ort.SessionOptions()
            options.log_severity_level = 3  # onnxruntime's own warnings are not the user's business
            options.add_session_config_entry("session.load_model_format", "ONNX")
            try:
                self._session = ort.InferenceSession(
                    self.data, sess_options=options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # noqa: BLE001 - onnxruntime's own error types
                msg = _short(exc)
                what = "is not an ONNX model" if "protobuf" in msg.lower() else "cannot run in onnxruntime"
                raise InputError(f"{self.name} {what}: {msg}") from None
        return self._session

    def _probe(self) -> int:
        """The values per row of the first output, from a run on two rows of zeros (two, so a
        batch size fixed somewhere inside the graph shows)."""
        out = self._run(np.zeros((2, *self.in_shape), dtype=self.dtype), probe=True)
        if out.ndim < 2 or out.shape[0] != 2:
            raise InputError(
                f"{self.name} gives output of shape {list(out.shape)} for 2 rows; it must give one row per"
                " input row (a batch axis first)"
            )
        return math.prod(out.shape[1:])

    def _run(self, x: np.ndarray, probe: bool = False) -> np.ndarray:
        session = self.session  # made here after unpickling; a missing onnxruntime says so
        try:
            (out,) = session.run([self.output], {self.input: x})
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own error types
            what = "on 2 rows of zeros" if probe else f"on {len(x)} rows"
            raise InputError(f"{self.name} failed {what}: {_short(exc)}") from None
        out = np.asarray(out)
        if out.dtype.kind != "f":
            raise InputError(f"{self.name} gives {out.dtype} values; the {self.role} must give floats")
        return out

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """Rows (n, in_size) -> rows (n, out_size), float32."""
        out = self._run(np.ascontiguousarray(block.reshape(len(block), *self.in_shape), dtype=self.dtype))
        if out.shape[:1] != (len(block),) or math.prod(out.shape[1:]) != self.out_size:
            raise InputError(
                f"{self.name} gave output of shape {list(out.shape)} for {len(block)} rows;"
                f" expected {self.out_size} values per row"
            )
        return out.reshape(len(block), self.out_size).astype(np.float32, copy=False)

    def describe(self) -> str:
        shape = ", ".join(map(str, self.in_shape))
        return f"{self.input} [batch, {shape}] -> {self.output} ({self.out_size})"

    def __getstate__(self):  # sessions do not pickle; the bytes make a new one when it is needed
        return {**self.__dict__, "_session": None}


@register("onnx")
class OnnxModel(LatentModel):
    """A user's encoder (and decoder) exported to ONNX, run by onnxruntime (latentspace import).

    Build it with :meth:`from_files`, then ``fit(X)`` checks the networks against the data and fits
    the prior.

    Parameters
    ----------
    prior : {"fitted", "standard", "given"}, default="fitted"
        What ``sample_latent`` draws from: a Gaussian fitted to the encoded training rows, N(0, I)
        (a VAE's prior), or the mean and covariance handed to :meth:`from_files`.
    latent_dim : int or None
        The encoder's output size: found from the file, checked when given.
    random_state : int or None
        The default seed of ``sample``.
    """

    state_files = (ENCODER, DECODER)
    _param_rules = {
        "prior": OneOf("fitted", "standard", "given"),
        "latent_dim": Int(1, allow_none=True),
        "random_state": Int(0, allow_none=True),
    }
    # the networks (set by from_files or _set_files) belong to the estimator as its parameters do,
    # but are bytes, not JSON: they travel as files, and clone keeps them
    _nets: dict = {}  # replaced whole, never changed in place
    _given = None

    def __init__(self, prior: str = "fitted", latent_dim: int | None = None, random_state: int | None = None):
        self.prior = prior
        self.latent_dim = latent_dim
        self.random_state = random_state

    @classmethod
    def from_files(cls, encoder, decoder=None, *, prior="fitted", latent_dim=None, random_state=None):
        """An unfitted model around ONNX files (paths or bytes), checked alone and against each
        other; ``prior`` may also be ``(mean, cov)`` (cov a (k, k) matrix or (k,) variances)."""
        given = None
        if not isinstance(prior, str):
            given, prior = prior, "given"
        model = cls(prior=prior, latent_dim=latent_dim, random_state=random_state)
        model._validate_params()
        enc = read_onnx(encoder, "encoder")
        dec = None if decoder is None else read_onnx(decoder, "decoder")
        model._load(enc, dec)
        model.latent_dim = model._nets["encoder"].out_size
        if given is not None:
            model._given = gaussian(given, model.latent_dim)
        return model

    def _load(self, enc: tuple[bytes, str], dec: tuple[bytes, str] | None) -> None:
        nets = {"encoder": Net(*enc, "encoder")}
        k = nets["encoder"].out_size
        if self.latent_dim is not None and k != self.latent_dim:
            raise InputError(f"latent_dim is {self.latent_dim}, but {enc[1]} gives latents of {k} values")
        if dec is not None:
            nets["decoder"] = Net(*dec, "decoder")
            if nets["decoder"].in_size != k:
                raise InputError(
                    f"{dec[1]} expects latents of {nets['decoder'].in_size} values; {enc[1]} gives {k}"
                )
        self._nets = nets

    @property
    def has_decoder(self) -> bool:
        return "decoder" in self._nets

    def __sklearn_clone__(self):
        twin = super().__sklearn_clone__()
        twin._nets, twin._given = self._nets, self._given
        return twin

    # --- fitting --------------------------------------------------------------------------------
    def check_data(self, X) -> np.ndarray:
        """``X`` checked against the networks: the encoder reads its rows, the decoder gives them."""
        self._validate_params()
        if "encoder" not in self._nets:
            raise InputError("OnnxModel has no encoder: make it with OnnxModel.from_files(encoder, decoder)")
        X = check_array(X, min_rows=2 if self.prior == "fitted" else 1)
        enc, dec, d = self._nets["encoder"], self._nets.get("decoder"), X.shape[1]
        if enc.in_size != d:
            raise InputError(f"{enc.name} reads {enc.in_size} values per row; the data have {d} features")
        if dec is not None and dec.out_size != d:
            raise InputError(f"{dec.name} gives {dec.out_size} values per row; the data have {d} features")
        if self.latent_dim != enc.out_size:
            k = enc.out_size
            raise InputError(f"latent_dim is {self.latent_dim}, but {enc.name} gives latents of {k} values")
        if self.prior == "given" and self._given is None:
            raise InputError("prior='given' needs a mean and covariance: from_files(..., prior=(mean, cov))")
        return X

    def fit(self, X, y=None) -> OnnxModel:
        """Check the networks against ``X`` (the training rows) and fit the prior to their latents."""
        X = self.check_data(X)
        k = int(self.latent_dim)
        if self.prior == "fitted":
            prior = fit_gaussian(self._encode(X))
        elif self.prior == "given":
            prior = self._given
        else:
            prior = {"mean": np.zeros(k, np.float32), "scale": np.ones(k, np.float32)}
        self._set_prior(prior, X.shape[1], len(X) if self.prior == "fitted" else None)
        return self

    def _set_prior(self, prior: dict, n_features: int, n_samples: int | None) -> None:
        self.prior_ = {name: np.asarray(v, dtype=np.float32) for name, v in prior.items()}
        self.n_features_in_, self.n_samples_ = int(n_features), n_samples

    # --- the contract ---------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        """Encode rows (n, n_features) to latents (n, latent_dim), float32."""
        return self._encode(self._check_input(X))

    def _encode(self, X: np.ndarray) -> np.ndarray:
        enc = self._nets["encoder"]
        Z = batched(enc, X, int(self.latent_dim), task="encoding", batch=ROWS)
        bad = ~np.isfinite(Z).all(axis=1)
        if bad.any():  # a latent must be a point: NaN would break every map, metric and the run's checks
            raise InputError(f"{enc.name} gives NaN or infinity for row {int(np.argmax(bad))}")
        return Z

    def inverse_transform(self, Z) -> np.ndarray:
        """Decode latents (n, latent_dim) to rows (n, n_features), float32."""
        Z = self._check_latent(Z)
        if not self.has_decoder:
            raise InputError("this model has no decoder: import one with --decoder dec.onnx to decode")
        return batched(self._nets["decoder"], Z, self.n_features_in_, task="decoding", batch=ROWS)

    def _prior_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return sample_gaussian(self.prior_, n, int(self.latent_dim), rng)

    def info(self) -> dict:
        out = {**super().info(), "prior": self.prior, "encoder": self._nets["encoder"].describe()}
        out["decoder"] = self._nets["decoder"].describe() if self.has_decoder else "none"
        if getattr(self, "n_samples_", None):
            out["n_samples"] = int(self.n_samples_)
        return out

    # --- persistence ----------------------------------------------------------------------------
    def _get_files(self) -> dict[str, bytes]:
        check_is_fitted(self)
        files = {ENCODER: self._nets["encoder"].data}
        if self.has_decoder:
            files[DECODER] = self._nets["decoder"].data
        return files

    def _set_files(self, files: dict[str, bytes]) -> None:
        if ENCODER not in files:
            raise InputError(f"an onnx run needs {ENCODER}")
        dec = (files[DECODER], DECODER) if DECODER in files else None
        self._load((files[ENCODER], ENCODER), dec)

    def _get_state(self):
        check_is_fitted(self)
        meta = {"n_features": self.n_features_in_}
        if self.n_samples_:
            meta["n_samples"] = int(self.n_samples_)
        return dict(self.prior_), meta

    def _set_state(self, tensors, meta):
        if "encoder" not in self._nets:
            raise InputError(f"the state of an onnx model comes with its {ENCODER}, which is missing")
        k, d = int(self.latent_dim), int(meta["n_features"])
        prior = {name: np.asarray(v) for name, v in tensors.items()}
        check_prior(prior, k)
        enc, dec = self._nets["encoder"], self._nets.get("decoder")
        if enc.in_size != d:
            raise InputError(f"{ENCODER} reads {enc.in_size} values per row; the state says {d}")
        if dec is not None and dec.out_size != d:
            raise InputError(f"{DECODER} gives {dec.out_size} values per row; the state says {d}")
        self._set_prior(prior, d, meta.get("n_samples"))
        return self
