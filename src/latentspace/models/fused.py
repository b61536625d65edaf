"""A hand-written training step for MLP autoencoders: ``ae``, ``dae``, ``vae`` and ``beta_vae``.

Autograd records a graph every step, allocates fresh gradient tensors (1.6 MB for a 784 x 512
layer, page-faulted anew each step) and runs some sixty small kernels: for the MNIST VAE of
BENCHMARKS.md that was 3.4 ms per step when this step was written, of which the eleven matrix
products were 1.6 ms. Here the forward and backward passes are written out: weight gradients go
straight into buffers kept across steps, with the batch mean's 1/B folded into the product's
``alpha``, and so do the layers' outputs and input gradients (the next step overwrites them);
ReLU's backward is applied in place; the likelihood's gradient is its closed form
(``sigmoid(logits) - x`` for a Bernoulli decoder, with the loss's total in the same numba pass on
the CPU); only the loss's total is computed, never per-row tensors that are summed at once. On the
CPU each bias gradient (a column sum) is taken in the numba pass that makes the gradient it sums:
the likelihood's, the latent backward's, or ReLU's backward (models/_fused_kernels.py). There,
for float32 C-contiguous batches, the forward pass and the backward pass are one numba call each
(torch's sigmoid between them), the products going to the ``sgemm_`` torch itself calls
(models/_fused_blas.py): the same arithmetic without some forty Python-level torch calls a step.

It is the same computation as the model's ``_loss`` under autograd, to float rounding: the tests
compare every gradient and metric with autograd's. The per-sample KL weight (warm-up, beta,
Burgess et al.'s capacity ``|KL - C|``) comes from the model's own ``_kl_term``, differentiated on
the (B,) vector of KLs, so a subclass that changes the schedule needs nothing here.

Used by the training engine for single-process training of MLP models (``arch="mlp"``); conv nets,
GANs and DistributedDataParallel runs train through autograd. ``LATENTSPACE_FUSED=0`` turns it
off (autograd everywhere), for comparison or debugging.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from torch import nn

_threshold_backward_out = torch.ops.aten.threshold_backward.grad_input


def _switched_on(name: str) -> bool:
    """An on/off environment switch, on unless set to 0, false, no or off."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


def enabled() -> bool:
    return _switched_on("LATENTSPACE_FUSED")


def latent_kernels_enabled() -> bool:
    """``LATENTSPACE_FUSED_KERNELS=0`` keeps the latent part of the VAE step, the Bernoulli
    likelihood, ReLU's backward and the bias gradients in torch operations."""
    return _switched_on("LATENTSPACE_FUSED_KERNELS")


def blas_enabled() -> bool:
    """``LATENTSPACE_FUSED_BLAS=0`` keeps the step's products in torch operations instead of the
    numba passes that call torch's ``sgemm_`` (models/_fused_blas.py)."""
    return _switched_on("LATENTSPACE_FUSED_BLAS")


def _gaussian_total(sq, inv_var, log_sigma, n: int, d: int):
    """A Gaussian decoder's total negative log-likelihood from the squared error ``sq`` (n rows of d
    values), and d(mean loss)/d(log sigma); tensors or floats alike."""
    nll = 0.5 * sq * inv_var + n * d * (log_sigma + 0.5 * math.log(2 * math.pi))
    return nll, (n * d - sq * inv_var) / n


def linear_stack(net: nn.Module) -> list[nn.Linear] | None:
    """The Linear layers of an ``nn.Sequential`` of Linear, ReLU, ..., Linear; else None."""
    if type(net) is not nn.Sequential or len(net) % 2 == 0:
        return None
    mods = list(net)
    linears, acts = mods[0::2], mods[1::2]
    if not all(type(m) is nn.Linear and m.bias is not None for m in linears):
        return None
    if not all(type(a) is nn.ReLU for a in acts):
        return None
    return linears


