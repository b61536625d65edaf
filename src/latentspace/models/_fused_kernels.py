"""Numba kernels for the hand-written MLP step on the CPU (models/fused.py).

The reparameterisation, the KL and their gradients act on (B, latent) arrays, 128 x 16 for the
MNIST VAE: written as torch operations they are some thirty kernel launches of 5-8 us each,
nearly all dispatch (0.2 ms of a 3 ms step). Here they are two loops. Arithmetic is float32, as
torch's, except that sums over a row are float64.

The bias gradients (column sums of a layer's output gradient) are taken in the pass that makes
that gradient: the likelihood's ``p - x``, the latent backward, and ReLU's backward. As separate
torch operations (``threshold_backward``, then ``mv`` for the sums) each was a two-thread kernel
reading data the other core had just written; on a 2-core Intel Xeon (AVX-512, KVM) they took
0.36 ms of a 7.2 ms step in place, and the step is 1.019x faster without them (BENCHMARKS.md).

Loops that store run without ``fastmath``: LLVM may pick a vector or a scalar version of such a
loop at run time (by whether the arrays overlap), and without reassociation or contraction both
versions round alike, so results do not depend on where the arrays sit in memory.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True)
def latent_forward(s, eps, lo, hi, z, std, kl):  # pragma: no cover - compiled
    """s (B, 2L) = [mu | raw log-variance]; eps (B, L) ~ N(0, I). Writes z = mu + std eps (B, L),
    std = exp(logvar / 2) (B, L) with logvar = clamp(raw, lo, hi), and the per-row KL to N(0, I)
    kl (B,) = sum_j (mu^2 + var - 1 - logvar) / 2."""
    B, L = eps.shape
    half = np.float32(0.5)
    one = np.float32(1.0)
    for i in range(B):
        acc = 0.0
        for j in range(L):
            mu = s[i, j]
            lv = min(max(s[i, L + j], lo), hi)
            sd = np.float32(math.exp(half * lv))
            z[i, j] = mu + sd * eps[i, j]
            std[i, j] = sd
            acc += mu * mu + sd * sd - one - lv
        kl[i] = 0.5 * acc


@numba.njit(cache=True)
def latent_backward(grad_z, s, eps, std, w, lo, hi, grad_s, scale, grad_b):  # pragma: no cover - compiled
    """d/ds of (the decoder's loss through z) + sum_i w_i kl_i: grad_s (B, 2L) = [dmu | dlogvar],
    zero where the clamp of the log-variance was active; ``grad_b`` (2L,) = scale x its column
    sums (the encoder's last bias gradient)."""
    B, L = eps.shape
    half = np.float32(0.5)
    one = np.float32(1.0)
    for i in range(B):
        wi = w[i]
        for j in range(L):
            g = grad_z[i, j]
            grad_s[i, j] = g + wi * s[i, j]  # dz/dmu = 1, dKL/dmu = mu
            raw = s[i, L + j]
            if raw < lo or raw > hi:
                grad_s[i, L + j] = 0.0
            else:  # dz/dlogvar = eps std / 2, dKL/dlogvar = (var - 1) / 2
                sd = std[i, j]
                grad_s[i, L + j] = half * (g * eps[i, j] * sd + wi * (sd * sd - one))
    column_sums(grad_s, scale, grad_b)


@numba.njit(cache=True)
def column_sums(grad, scale, out):  # pragma: no cover - compiled
    """out (H,) = scale x the column sums of grad (B, H), summed down the rows in order."""
    B, H = grad.shape
    for c in range(H):
        out[c] = 0.0
    for r in range(B):
        for c in range(H):
            out[c] += grad[r, c]
    for c in range(H):
        out[c] *= scale


@numba.njit(cache=True)
def relu_backward_column_sums(grad, act, scale, out):  # pragma: no cover - compiled
    """ReLU's backward in place, grad (B, H) zeroed where the ReLU's output ``act`` is not
    positive (as torch's threshold_backward), and out (H,) = scale x its column sums."""
    B, H = grad.shape
    zero = np.float32(0.0)
    for c in range(H):
        out[c] = 0.0
    for r in range(B):
        for c in range(H):
            g = grad[r, c] if act[r, c] > zero else zero
            grad[r, c] = g
            out[c] += g
    for c in range(H):
        out[c] *= scale


@numba.njit(cache=True)
def _gradient_column_sums(p, x, scale, out):  # pragma: no cover - compiled
    """p <- p - x (B, H); out (H,) = scale x its column sums. (On 2-D views: the same loop over
    flat arrays with computed offsets stayed scalar, 6x slower.)"""
    B, H = p.shape
    for c in range(H):
        out[c] = 0.0
    for r in range(B):
        for c in range(H):
            g = p[r, c] - x[r, c]
            p[r, c] = g
            out[c] += g
    for c in range(H):
        out[c] *= scale


@numba.njit(inline="always", fastmath={"reassoc", "contract", "nsz", "arcp"})
def _bernoulli_span(logits, x, p, lo, hi):  # pragma: no cover - compiled
    """float32 sums of relu(l), x l and (p - x)^2 over [lo, hi) (reads only: see bernoulli_terms)."""
    zero = np.float32(0.0)
    r32 = zero
    xl32 = zero
    sq32 = zero
    for i in range(lo, hi):
        li = logits[i]
        xi = x[i]
        r32 += max(li, zero)
        xl32 += xi * li
        g = p[i] - xi
        sq32 += g * g
    return r32, xl32, sq32


# reassociation lets LLVM vectorise the sums; no "nnan"/"ninf": a NaN loss must stay NaN (divergence check)
@numba.njit(cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def bernoulli_terms(logits, x, p, cols, scale, grad_b):  # pragma: no cover - compiled
    """The likelihood of a Bernoulli decoder over a batch: flat float32 arrays of one length, rows
    of ``cols`` values each.

    ``p`` holds sigmoid(logits) on entry and the loss's gradient p - x on exit; ``grad_b`` (cols,)
    gets scale x that gradient's column sums (the decoder's last bias gradient). Returns the total
    negative log-likelihood sum(softplus(l) - x l) and the squared error sum((p - x)^2).

    softplus(l) = relu(l) - log sigmoid(|l|), and sigmoid(|l|) = 1/2 + |p - 1/2| lies in [1/2, 1]:
    no overflow and no log(0). Its logs are taken of products: 64 terms in float32 (at least 2^-64,
    a normal float), 15 of those in float64 (at least 2^-960), so one log call per 960 elements.
    Sums run in float32 over 256 elements and are added in float64. Both loops have fixed bounds so
    that LLVM vectorises them (a bound computed with min() kept them scalar, 5x slower): the spans
    call the inlined ``_bernoulli_span`` with literal lengths, the remainder calls it once more."""
    n = logits.size
    half = np.float32(0.5)
    tail = 0.0
    acc = 1.0
    full = n // 64
    for c in range(full):
        prod = np.float32(1.0)
        for i in range(c * 64, c * 64 + 64):
            prod *= half + abs(p[i] - half)
        acc *= prod
        if c % 15 == 14:
            tail += math.log(acc)
            acc = 1.0
    for i in range(full * 64, n):
        acc *= half + abs(p[i] - half)
    tail += math.log(acc)
    relu = 0.0
    xl = 0.0
    sq = 0.0
    full = n // 256
    for c in range(full + 1):  # 256-element spans (fixed bounds), then the remainder
        if c < full:
            r32, xl32, sq32 = _bernoulli_span(logits, x, p, c * 256, c * 256 + 256)
        else:
            r32, xl32, sq32 = _bernoulli_span(logits, x, p, full * 256, n)
        relu += r32
        xl += xl32
        sq += sq32
    # the gradient in a loop of its own, compiled without fastmath: a store in the summing loop made
    # LLVM check at run time whether p overlaps x, and when the two arrays lay within some 4 KB of
    # each other it took another loop, which sums in another order: the total then depended on
    # where the arrays sat in memory (1e-9 relative, enough to change a run's history from disk
    # against from memory)
    rows = n // cols
    _gradient_column_sums(p.reshape((rows, cols)), x.reshape((rows, cols)), scale, grad_b)
    return relu - tail - xl, sq
