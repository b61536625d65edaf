"""Shared machinery of the neural latent models (AE, DAE, VAE, beta-VAE).

Subclasses set ``encoder_outputs`` (what the encoder outputs) and define ``_loss``; everything else
(parameter checks, architecture choice, likelihood choice, the training engine, batched encode and
decode on any device, safetensors state, a prior to sample from) lives here.

With ``scale="standard"`` the networks see standardised features (data/scaling.py): the training
rows are standardised once, ``_net_in`` standardises what enters an encoder and ``_net_out`` undoes it
on what leaves a decoder, so every public method speaks the data's units.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.scaling import Scaling
from ..data.source import as_block
from ..data.validate import check_array, check_in_unit_interval
from ..errors import InputError
from ..progress import report
from ..train import Trainer, TrainSettings, resolve_device
from ..train.device import torch_threads
from .base import BATCH_ROWS, LatentModel
from .config import MAX_PARAMETERS, NEURAL, ParamTable
from .nets import build_decoder, build_encoder, usable_conv_layers

LOG_2PI = math.log(2 * math.pi)


class Net(nn.Module):
    """Encoder + decoder (+ a learned log sigma for Gaussian likelihoods)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.log_sigma = nn.Parameter(torch.zeros(()))  # used by the Gaussian likelihood only