class _Stack:
    """Forward and backward of one Linear/ReLU stack, its gradients in buffers kept across steps."""

    def __init__(self, linears: list[nn.Linear], kernels: bool = False):
        # kernels: float32 on the CPU with the numba kernels on; ReLU's backward and the bias
        # gradients are then taken in one pass (_fused_kernels.relu_backward_column_sums)
        self.kernels = kernels
        self.weights = [m.weight for m in linears]
        # transposed views, made once: the optimizer and checkpoint loading update weights in place
        self.weights_t = [w.t() for w in self.weights]
        self.biases = [m.bias for m in linears]
        self.grad_w = [torch.zeros_like(w) for w in self.weights]
        self.grad_b = [torch.zeros_like(b) for b in self.biases]
        self._scaled_ones = None
        self._buffers: dict[tuple, torch.Tensor] = {}

    def _weights(self, grad: torch.Tensor, scale: float) -> torch.Tensor:
        """A (B,) vector filled with ``scale`` (kept: every full batch uses the same one)."""
        key = (grad.shape[0], scale)
        if self._scaled_ones is None or self._scaled_ones[0] != key:
            self._scaled_ones = (
                key,
                torch.full((grad.shape[0],), scale, dtype=grad.dtype, device=grad.device),
            )
        return self._scaled_ones[1]

    def attach(self) -> None:
        """Make the buffers the parameters' ``.grad`` (a no-op unless someone replaced them)."""
        for params, grads in ((self.weights, self.grad_w), (self.biases, self.grad_b)):
            for p, g in zip(params, grads, strict=True):
                if p.grad is not g:
                    p.grad = g

    def _buffer(self, key: tuple, rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
        """A (rows, cols) tensor kept across steps: a fresh output lands in memory that is not in
        cache (in a profile, out-of-place kernels on a 128 x 784 batch took 0.14-0.20 ms, in-place
        ones 0.01-0.08 ms)."""
        key = (*key, rows)  # the last batch of an epoch is often shorter: it keeps its own
        buf = self._buffers.get(key)
        if buf is None or buf.shape != (rows, cols) or buf.device != like.device or buf.dtype != like.dtype:
            buf = self._buffers[key] = like.new_empty((rows, cols))
        return buf

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's input, then the output: [x, h1, ..., out] (in buffers reused next step)."""
        acts = [x]
        last = len(self.weights) - 1
        for i, (wt, b) in enumerate(zip(self.weights_t, self.biases, strict=True)):
            h = torch.addmm(b, acts[-1], wt, out=self._buffer(("act", i), x.shape[0], wt.shape[1], x))
            acts.append(h.relu_() if i < last else h)
        return acts

    def backward(
        self,
        acts: list[torch.Tensor],
        grad: torch.Tensor,
        scale: float,
        need_input: bool,
        bias_done: bool = False,
    ):
        """``grad``: d(sum of per-row losses)/d(out). Writes scale x the parameter gradients and
        returns d(sum)/d(x) (unscaled, in a buffer reused next step) when ``need_input``.
        ``bias_done``: the last layer's bias gradient is already written (by the kernel that made
        ``grad``)."""
        if self.kernels:
            from ._fused_kernels import column_sums, relu_backward_column_sums
        for i in range(len(self.weights) - 1, -1, -1):
            gw, gb = self.grad_w[i], self.grad_b[i]
            torch.addmm(gw, grad.t(), acts[i], beta=0, alpha=scale, out=gw)
            if not bias_done:  # scale x column sums
                if self.kernels:
                    column_sums(grad.numpy(), scale, gb.numpy())
                else:
                    torch.mv(grad.t(), self._weights(grad, scale), out=gb)
            bias_done = False
            if i > 0 or need_input:
                w = self.weights[i]
                grad = torch.mm(grad, w, out=self._buffer(("grad", i), grad.shape[0], w.shape[1], grad))
                if i > 0:  # through the ReLU that made acts[i], in place
                    if self.kernels:  # with the bias gradient of layer i - 1 in the same pass
                        bias = self.grad_b[i - 1].numpy()
                        relu_backward_column_sums(grad.numpy(), acts[i].numpy(), scale, bias)
                        bias_done = True
                    else:
                        _threshold_backward_out(grad, acts[i], 0, grad_input=grad)
        return grad if need_input else None


class FusedStep:
    """One training step of an MLP autoencoder: fills every used parameter's ``.grad`` with the
    gradient of the mean loss and returns the metrics ``_loss`` would (tensors, or Python floats
    where the CPU kernels compute them)."""

    def __init__(self, model, encoder: list[nn.Linear], decoder: list[nn.Linear]):
        self.model = model
        # the latent part of the VAE step, the likelihood and the bias gradients as numba loops:
        # float32 tensors on the CPU only
        w = next(model.net_.parameters())
        on_cpu = w.device.type == "cpu" and w.dtype == torch.float32
        self.latent_kernels = on_cpu and latent_kernels_enabled()
        self.enc, self.dec = _Stack(encoder, self.latent_kernels), _Stack(decoder, self.latent_kernels)
        self.gaussian_posterior = model.fused_objective == "gaussian_posterior"
        self.bernoulli = model.likelihood_ == "bernoulli"
        self.log_sigma = model.net_.log_sigma
        self.grad_log_sigma = None if self.bernoulli else torch.zeros_like(self.log_sigma)
        self._eps: torch.Tensor | None = None  # the VAE's noise draw, kept across steps
        self._latent: dict[int, tuple] = {}  # batch size -> the latent part's buffers (_vae_cpu)
        from .vae import _LOGVAR_RANGE

        self.lo, self.hi = (float(v) for v in _LOGVAR_RANGE)
        self.blas = None  # the address of torch's sgemm_, for the passes as numba code (_fused_blas)
        if self.latent_kernels and blas_enabled():
            from ._fused_blas import sgemm_address

            self.blas = sgemm_address()
        self._blas: dict[int, _BlasBuffers] = {}
        self._params = (*self.enc.weights, *self.enc.biases, *self.dec.weights, *self.dec.biases)
        self._views: tuple = ((), None)  # (the parameters' data pointers, their numpy views)

    def __call__(self, x: torch.Tensor, progress: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
        self.enc.attach()
        self.dec.attach()
        if self.grad_log_sigma is not None and self.log_sigma.grad is not self.grad_log_sigma:
            self.log_sigma.grad = self.grad_log_sigma
        with torch.no_grad():
            if self.gaussian_posterior:
                return self._vae(x, progress, gen)
            return self._ae(x, gen)

    # --- the likelihood: total negative log-likelihood, d(total)/d(out), total squared error, ----
    # --- and whether the decoder's last bias gradient is written (scale x column sums of d/d(out))
    def _likelihood(self, x: torch.Tensor, out: torch.Tensor, scale: float):
        n, d = x.shape
        flat_x, flat_out = x.reshape(-1), out.reshape(-1)
        if self.bernoulli and self.latent_kernels and x.is_contiguous() and x.dtype == out.dtype:
            # BCE with logits in one numba pass after the sigmoid (_fused_kernels.bernoulli_terms)
            from ._fused_kernels import bernoulli_terms

            p = torch.sigmoid(out, out=self.dec._buffer(("sigmoid",), n, d, out))
            gb = self.dec.grad_b[-1].numpy()
            nll, sq = bernoulli_terms(flat_out.numpy(), flat_x.numpy(), p.reshape(-1).numpy(), d, scale, gb)
            return nll, p, sq, True  # Python floats
        if self.bernoulli:  # BCE with logits: softplus(l) - x l; gradient p - x with p = sigmoid(l)
            p = torch.sigmoid(out)
            # softplus(l) = relu(l) - log sigmoid(|l|), and sigmoid(|l|) = 1/2 + |p - 1/2| lies in
            # [1/2, 1]: no overflow or log(0), error under 1e-7 per element; 2.5x faster than softplus
            tail = p.sub(0.5).abs_().add_(0.5).log_().sum()
            nll = out.clamp_min(0.0).sum() - tail - torch.dot(flat_x, flat_out)
            grad = p.sub_(x)
            sq = torch.dot(grad.reshape(-1), grad.reshape(-1))  # (mean - x)^2 summed
            return nll, grad, sq, False
        log_sigma = self.log_sigma
        inv_var = torch.exp(-2 * log_sigma)
        grad = out - x
        sq = torch.dot(grad.reshape(-1), grad.reshape(-1))
        nll, grad_log_sigma = _gaussian_total(sq, inv_var, log_sigma, n, d)
        self.grad_log_sigma.copy_(grad_log_sigma)
        return nll, grad.mul_(inv_var), sq, False

    def _ae(self, x: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        if self._blas_usable(x):
            return self._ae_blas(x, gen)
        n = x.shape[0]
        e_acts = self.enc.forward(self.model._corrupt(x, gen))
        d_acts = self.dec.forward(e_acts[-1])
        nll, grad, sq, bias_done = self._likelihood(x, d_acts[-1], 1.0 / n)
        grad_code = self.dec.backward(d_acts, grad, 1.0 / n, need_input=True, bias_done=bias_done)
        self.enc.backward(e_acts, grad_code, 1.0 / n, need_input=False)
        return {"loss": nll / n, "mse": sq / n}

    def _vae(self, x: torch.Tensor, progress: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
        if self._blas_usable(x):
            return self._vae_blas(x, progress, gen)
        if self.latent_kernels:
            return self._vae_cpu(x, progress, gen)
        from .vae import _LOGVAR_RANGE

        n, latent = x.shape[0], self.model.latent_dim
        e_acts = self.enc.forward(x)
        s = e_acts[-1]
        mu, raw = s[:, :latent], s[:, latent:]
        logvar = raw.clamp(*_LOGVAR_RANGE)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(mu.shape, generator=gen, device=mu.device)  # the draw _loss makes
        z = torch.addcmul(mu, std, eps)
        d_acts = self.dec.forward(z)
        nll, grad, _, bias_done = self._likelihood(x, d_acts[-1], 1.0 / n)
        var = std * std
        kl = 0.5 * (mu * mu + var - 1.0 - logvar).sum(1)  # (B,)
        weight, term = self._kl_weight(kl, progress)  # d(sum of KL terms)/d(kl_i), the terms' sum
        grad_z = self.dec.backward(d_acts, grad, 1.0 / n, need_input=True, bias_done=bias_done)
        grad_s = torch.empty_like(s)
        w = weight[:, None]
        torch.addcmul(grad_z, mu, w, out=grad_s[:, :latent])  # dz/dmu = 1, dKL/dmu = mu
        grad_lv = grad_s[:, latent:]
        torch.mul(grad_z, eps, out=grad_lv)  # dz/dlogvar = eps std / 2; dKL/dlogvar = (var - 1) / 2
        grad_lv.mul_(std).addcmul_(var - 1.0, w).mul_(0.5)
        lo, hi = _LOGVAR_RANGE
        grad_lv.masked_fill_((raw < lo) | (raw > hi), 0.0)  # clamp's gradient
        self.enc.backward(e_acts, grad_s, 1.0 / n, need_input=False)
        kl_sum = kl.sum()
        return {"loss": (nll + term) / n, "elbo": -(nll + kl_sum) / n, "kl": kl_sum / n}

    def _vae_cpu(self, x: torch.Tensor, progress: float, gen: torch.Generator) -> dict[str, float]:
        """``_vae`` with the latent part in two numba loops (see models/_fused_kernels.py), on
        (B, latent) arrays kept across steps with their numpy views."""
        from ._fused_kernels import latent_backward, latent_forward

        n = x.shape[0]
        e_acts = self.enc.forward(x)
        s = e_acts[-1]
        shape = (n, self.model.latent_dim)
        if self._eps is None or self._eps.shape != shape:
            self._eps = torch.empty(shape)
        eps = torch.randn(shape, generator=gen, out=self._eps)  # the draw _loss makes
        z, std, kl, grad_s, views = self._latent_buffers(n, s)
        s_np, std_np, kl_np, grad_s_np = views
        eps_np = eps.numpy()
        latent_forward(s_np, eps_np, self.lo, self.hi, z.numpy(), std_np, kl_np)
        d_acts = self.dec.forward(z)
        nll, grad, _, bias_done = self._likelihood(x, d_acts[-1], 1.0 / n)
        kl_sum = float(kl_np.sum(dtype=np.float64))
        scale = self.model._kl_scale(progress)
        if scale is not None:  # a linear KL term: one weight for every row
            weight, term = np.full(n, scale, dtype=np.float32), scale * kl_sum
        else:
            w, t = self._kl_weight(kl, progress)
            weight, term = w.numpy(), float(t)
        grad_z = self.dec.backward(d_acts, grad, 1.0 / n, need_input=True, bias_done=bias_done)
        grad_b = self.enc.grad_b[-1].numpy()  # the encoder's last bias gradient, in the same pass
        lo, hi = self.lo, self.hi
        latent_backward(grad_z.numpy(), s_np, eps_np, std_np, weight, lo, hi, grad_s_np, 1.0 / n, grad_b)
        self.enc.backward(e_acts, grad_s, 1.0 / n, need_input=False, bias_done=True)
        nll = float(nll)
        return {"loss": (nll + term) / n, "elbo": -(nll + kl_sum) / n, "kl": kl_sum / n}

    # --- the passes as numba code calling sgemm_ (models/_fused_blas.py) ------------------------
    def _blas_usable(self, x: torch.Tensor) -> bool:
        usable = self.blas is not None and x.dtype == torch.float32
        return usable and x.is_contiguous() and x.device.type == "cpu"

    def _blas_setup(self, n: int):
        """(the buffers for a batch of n rows, the parameters' numpy views, the likelihood's
        1 / sigma^2 as float32, 1.0 for a Bernoulli decoder)"""
        buf = self._blas.get(n)
        if buf is None:
            buf = self._blas[n] = _BlasBuffers(self, n)
        key = tuple(p.data_ptr() for p in self._params)
        if key != self._views[0]:  # made again if a parameter's storage changed
            e, d = len(self.enc.weights), len(self.dec.weights)
            arrays = [p.detach().numpy() for p in self._params]
            groups = (arrays[:e], arrays[e : 2 * e], arrays[2 * e : 2 * e + d], arrays[2 * e + d :])
            self._views = (key, tuple(tuple(g) for g in groups))
        inv_var = 1.0 if self.bernoulli else math.exp(-2.0 * float(self.log_sigma))
        return buf, self._views[1], np.float32(inv_var)

    def _blas_nll(self, nll: float, sq: float, inv_var: np.float32, n: int, d: int) -> float:
        """The total negative log-likelihood (a Gaussian's from the squared error, whose gradient
        in log sigma it also writes)."""
        if self.bernoulli:
            return nll
        nll, grad_log_sigma = _gaussian_total(sq, float(inv_var), float(self.log_sigma), n, d)
        self.grad_log_sigma.fill_(grad_log_sigma)
        return nll

    def _ae_blas(self, x: torch.Tensor, gen: torch.Generator) -> dict[str, float]:
        from ._fused_blas import ae_backward, ae_forward

        n, d = x.shape
        buf, (ew, eb, dw, db), inv_var = self._blas_setup(n)
        x_in = self.model._corrupt(x, gen)
        xn = x.numpy()
        xin = xn if x_in is x else x_in.contiguous().numpy()
        ae_forward(self.blas, xin, ew, eb, buf.eouts, dw, db, buf.douts)
        if self.bernoulli:
            torch.sigmoid(buf.out, out=buf.grad)
        egw, egb, dgw, dgb = buf.grads
        nll, sq = ae_backward(
            self.blas, xn, xin, buf.grad_np, self.bernoulli, inv_var, ew, buf.eouts, egw, egb, buf.egins,
            dw, buf.douts, dgw, dgb, buf.dgins, 1.0 / n,
        )  # fmt: skip
        return {"loss": self._blas_nll(nll, sq, inv_var, n, d) / n, "mse": sq / n}

    def _vae_blas(self, x: torch.Tensor, progress: float, gen: torch.Generator) -> dict[str, float]:
        from ._fused_blas import vae_backward, vae_forward

        n, d = x.shape
        buf, (ew, eb, dw, db), inv_var = self._blas_setup(n)
        torch.randn(buf.eps.shape, generator=gen, out=buf.eps)  # the draw _loss makes
        xn, lo, hi = x.numpy(), self.lo, self.hi
        kl_sum = vae_forward(
            self.blas, xn, ew, eb, buf.eouts, buf.eps_np, lo, hi, buf.z, buf.std, buf.kl, dw, db, buf.douts
        )
        if self.bernoulli:
            torch.sigmoid(buf.out, out=buf.grad)
        scale = self.model._kl_scale(progress)
        if scale is not None:  # a linear KL term: one weight for every row
            buf.weight.fill(scale)
            weight, term = buf.weight, scale * kl_sum
        else:
            w, t = self._kl_weight(torch.from_numpy(buf.kl), progress)
            weight, term = w.numpy(), float(t)
        egw, egb, dgw, dgb = buf.grads
        nll, sq = vae_backward(
            self.blas, xn, buf.grad_np, self.bernoulli, inv_var, ew, buf.eouts, egw, egb, buf.egins,
            buf.eps_np, buf.std, weight, lo, hi, buf.grad_s, buf.z, dw, buf.douts, dgw, dgb, buf.dgins,
            1.0 / n,
        )  # fmt: skip
        nll = self._blas_nll(nll, sq, inv_var, n, d)
        return {"loss": (nll + term) / n, "elbo": -(nll + kl_sum) / n, "kl": kl_sum / n}

    def _latent_buffers(self, n: int, s: torch.Tensor):
        """z, std (B, latent), kl (B,), grad_s like s, and the numpy views of s, std, kl and grad_s,
        made again only when the encoder's output buffer ``s`` is a new tensor."""
        cached = self._latent.get(n)
        if cached is None or cached[0] is not s:
            latent = self.model.latent_dim
            z, std, kl, grad_s = (
                torch.empty(n, latent),
                torch.empty(n, latent),
                torch.empty(n),
                torch.empty_like(s),
            )
            views = (s.numpy(), std.numpy(), kl.numpy(), grad_s.numpy())
            cached = self._latent[n] = (s, z, std, kl, grad_s, views)
        return cached[1:]

    def _kl_weight(self, kl: torch.Tensor, progress: float) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self.model._kl_scale(progress)
        if scale is not None:  # a linear KL term: one weight for every row
            return torch.full_like(kl, scale), scale * kl.sum()
        with torch.enable_grad():
            leaf = kl.detach().requires_grad_()
            term = self.model._kl_term(leaf, progress).sum()
            (weight,) = torch.autograd.grad(term, leaf)
        return weight, term.detach()


class _BlasBuffers:
    """The arrays of the numba passes for one batch size: every layer's output and input gradient,
    the likelihood's gradient and, for a VAE, the latent part's (torch views where torch writes)."""

    def __init__(self, step: FusedStep, n: int):
        def empty(*shape):
            return np.empty(shape, dtype=np.float32)

        enc, dec = step.enc, step.dec
        self.eouts = tuple(empty(n, w.shape[0]) for w in enc.weights)
        self.douts = tuple(empty(n, w.shape[0]) for w in dec.weights)
        # input gradients: the encoder's first is never needed (a placeholder of the same type)
        self.egins = (empty(0, 0), *(empty(n, w.shape[1]) for w in enc.weights[1:]))
        self.dgins = tuple(empty(n, w.shape[1]) for w in dec.weights)
        self.out = torch.from_numpy(self.douts[-1])  # the decoder's output (logits or means)
        self.grad_np = empty(*self.douts[-1].shape)  # the likelihood's gradient (first sigmoid(logits))
        self.grad = torch.from_numpy(self.grad_np)
        self.grads = tuple(
            tuple(g.numpy() for g in grads) for grads in (enc.grad_w, enc.grad_b, dec.grad_w, dec.grad_b)
        )
        if step.gaussian_posterior:
            latent = step.model.latent_dim
            self.z, self.std, self.kl, self.weight = empty(n, latent), empty(n, latent), empty(n), empty(n)
            self.grad_s = empty(n, 2 * latent)
            self.eps = torch.empty(n, latent)
            self.eps_np = self.eps.numpy()


def fused_step(model) -> FusedStep | None:
    """The hand-written step for ``model`` if its networks are plain MLPs, else None."""
    if not enabled() or model.fused_objective not in ("autoencoder", "gaussian_posterior"):
        return None
    encoder, decoder = linear_stack(model.net_.encoder), linear_stack(model.net_.decoder)
    if encoder is None or decoder is None:
        return None
    return FusedStep(model, encoder, decoder)
