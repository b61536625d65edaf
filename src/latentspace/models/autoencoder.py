"""Autoencoder (``ae``) and denoising autoencoder (``dae``).

An autoencoder has no prior of its own; to ``sample`` it, a Gaussian is fitted to the training
latents after training (mean and full covariance), as in Ghosh et al. (2020), "From variational to
deterministic autoencoders", ex-post density estimation.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from .neural import COMMON_RULES, NeuralLatentModel
from .params import OneOf, Real
from .registry import register


@register("ae")
class Autoencoder(NeuralLatentModel):
    """Autoencoder: a deterministic bottleneck trained to reconstruct its input.

    Parameters
    ----------
    latent_dim : int, default=16
    arch : {"auto", "mlp", "conv"}, default="auto"
        "auto" picks a conv net when ``sample_shape`` says the rows are images, an MLP otherwise.
    hidden : tuple of int, default=(512,)
        Dense layer sizes of the encoder (the decoder mirrors them); for conv nets, the dense
        layers after the convolutions.
    channels : tuple of int, default=(32, 64, 64)
        Conv channels, one stride-2 layer each (fewer when the image is too small to halve).
    likelihood : {"auto", "gaussian", "bernoulli"}, default="auto"
        Bernoulli (BCE) when every value is in [0, 1], otherwise Gaussian with a learned scale.
    epochs, batch_size, lr, weight_decay : training (AdamW).
    val_fraction : float, default=0.1
        Share of the training rows held out for validation; the best validation epoch is kept.
    patience : int or None
        Early stopping after this many epochs without improvement.
    lr_schedule : {"constant", "cosine", "plateau"}
    grad_clip : float or None
        Maximum global gradient norm.
    device : {"auto", "cpu", "cuda"}; threads : int or None
    sample_shape : (c, h, w) or None
        Image shape of a row (set from the Dataset by ``latentspace.fit``).
    random_state : int or None
        Seed for initial weights, shuffling, noise and sampling; the same seed gives the same weights.
    """

    fused_objective = "autoencoder"

    def __init__(
        self,
        latent_dim=16,
        *,
        arch="auto",
        hidden=(512,),
        channels=(32, 64, 64),
        likelihood="auto",
        epochs=30,
        batch_size=128,
        lr=1e-3,
        weight_decay=0.0,
        val_fraction=0.1,
        patience=None,
        lr_schedule="constant",
        grad_clip=None,
        device="auto",
        threads=None,
        sample_shape=None,
        random_state=None,
    ):
        self.latent_dim = latent_dim
        self.arch, self.hidden, self.channels, self.likelihood = arch, hidden, channels, likelihood
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.val_fraction, self.patience, self.lr_schedule = val_fraction, patience, lr_schedule
        self.grad_clip, self.device, self.threads = grad_clip, device, threads
        self.sample_shape, self.random_state = sample_shape, random_state

    def _corrupt(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return x

    def _loss(self, x, progress, gen, training, phase="main"):
        out = self.net_.decoder(self.net_.encoder(self._corrupt(x, gen)))
        nll = -self._log_px(x, out).mean()
        mse = ((self._mean(out) - x) ** 2).sum(1).mean()
        return {"loss": nll, "mse": mse.detach()}

    def _after_fit(self, X: np.ndarray) -> None:
        Z = self.transform(X).astype(np.float64)
        self.latent_mean_ = Z.mean(axis=0)
        cov = np.cov(Z, rowvar=False).reshape(self.latent_dim, self.latent_dim)
        cov += 1e-6 * np.eye(self.latent_dim) * max(np.trace(cov) / self.latent_dim, 1e-12)
        self.latent_chol_ = np.linalg.cholesky(cov)

    def _prior_sample(self, n, rng):
        eps = rng.standard_normal((n, self.latent_dim))
        return (self.latent_mean_ + eps @ self.latent_chol_.T).astype(np.float32)

    def _get_state(self):
        tensors, meta = super()._get_state()
        tensors.update({"prior.mean": self.latent_mean_, "prior.chol": self.latent_chol_})
        return tensors, meta

    def _load_extra(self, tensors):
        self.latent_mean_ = np.asarray(tensors["prior.mean"], dtype=np.float64)
        self.latent_chol_ = np.asarray(tensors["prior.chol"], dtype=np.float64)


@register("dae")
class DenoisingAutoencoder(Autoencoder):
    """Denoising autoencoder: learns to undo corruption of its input; ``denoise(X)`` cleans data.

    Parameters (besides those of ``ae``)
    ----------
    noise : {"gaussian", "masking", "salt_and_pepper"}, default="gaussian"
        Gaussian adds N(0, noise_level^2); masking zeroes each value with probability
        noise_level; salt-and-pepper sets each value to 0 or 1 with probability noise_level.
    noise_level : float, default=0.3
    """

    _param_rules = {
        **COMMON_RULES,
        "noise": OneOf("gaussian", "masking", "salt_and_pepper"),
        "noise_level": Real(0, low_open=True),
    }

    def __init__(
        self,
        latent_dim=16,
        *,
        noise="gaussian",
        noise_level=0.3,
        arch="auto",
        hidden=(512,),
        channels=(32, 64, 64),
        likelihood="auto",
        epochs=30,
        batch_size=128,
        lr=1e-3,
        weight_decay=0.0,
        val_fraction=0.1,
        patience=None,
        lr_schedule="constant",
        grad_clip=None,
        device="auto",
        threads=None,
        sample_shape=None,
        random_state=None,
    ):
        super().__init__(
            latent_dim,
            arch=arch,
            hidden=hidden,
            channels=channels,
            likelihood=likelihood,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            val_fraction=val_fraction,
            patience=patience,
            lr_schedule=lr_schedule,
            grad_clip=grad_clip,
            device=device,
            threads=threads,
            sample_shape=sample_shape,
            random_state=random_state,
        )
        self.noise, self.noise_level = noise, noise_level

    def _check_more(self) -> None:
        if self.noise != "gaussian" and self.noise_level >= 1:
            raise InputError(
                f"DenoisingAutoencoder: noise_level is a probability for noise={self.noise!r};"
                f" it must be in (0, 1); got {self.noise_level}"
            )

    def _corrupt(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return corrupt(x, self.noise, self.noise_level, gen)

    def denoise(self, X) -> np.ndarray:
        """Reconstruct ``X`` through the bottleneck: the network's estimate of the clean data."""
        return self.decode(self.encode(X))

    def corrupt(self, X, random_state=None) -> np.ndarray:
        """Apply this model's training corruption to ``X`` (to show what it learned to undo)."""
        X = self._check_input(X)
        gen = torch.Generator().manual_seed(0 if random_state is None else int(random_state))
        return corrupt(torch.from_numpy(np.array(X)), self.noise, self.noise_level, gen).numpy()


def corrupt(x: torch.Tensor, noise: str, level: float, gen: torch.Generator) -> torch.Tensor:
    """Corrupt a batch (B, d): Gaussian noise, masking noise or salt-and-pepper noise."""
    if noise == "gaussian":
        return x + level * torch.randn(x.shape, generator=gen, device=x.device)
    hit = torch.rand(x.shape, generator=gen, device=x.device) < level
    if noise == "masking":
        return x.masked_fill(hit, 0.0)
    salt = torch.rand(x.shape, generator=gen, device=x.device) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)