class NeuralLatentModel(LatentModel):
    """Base of the torch models; see the subclasses for the parameters' meaning.

    A subclass that sets ``param_table`` (models/config.py) gets its constructor, ``_param_rules``
    and the Parameters section of its docstring from it; one that does not inherits its parent's.
    """

    latent_param = "latent_dim"
    trains_in_epochs: ClassVar[bool] = True  # checkpoints and --resume apply
    encoder_outputs: ClassVar[int] = 1  # 2 for a Gaussian posterior (mean, log-variance)
    param_table: ClassVar[ParamTable] = NEURAL

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "param_table" in cls.__dict__:
            cls.param_table.install(cls)

    # --- fitting --------------------------------------------------------------------------------
    def fit(self, X, y=None, *, checkpoint_dir: str | Path | None = None, resume: bool = False):
        """Train on ``X`` (n, n_features). ``checkpoint_dir`` keeps per-epoch checkpoints;
        ``resume=True`` continues from the last one there."""
        self._validate_params()
        self._check_more()
        self._check_scale()
        X = check_array(X, min_rows=2)
        d = X.shape[1]
        self._check_latent_dim(d)
        arch = self._resolve_arch(d)
        self._check_size(d, arch)  # before anything is allocated
        self.scaling_ = Scaling.fit(X) if self.scale == "standard" else None
        X_net = X if self.scaling_ is None else self.scaling_.apply(X)  # what the networks see
        self.likelihood_ = self._resolve_likelihood(X_net)
        self.arch_ = arch
        self.n_features_in_ = d
        self.device_ = resolve_device(self.device)
        self._scale_cache = None
        with torch_threads(self.threads):
            seed = 0 if self.random_state is None else int(self.random_state)
            torch.manual_seed(seed)  # the same seed gives the same initial weights
            self.net_ = self._build_net().to(self.device_)
            settings = TrainSettings(
                **self.param_table.settings(self),
                seed=seed,
                device=self.device_,
                checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir is not None else None,
                resume=resume,
            )
            self.epochs_ = self.epochs  # the epochs planned: raised by min_steps on small data (_train)
            self.history_ = self._train(X_net, settings)
            self._after_fit(X)
        self.net_.eval()
        return self

    def _train(self, X: np.ndarray, settings: TrainSettings) -> list[dict]:
        """Run the training engine on the rows the networks see (standardised with
        ``scale="standard"``); GANs override this with alternating phases."""
        trainer = Trainer(self.net_, self._loss, settings)
        self.epochs_ = trainer.plan(len(X))
        return trainer.fit(X)

    def _check_more(self) -> None:
        """Cross-parameter checks of subclasses."""

    def _check_scale(self) -> None:
        if self.scale == "standard" and self.likelihood == "bernoulli":
            raise InputError(
                f"{type(self).__name__}: likelihood='bernoulli' needs data in [0, 1], and"
                " scale='standard' centres every feature on 0; use likelihood='gaussian' or scale='none'"
            )

    # --- parameter and size checks, before anything is allocated ---------------------------------
    def check_params(self) -> None:
        """The rules ``fit`` applies, and the size bound: exact when ``sample_shape`` gives the
        number of features, otherwise for the smallest network ``fit`` could build (an MLP on
        ``latent_dim`` features); ``fit`` checks again with the data."""
        self._validate_params()
        self._check_more()
        self._check_scale()
        if self.sample_shape is not None:
            d = int(np.prod([int(s) for s in self.sample_shape]))
            self._check_latent_dim(d)
            self._check_size(d, self._resolve_arch(d))
        elif self.arch != "conv":
            self._check_size(None, "mlp")

    def _check_latent_dim(self, d: int) -> None:
        if self.latent_dim > d:
            raise InputError(
                f"{type(self).__name__}: latent_dim = {self.latent_dim} is larger than allowed: at"
                f" most the input's n_features = {d}"
            )

    def parameter_count(self, n_features: int, arch: str, **params) -> int:
        """Weights of the network this model builds for ``n_features`` inputs with ``arch``
        ("mlp" or "conv") and its parameters (``params`` override some), counted on torch's meta
        device: shapes only, nothing allocated. ``_build_net`` must depend on the parameters,
        ``n_features_in_`` and ``arch_`` alone."""
        probe = type(self)(**{**self.get_params(deep=False), **params})
        probe.n_features_in_, probe.arch_ = int(n_features), arch
        try:
            with torch.device("meta"):
                net = probe._build_net()
        except (RuntimeError, OverflowError):  # a dimension beyond int64: far beyond any bound
            return 2**63
        return sum(p.numel() for p in net.parameters())

    def _check_size(self, d: int | None, arch: str) -> None:
        """Refuse a network of more than MAX_PARAMETERS weights for ``d`` input features (None: not
        known yet, at least ``latent_dim``), naming the parameter that makes it large: the one
        whose smallest value removes the most weights."""

        def count(**params) -> int:
            features = d if d is not None else params.get("latent_dim", self.latent_dim)
            return self.parameter_count(features, arch, **params)

        total = count()
        if total <= MAX_PARAMETERS:
            return
        smallest = {
            "hidden": [1] * len(self.hidden),
            "latent_dim": 1,
            "channels": [1] * len(self.channels),
        }
        name = min(smallest, key=lambda k: count(**{k: smallest[k]}))
        features = f"{d:,}" if d is not None else f"at least {self.latent_dim:,}"
        raise InputError(
            f"{type(self).__name__}: {name} = {getattr(self, name)!r} makes a network of {total:,}"
            f" parameters ({arch}, {features} input features); at most {MAX_PARAMETERS:,} (2**31)"
            f" are allowed: reduce {name}"
        )

    def _resolve_likelihood(self, X: np.ndarray) -> str:
        if self.likelihood == "bernoulli":
            check_in_unit_interval(X)
            return "bernoulli"
        if self.likelihood == "gaussian":
            return "gaussian"
        lo = min(float(np.min(X[i : i + BATCH_ROWS])) for i in range(0, len(X), BATCH_ROWS))
        hi = max(float(np.max(X[i : i + BATCH_ROWS])) for i in range(0, len(X), BATCH_ROWS))
        return "bernoulli" if lo >= 0.0 and hi <= 1.0 else "gaussian"

    def _resolve_arch(self, d: int) -> str:
        shape = self._sample_shape(d)
        if self.arch == "conv" and shape is None:
            raise InputError(
                f"{type(self).__name__}: arch='conv' needs image data; pass sample_shape=(c, h, w)"
            )
        if self.arch != "auto":
            return self.arch
        return "conv" if shape is not None and usable_conv_layers(*shape[1:], 2) >= 2 else "mlp"

    def _sample_shape(self, d: int):
        if self.sample_shape is None:
            return None
        shape = tuple(int(s) for s in self.sample_shape)
        if len(shape) != 3 or int(np.prod(shape)) != d:
            raise InputError(f"sample_shape {shape} is not (c, h, w) with c*h*w = {d} features")
        return shape

    def _build_net(self) -> Net:
        d, shape = self.n_features_in_, self._sample_shape(self.n_features_in_)
        hidden, channels = tuple(self.hidden), tuple(self.channels)
        enc = build_encoder(self.arch_, d, shape, hidden, channels, self.encoder_outputs * self.latent_dim)
        dec = build_decoder(self.arch_, d, shape, hidden, channels, self.latent_dim)
        return Net(enc, dec)

    def _after_fit(self, X: np.ndarray) -> None:
        """Hook after training (the AE fits its latent Gaussian here)."""

    # --- pieces the losses share ----------------------------------------------------------------
    def _log_px(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x | z) per row in nats; ``out`` is the decoder output (logits or means)."""
        if self.likelihood_ == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
        log_sigma = self.net_.log_sigma
        sq = ((x - out) ** 2).sum(1)
        d = x.shape[1]
        return -0.5 * sq * torch.exp(-2 * log_sigma) - d * log_sigma - 0.5 * d * LOG_2PI

    def _mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out) if self.likelihood_ == "bernoulli" else out

    def _scale_tensors(self, device) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The input scaling's (mean, std) as tensors on ``device`` (None without a scaling)."""
        scaling = getattr(self, "scaling_", None)
        if scaling is None:
            return None
        cache = getattr(self, "_scale_cache", None)
        if cache is None or cache[0] != device:
            pair = (torch.from_numpy(scaling.mean).to(device), torch.from_numpy(scaling.std).to(device))
            cache = self._scale_cache = (device, pair)
        return cache[1]

    def _net_in(self, x: torch.Tensor) -> torch.Tensor:
        """Rows in the data's units -> what the networks see (standardised with scale="standard")."""
        pair = self._scale_tensors(x.device)
        return x if pair is None else (x - pair[0]) / pair[1]

    def _net_out(self, y: torch.Tensor) -> torch.Tensor:
        """What a decoder's mean gives -> rows in the data's units."""
        pair = self._scale_tensors(y.device)
        return y if pair is None else y * pair[1] + pair[0]

    def _encode_tensor(self, x: torch.Tensor) -> torch.Tensor:
        return self.net_.encoder(self._net_in(x))[:, : self.latent_dim]

    # --- the contract ---------------------------------------------------------------------------
    def _map(self, fn, A: np.ndarray, out_dim: int, task: str) -> np.ndarray:
        out = np.empty((A.shape[0], out_dim), dtype=np.float32)
        self.net_.eval()
        with torch.no_grad():
            for start in range(0, A.shape[0], BATCH_ROWS):
                block = torch.from_numpy(as_block(A[start : start + BATCH_ROWS]))
                out[start : start + len(block)] = fn(block.to(self.device_)).cpu().numpy()
                report(task, min(start + BATCH_ROWS, A.shape[0]), A.shape[0])
        return out

    def transform(self, X) -> np.ndarray:
        """Data -> latent codes (posterior means for VAEs), shape (n, latent_dim)."""
        X = self._check_input(X)
        return self._map(self._encode_tensor, X, self.latent_dim, "encoding")

    def inverse_transform(self, Z) -> np.ndarray:
        """Latents -> the decoder's mean in data space, shape (n, n_features)."""
        Z = self._check_latent(Z)
        return self._map(self._decode_tensor, Z, self.n_features_in_, "decoding")

    def _decode_tensor(self, z: torch.Tensor) -> torch.Tensor:
        return self._net_out(self._mean(self.net_.decoder(z)))

    def _prior_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, self.latent_dim)).astype(np.float32)

    def _trained_rows(self) -> list[dict]:
        """The history rows of the model's own training (a GAN's adversarial stage, not its encoder's)."""
        return list(self.history_)

    def optimiser_steps(self) -> int | None:
        """Optimiser steps the training took (None for a history recorded without step counts)."""
        rows = self._trained_rows()
        if not rows:
            return 0
        steps = rows[-1].get("steps")
        return None if steps is None else int(steps)

    def info(self) -> dict:
        last = self.history_[-1] if self.history_ else {}
        planned = getattr(self, "epochs_", self.epochs)
        out = {
            **super().info(),
            "arch": self.arch_,
            "likelihood": self.likelihood_,
            "scale": "standard" if getattr(self, "scaling_", None) is not None else "none",
            "epochs_run": len(self.history_),
            "epochs_planned": int(planned),
            "min_steps": int(self.min_steps),
            "batch_size": int(self.batch_size),
        }
        if planned > self.epochs:
            out["epochs_raised_from"] = int(self.epochs)
        steps = self.optimiser_steps()
        if steps is not None:
            out["optimiser_steps"] = steps
            out["steps_per_epoch"] = int(self._trained_rows()[0]["steps"]) if steps else 0
        out["parameters"] = int(sum(p.numel() for p in self.net_.parameters()))
        out.update({k: round(v, 6) for k, v in last.items() if k.startswith(("train_", "val_"))})
        return out

    # --- persistence ----------------------------------------------------------------------------
    def _get_state(self):
        tensors = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        meta = {
            "n_features": self.n_features_in_,
            "likelihood": self.likelihood_,
            "arch": self.arch_,
            "history": self.history_,
            "epochs_planned": int(getattr(self, "epochs_", self.epochs)),
        }
        if getattr(self, "scaling_", None) is not None:
            tensors.update(self.scaling_.state())
        return tensors, meta

    def _set_state(self, tensors, meta):
        """Rebuild from a run folder's state. The parameters and the recorded feature count are
        untrusted: they pass the rules and the size bound of ``fit`` before a network is built."""
        self._validate_params()
        self._check_more()
        self._check_scale()
        d, arch, likelihood = meta["n_features"], meta["arch"], meta["likelihood"]
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise InputError(f"{type(self).__name__}: n_features must be a positive int; got {d!r}")
        if arch not in ("mlp", "conv") or likelihood not in ("gaussian", "bernoulli"):
            raise InputError(f"{type(self).__name__}: unknown arch {arch!r} or likelihood {likelihood!r}")
        self._check_latent_dim(d)
        self._check_size(d, arch)  # also checks sample_shape against d
        self.n_features_in_, self.likelihood_, self.arch_ = d, likelihood, arch
        self.scaling_ = Scaling.from_state(tensors, d, self.scale, type(self).__name__)
        self._scale_cache = None
        self.history_ = list(meta.get("history", []))
        self.epochs_ = int(meta.get("epochs_planned", self.epochs))
        self.device_ = resolve_device(self.device)
        state = {k[4:]: torch.from_numpy(np.array(v)) for k, v in tensors.items() if k.startswith("net.")}
        self.net_ = self._net_from(state)
        self._load_extra(tensors)
        return self

    def _net_from(self, state: dict[str, torch.Tensor]) -> nn.Module:
        """A network of this model's shape holding ``state`` (a state_dict), in eval mode on
        ``device_``. Built inside a forked RNG: loading leaves torch's global random state alone."""
        with torch.random.fork_rng(devices=[]):
            net = self._build_net()
        net.load_state_dict(state)
        return net.to(self.device_).eval()

    # --- pickling, in memory (joblib, copy.deepcopy); run folders use safetensors -------------------
    def __getstate__(self):
        """The network travels as its state_dict (NumPy arrays), not as a module: modules with
        parametrizations (spectral norm) cannot be pickled, and a state is the same on any device."""
        state = dict(super().__getstate__())
        state.pop("_scale_cache", None)  # tensors on a device: rebuilt on first use
        net = state.get("net_")
        if isinstance(net, nn.Module):
            state["net_"] = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        return state

    def __setstate__(self, state):
        state = dict(state)
        weights = state.pop("net_", None)
        super().__setstate__(state)
        if weights is not None:
            self.device_ = resolve_device(self.device)
            self.net_ = self._net_from({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})

    def _load_extra(self, tensors) -> None:
        """Subclasses restore extra tensors (the AE's latent Gaussian)."""


NEURAL.install(NeuralLatentModel)
