"""Generative adversarial network (``gan``) with an encoder that inverts its generator.

Objective: the non-saturating GAN loss (Goodfellow et al. 2014) with a spectrally normalised
discriminator (Miyato et al. 2018, "Spectral normalization for GANs"): D minimises
softplus(-D(x)) + softplus(D(G(z))), G minimises softplus(-D(G(z))). Both alternate inside the
shared training engine (one AdamW each, betas (0.5, 0.999) as in DCGAN), with its checkpoints,
resume and NaN guard.

A GAN has no encoder, so after the GAN an encoder E is trained with the generator frozen, on
||G(E(x)) - x||^2 over real data plus ||E(G(z)) - z||^2 over generated data (a learned inversion,
as in Zhu et al. 2016, "Generative visual manipulation on the natural image manifold").
Unbounded (Gaussian) data are standardised per feature for the networks and mapped back on decode.
``encode(X, refine_steps=k)`` then refines each code by k steps of gradient descent on
||G(z) - x||^2. How well it inverts is measured after fitting and shown in ``info``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from ..data.source import as_block
from ..progress import report
from ..train import Trainer, TrainSettings
from ..train.engine import Phase
from .base import BATCH_ROWS
from .config import NEURAL, Param
from .nets import build_decoder, build_encoder
from .neural import NeuralLatentModel
from .params import Int
from .registry import register

_INVERSION_ROWS = 2000  # rows used to measure the inversion error after fitting


class GANNet(nn.Module):
    def __init__(self, encoder: nn.Module, decoder: nn.Module, critic: nn.Module):
        super().__init__()
        self.encoder, self.decoder, self.critic = encoder, decoder, critic


def _spectral(module: nn.Module) -> nn.Module:
    for child in list(module.modules()):
        if isinstance(child, nn.Linear | nn.Conv2d):
            spectral_norm(child)
    return module


@register("gan")
class GAN(NeuralLatentModel):
    """GAN with a spectrally normalised discriminator and a trained generator inverse (encoder).

    ``hidden`` sizes the generator, the discriminator and the encoder; ``likelihood`` only picks
    the output range ("bernoulli" squashes outputs into [0, 1]).
    """

    param_table = NEURAL.extend(
        Param("encoder_epochs", 10, Int(1), "Epochs of the encoder (generator inversion) after the GAN."),
        Param("refine_steps", 0, Int(0), "Default per-item optimisation steps of :meth:`encode`."),
    ).with_defaults(hidden=(512, 256), lr=2e-4)

    def _build_net(self) -> GANNet:
        d, shape = self.n_features_in_, self._sample_shape(self.n_features_in_)
        hidden, channels = tuple(self.hidden), tuple(self.channels)
        enc = build_encoder(self.arch_, d, shape, hidden, channels, self.latent_dim)
        gen = build_decoder(self.arch_, d, shape, hidden, channels, self.latent_dim)
        critic = build_encoder(self.arch_, d, shape, hidden, channels, 1, act=lambda: nn.LeakyReLU(0.2))
        return GANNet(enc, gen, _spectral(critic))

    # --- data scaling: unbounded data is standardised for the networks ---------------------------
    def _fit_scale(self, X: np.ndarray) -> None:
        d = X.shape[1]
        if self.likelihood_ == "bernoulli":  # sigmoid outputs already live in [0, 1]
            self.scale_mean_, self.scale_std_ = np.zeros(d, np.float32), np.ones(d, np.float32)
            return
        total, sq = np.zeros(d), np.zeros(d)
        for start in range(0, len(X), BATCH_ROWS):
            block = np.asarray(X[start : start + BATCH_ROWS], dtype=np.float64)
            total += block.sum(0)
            sq += (block**2).sum(0)
        mean = total / len(X)
        std = np.sqrt(np.maximum(sq / len(X) - mean**2, 0.0))
        self.scale_mean_ = mean.astype(np.float32)
        self.scale_std_ = np.where(std > 1e-8, std, 1.0).astype(np.float32)

    def _scale_tensors(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(self.scale_mean_).to(device), torch.from_numpy(self.scale_std_).to(device))

    def _encode_tensor(self, x: torch.Tensor) -> torch.Tensor:
        m, s = self._scale_tensors(x.device)
        return self.net_.encoder((x - m) / s)

    def _decode_tensor(self, z: torch.Tensor) -> torch.Tensor:
        m, s = self._scale_tensors(z.device)
        return self._mean(self.net_.decoder(z)) * s + m

    # --- training: the GAN, then its inverse ----------------------------------------------------
    def _train(self, X: np.ndarray, settings: TrainSettings) -> list[dict]:
        self._fit_scale(X)
        if self.likelihood_ != "bernoulli":
            X = ((np.asarray(X) - self.scale_mean_) / self.scale_std_).astype(np.float32)
        net = self.net_
        root = settings.checkpoint_dir
        gan_dir = root / "gan" if root else None
        gan = replace(settings, val_fraction=0.0, patience=None, checkpoint_dir=gan_dir)
        phases = [
            Phase("critic", list(net.critic.parameters()), (0.5, 0.999)),
            Phase("generator", list(net.decoder.parameters()), (0.5, 0.999)),
        ]
        history = [dict(h, stage="gan") for h in Trainer(net, self._gan_loss, gan, phases).fit(X)]
        inv = replace(
            settings, epochs=self.encoder_epochs, lr=1e-3, checkpoint_dir=root / "encoder" if root else None
        )
        frozen = [p for m in (net.decoder, net.critic) for p in m.parameters()]
        for p in frozen:
            p.requires_grad_(False)
        try:
            enc_phase = [Phase("encoder", list(net.encoder.parameters()))]
            inv_history = Trainer(net, self._inversion_loss, inv, enc_phase).fit(X)
        finally:
            for p in frozen:
                p.requires_grad_(True)
        return history + [dict(h, stage="encoder") for h in inv_history]

    def _z(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randn((n, self.latent_dim), generator=gen, device=self.device_)

    def _gan_loss(self, x, progress, gen, training, phase):
        net = self.net_
        if phase == "critic":
            with torch.no_grad():
                fake = self._mean(net.decoder(self._z(len(x), gen)))
            real_logit, fake_logit = net.critic(x), net.critic(fake)
            loss = F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()
            return {
                "loss": loss,
                "d_loss": loss.detach(),
                "d_real": torch.sigmoid(real_logit).mean().detach(),
                "d_fake": torch.sigmoid(fake_logit).mean().detach(),
            }
        fake = self._mean(net.decoder(self._z(len(x), gen)))
        loss = F.softplus(-net.critic(fake)).mean()
        return {"loss": loss, "g_loss": loss.detach()}

    def _inversion_loss(self, x, progress, gen, training, phase):
        net = self.net_
        rec = self._mean(net.decoder(net.encoder(x)))
        rec_err = ((rec - x) ** 2).sum(1).mean()
        z = self._z(len(x), gen)
        with torch.no_grad():
            fake = self._mean(net.decoder(z))
        cycle = ((net.encoder(fake) - z) ** 2).sum(1).mean()
        return {"loss": rec_err + cycle, "mse": rec_err.detach() / x.shape[1], "z_cycle": cycle.detach()}

    def _after_fit(self, X: np.ndarray) -> None:
        rows = np.random.default_rng(0).permutation(len(X))[:_INVERSION_ROWS]
        sub = np.asarray(X[np.sort(rows)])
        self.inversion_ = {
            "mse_mean_image": float(np.mean((sub - sub.mean(0)) ** 2)),
            "mse_encoder": float(np.mean((self.decode(self.encode(sub)) - sub) ** 2)),
        }
        few = sub[:256]
        refined = self.encode(few, refine_steps=50)
        self.inversion_["mse_refined_50_steps"] = float(np.mean((self.decode(refined) - few) ** 2))
        self.inversion_["mse_encoder_same_rows"] = float(np.mean((self.decode(self.encode(few)) - few) ** 2))

    # --- the contract ---------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        return self.encode(X)

    def encode(self, X, refine_steps: int | None = None) -> np.ndarray:
        """Data -> latent codes: the encoder's guess, refined by ``refine_steps`` steps of Adam
        on ||G(z) - x||^2 per item (default: the ``refine_steps`` parameter)."""
        X = self._check_input(X)
        Z = self._map(self._encode_tensor, X, self.latent_dim, "encoding")
        steps = self.refine_steps if refine_steps is None else int(refine_steps)
        if steps > 0:
            Z = self._refine(X, Z, steps)
        return Z

    def _refine(self, X: np.ndarray, Z: np.ndarray, steps: int) -> np.ndarray:
        out = np.empty_like(Z)
        params = list(self.net_.decoder.parameters())
        for p in params:
            p.requires_grad_(False)
        try:
            for start in range(0, len(X), BATCH_ROWS):
                x = torch.from_numpy(as_block(X[start : start + BATCH_ROWS])).to(self.device_)
                z = torch.from_numpy(Z[start : start + BATCH_ROWS]).to(self.device_).requires_grad_(True)
                opt = torch.optim.Adam([z], lr=0.05)
                for _ in range(steps):
                    opt.zero_grad(set_to_none=True)
                    loss = ((self._decode_tensor(z) - x) ** 2).sum()
                    loss.backward()
                    opt.step()
                out[start : start + len(x)] = z.detach().cpu().numpy()
                report("refining codes", min(start + BATCH_ROWS, len(X)), len(X))
        finally:
            for p in params:
                p.requires_grad_(True)
        return out

    def info(self) -> dict:
        out = super().info()
        out.update({f"inversion_{k}": round(v, 6) for k, v in self.inversion_.items()})
        return out

    def _get_state(self):
        tensors, meta = super()._get_state()
        tensors.update({"scale.mean": self.scale_mean_, "scale.std": self.scale_std_})
        meta["inversion"] = self.inversion_
        return tensors, meta

    def _set_state(self, tensors, meta):
        super()._set_state(tensors, meta)
        self.inversion_ = dict(meta.get("inversion", {}))
        self.scale_mean_ = np.asarray(tensors["scale.mean"], dtype=np.float32)
        self.scale_std_ = np.asarray(tensors["scale.std"], dtype=np.float32)
        return self
