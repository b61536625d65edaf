"""Autoencoder (``ae``) and denoising autoencoder (``dae``).

An autoencoder has no prior of its own; to ``sample`` it, a Gaussian is fitted to the training
latents after training (mean and full covariance), as in Ghosh et al. (2020), "From variational to
deterministic autoencoders", ex-post density estimation.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from .config import NEURAL, Param
from .neural import NeuralLatentModel
from .params import OneOf, Real
from .registry import register


@register("ae")
class Autoencoder(NeuralLatentModel):
    """Autoencoder: a deterministic bottleneck trained to reconstruct its input.

    It has no prior of its own: ``sample`` draws from a Gaussian fitted to the training latents.
    """

    param_table = NEURAL

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

    Gaussian noise adds N(0, noise_level^2); masking zeroes each value with probability
    ``noise_level``; salt-and-pepper sets each value to 0 or 1 with probability ``noise_level``.
    """

    param_table = NEURAL.extend(
        Param(
            "noise",
            "gaussian",
            OneOf("gaussian", "masking", "salt_and_pepper"),
            "How the input is corrupted in training.",
        ),
        Param(
            "noise_level",
            0.3,
            Real(0, low_open=True),
            "Gaussian noise's standard deviation, or the masking or salt-and-pepper probability (< 1).",
        ),
    )

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
        x = self._net_in(torch.from_numpy(np.array(X)))  # corrupted as in training (standardised)
        return self._net_out(corrupt(x, self.noise, self.noise_level, gen)).numpy()


def corrupt(x: torch.Tensor, noise: str, level: float, gen: torch.Generator) -> torch.Tensor:
    """Corrupt a batch (B, d): Gaussian noise, masking noise or salt-and-pepper noise."""
    if noise == "gaussian":
        return x + level * torch.randn(x.shape, generator=gen, device=x.device)
    hit = torch.rand(x.shape, generator=gen, device=x.device) < level
    if noise == "masking":
        return x.masked_fill(hit, 0.0)
    salt = torch.rand(x.shape, generator=gen, device=x.device) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)
