"""Variational autoencoders: ``vae`` (Kingma & Welling 2014) and ``beta_vae`` (Higgins et al. 2017;
capacity schedule of Burgess et al. 2018).

The encoder outputs the mean and log-variance of a Gaussian posterior q(z|x); training maximises
the ELBO  E_q[log p(x|z)] - KL(q(z|x) || N(0, I))  with the reparameterisation trick. ``score``
returns the ELBO per sample in nats and :meth:`VAE.log_likelihood` the importance-weighted bound of
Burda et al. (2016), which is never below the ELBO and tightens as k grows.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data.source import as_block
from ..progress import report
from .base import BATCH_ROWS
from .neural import COMMON_RULES, LOG_2PI, NeuralLatentModel
from .params import Int, Real
from .registry import register

_LOGVAR_RANGE = (-30.0, 20.0)  # keeps exp(logvar) finite in float32


@register("vae")
class VAE(NeuralLatentModel):
    """Variational autoencoder with a Gaussian posterior and a standard normal prior.

    Parameters are those of ``ae`` plus ``kl_warmup`` (float, default 0): the KL weight rises
    linearly from 0 to its full value over this many epochs (Bowman et al. 2016), which avoids
    posterior collapse early in training.
    """

    encoder_outputs = 2
    fused_objective = "gaussian_posterior"
    _param_rules = {**COMMON_RULES, "kl_warmup": Real(0)}

    def __init__(
        self,
        latent_dim=16,
        *,
        kl_warmup=0.0,
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
        self.latent_dim, self.kl_warmup = latent_dim, kl_warmup
        self.arch, self.hidden, self.channels, self.likelihood = arch, hidden, channels, likelihood
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.val_fraction, self.patience, self.lr_schedule = val_fraction, patience, lr_schedule
        self.grad_clip, self.device, self.threads = grad_clip, device, threads
        self.sample_shape, self.random_state = sample_shape, random_state

    # --- the objective --------------------------------------------------------------------------
    def _posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net_.encoder(x)
        mu, logvar = h[:, : self.latent_dim], h[:, self.latent_dim :]
        return mu, logvar.clamp(*_LOGVAR_RANGE)

    def _kl_term(self, kl: torch.Tensor, progress: float) -> torch.Tensor:
        """The weighted KL in the loss (beta_vae overrides it with the capacity schedule)."""
        return self._kl_scale(progress) * kl

    def _kl_scale(self, progress: float) -> float | None:
        """The KL term's weight when the term is linear in the KL (warm-up x beta), else None."""
        warm = 1.0 if self.kl_warmup <= 0 else min(1.0, progress / self.kl_warmup)
        return warm * self._beta()

    def _beta(self) -> float:
        return 1.0

    def _loss(self, x, progress, gen, training, phase="main"):
        mu, logvar = self._posterior(x)
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn(mu.shape, generator=gen, device=mu.device)
        log_px = self._log_px(x, self.net_.decoder(z))  # (B,)
        kl = 0.5 * (mu**2 + std**2 - 1.0 - logvar).sum(1)  # (B,) KL(q || N(0, I)), closed form
        loss = (-log_px + self._kl_term(kl, progress)).mean()
        return {"loss": loss, "elbo": (log_px - kl).mean().detach(), "kl": kl.mean().detach()}

    # --- likelihood estimates -------------------------------------------------------------------
    def encode_posterior(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and log-variances, each (n, latent_dim)."""
        X = self._check_input(X)
        both = self._map(lambda x: torch.cat(self._posterior(x), 1), X, 2 * self.latent_dim, "encoding")
        return both[:, : self.latent_dim], both[:, self.latent_dim :]

    @torch.no_grad()
    def _bounds(self, X, k: int, seed: int, task: str) -> tuple[np.ndarray, np.ndarray]:
        """Per row: (mean of k single-sample ELBOs, IWAE bound with the same k samples), nats."""
        X = self._check_input(X)
        gen = torch.Generator(device=self.device_).manual_seed(seed)
        elbo = np.empty(len(X))
        iwae = np.empty(len(X))
        rows = max(1, BATCH_ROWS // max(k, 1))
        self.net_.eval()
        for start in range(0, len(X), rows):
            x = torch.from_numpy(as_block(X[start : start + rows])).to(self.device_)
            mu, logvar = self._posterior(x)
            std = torch.exp(0.5 * logvar)
            eps = torch.randn((k, *mu.shape), generator=gen, device=mu.device)  # (k, B, L)
            z = mu + std * eps
            out = self.net_.decoder(z.reshape(-1, self.latent_dim))
            log_px = self._log_px(x.repeat(k, 1), out).view(k, -1)  # (k, B)
            log_pz = -0.5 * (z**2).sum(-1) - 0.5 * self.latent_dim * LOG_2PI
            log_qz = -0.5 * (eps**2 + logvar + LOG_2PI).sum(-1)
            w = (log_px + log_pz - log_qz).double()  # (k, B) log importance weights
            elbo[start : start + len(x)] = w.mean(0).cpu().numpy()
            iwae[start : start + len(x)] = (torch.logsumexp(w, 0) - math.log(k)).cpu().numpy()
            report(task, min(start + rows, len(X)), len(X))
        return elbo, iwae

    def elbo(self, X, n_samples: int = 1, random_state=None) -> np.ndarray:
        """ELBO per row in nats (Monte Carlo over ``n_samples`` posterior draws)."""
        seed = self.random_state if random_state is None else random_state
        return self._bounds(X, n_samples, int(seed or 0), "ELBO")[0]

    def log_likelihood(self, X, k: int = 50, random_state=None) -> np.ndarray:
        """Importance-weighted estimate of log p(x) per row in nats (IWAE bound, k samples)."""
        seed = self.random_state if random_state is None else random_state
        return self._bounds(X, k, int(seed or 0), "IWAE")[1]

    def score_samples(self, X) -> np.ndarray:
        """ELBO per row in nats (one posterior sample, seeded by ``random_state``)."""
        return self.elbo(X, n_samples=1)

    def score(self, X, y=None) -> float:
        """Mean ELBO in nats: higher is better (scikit-learn's convention for ``score``)."""
        return float(np.mean(self.score_samples(X)))


@register("beta_vae")
class BetaVAE(VAE):
    """beta-VAE: a VAE whose KL term weighs ``beta`` (> 1 favours disentangled latents).

    Parameters (besides those of ``vae``)
    ----------
    beta : float, default=4.0
    capacity_max : float or None, default=None
        Burgess et al.'s controlled capacity: the loss becomes -log p(x|z) + beta * |KL - C| with C
        rising linearly from 0 to ``capacity_max`` nats over ``capacity_epochs`` epochs.
    capacity_epochs : int or None, default=None (all epochs)
    """

    _param_rules = {
        **VAE._param_rules,
        "beta": Real(0),
        "capacity_max": Real(0, allow_none=True),
        "capacity_epochs": Int(1, allow_none=True),
    }

    def __init__(
        self,
        latent_dim=16,
        *,
        beta=4.0,
        capacity_max=None,
        capacity_epochs=None,
        kl_warmup=0.0,
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
            kl_warmup=kl_warmup,
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
        self.beta, self.capacity_max, self.capacity_epochs = beta, capacity_max, capacity_epochs

    def _beta(self) -> float:
        return float(self.beta)

    def _kl_scale(self, progress):
        return super()._kl_scale(progress) if self.capacity_max is None else None

    def _kl_term(self, kl, progress):
        if self.capacity_max is None:
            return super()._kl_term(kl, progress)
        span = self.capacity_epochs or self.epochs
        capacity = self.capacity_max * min(1.0, progress / span)
        return self.beta * (kl - capacity).abs()
