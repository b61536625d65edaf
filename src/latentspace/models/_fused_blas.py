"""The MLP step's forward and backward passes as numba functions that call the BLAS ``sgemm_``
that torch itself calls (models/fused.py).

Each torch operation called from Python costs some microseconds before any arithmetic: argument
parsing, the dispatcher, an output check (``addmm`` with ``out=`` takes 6 us on an 8 x 8 matrix,
``.numpy()`` 2 us, ``reshape`` 3 us), and in the step, after AdamW has streamed the parameters
and moments through the caches, that Python runs 3-4x slower than alone. The MNIST VAE's step made
some forty such calls. Here the passes are two calls (1.07-1.10x a step on a 2-core machine,
BENCHMARKS.md): numba code that runs the same products through the same library function,
``sgemm_`` in ``libtorch_cpu`` (MKL on x86 builds, with torch's thread count), with the arguments
torch passes, so that the results are those of the torch path (bitwise on the 33- and 128-row
batches measured; the tests compare them to 1e-6).

The function is found by name in torch's own library and checked once per process against
``torch.mm`` on the three product forms the step uses; when it is missing or disagrees (another
BLAS, another platform), the step keeps its torch operations. Integer arguments sit in 8-byte slots, so that a
64-bit-integer (ILP64) build reads them right as well as a 32-bit one.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import math
import os

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._fused_kernels import (
    bernoulli_terms,
    column_sums,
    latent_backward,
    latent_forward,
    relu_backward_column_sums,
)

_N, _T = ord("N"), ord("T")


@intrinsic
def _sgemm(typingctx, fn, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Fortran ``sgemm_`` at address ``fn``: C = alpha op(A) op(B) + beta C, column-major."""
    sig = types.void(fn, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        tys = signature.args
        slots = []
        for value, ty in zip(args[1:], tys[1:], strict=True):
            if isinstance(ty, types.Array):
                data = context.make_array(ty)(context, builder, value).data
                slots.append(builder.bitcast(data, cgutils.voidptr_t))
            elif isinstance(ty, types.Float):
                f = context.cast(builder, value, ty, types.float32)
                slots.append(builder.bitcast(cgutils.alloca_once_value(builder, f), cgutils.voidptr_t))
            else:  # characters and integers: 8 bytes, read right as int32 and as int64 (little-endian)
                v = context.cast(builder, value, ty, types.int64)
                slots.append(builder.bitcast(cgutils.alloca_once_value(builder, v), cgutils.voidptr_t))
        fnty = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t] * 13)
        addr = context.cast(builder, args[0], tys[0], types.intp)
        builder.call(builder.inttoptr(addr, fnty.as_pointer()), slots)
        return context.get_dummy_value()

    return sig, codegen


# Row-major products as column-major sgemm calls (a row-major (r, c) array is a column-major
# (c, r) matrix). The argument order is the one torch's addmm/mm pass for these layouts.
@numba.njit(cache=True)
def linear_forward(gemm, x, w, b, out):  # pragma: no cover - compiled
    """out (B, O) = x (B, I) @ w (O, I)^T + b, as ``torch.addmm(b, x, w.t(), out=out)``."""
    rows, n_in = x.shape
    n_out = w.shape[0]
    for r in range(rows):
        for c in range(n_out):
            out[r, c] = b[c]
    _sgemm(gemm, _T, _N, n_out, rows, n_in, 1.0, w, n_in, x, n_in, 1.0, out, n_out)


@numba.njit(cache=True)
def weight_gradient(gemm, grad, inp, scale, gw):  # pragma: no cover - compiled
    """gw (O, I) = scale x grad (B, O)^T @ inp (B, I), as ``torch.addmm(gw, grad.t(), inp,
    beta=0, alpha=scale, out=gw)``."""
    rows, n_out = grad.shape
    n_in = inp.shape[1]
    _sgemm(gemm, _N, _T, n_in, n_out, rows, scale, inp, n_in, grad, n_out, 0.0, gw, n_in)


@numba.njit(cache=True)
def input_gradient(gemm, grad, w, out):  # pragma: no cover - compiled
    """out (B, I) = grad (B, O) @ w (O, I), as ``torch.mm(grad, w, out=out)``."""
    rows, n_out = grad.shape
    n_in = w.shape[1]
    _sgemm(gemm, _N, _N, n_in, rows, n_out, 1.0, w, n_in, grad, n_out, 0.0, out, n_in)


@numba.njit(cache=True)
def stack_forward(gemm, x, ws, bs, outs):  # pragma: no cover - compiled
    """A Linear/ReLU stack: outs[i] = layer i's output (ReLU applied in place but on the last)."""
    last = len(ws) - 1
    h = x
    for i in range(last + 1):
        out = outs[i]
        linear_forward(gemm, h, ws[i], bs[i], out)
        if i < last:
            B, H = out.shape
            for r in range(B):
                for c in range(H):
                    if out[r, c] <= 0.0:  # as torch's relu_: NaN stays NaN
                        out[r, c] = 0.0
        h = out


@numba.njit(cache=True)
def stack_backward(gemm, x, outs, ws, grad, scale, gws, gbs, gins, need_input, bias_done):  # pragma: no cover
    """The stack's backward from ``grad`` = d(sum of losses)/d(its output): gws, gbs = scale x the
    parameter gradients; ``gins[i]`` receives d/d(layer i's input) (ReLU's backward applied);
    returns d/dx (in gins[0]) when ``need_input``. ``bias_done``: the last bias gradient is
    already written (by the pass that made ``grad``)."""
    L = len(ws)
    for j in range(L):
        i = L - 1 - j
        inp = x if i == 0 else outs[i - 1]
        weight_gradient(gemm, grad, inp, scale, gws[i])
        if not bias_done:
            column_sums(grad, scale, gbs[i])
        bias_done = False
        if i > 0 or need_input:
            g = gins[i]
            input_gradient(gemm, grad, ws[i], g)
            if i > 0:  # through the ReLU that made outs[i - 1], with layer i - 1's bias gradient
                relu_backward_column_sums(g, outs[i - 1], scale, gbs[i - 1])
                bias_done = True
            grad = g
    return grad


@numba.njit(cache=True)
def gaussian_terms(out, x, inv_var, scale, grad, grad_b):  # pragma: no cover - compiled
    """The Gaussian likelihood's gradient grad = (out - x) inv_var (B, D), ``grad_b`` (D,) = scale
    x its column sums (the decoder's last bias gradient); returns the squared error sum((out - x)^2)."""
    B, D = out.shape
    sq_cols = np.zeros(D, dtype=np.float32)  # squared error down each column: the loop vectorises
    for c in range(D):
        grad_b[c] = 0.0
    for r in range(B):
        for c in range(D):
            d = out[r, c] - x[r, c]
            sq_cols[c] += d * d
            g = d * inv_var
            grad[r, c] = g
            grad_b[c] += g
    sq = 0.0
    for c in range(D):
        grad_b[c] *= scale
        sq += sq_cols[c]
    return sq


@numba.njit(cache=True)
def likelihood_terms(out, x, grad, bernoulli, inv_var, scale, grad_b):  # pragma: no cover - compiled
    """(the total negative log-likelihood, or 0.0 for a Gaussian: its total needs only the
    squared error; the squared error), with d(total)/d(out) in ``grad`` and the decoder's last bias
    gradient in ``grad_b``. Bernoulli: ``grad`` holds sigmoid(out) on entry."""
    if bernoulli:
        n = out.size
        return bernoulli_terms(out.reshape(n), x.reshape(n), grad.reshape(n), out.shape[1], scale, grad_b)
    return 0.0, gaussian_terms(out, x, inv_var, scale, grad, grad_b)


@numba.njit(cache=True)
def vae_forward(gemm, x, ew, eb, eouts, eps, lo, hi, z, std, kl, dw, db, douts):  # pragma: no cover
    """Encoder, reparameterisation and KL (``latent_forward``), decoder; returns the KLs' sum."""
    stack_forward(gemm, x, ew, eb, eouts)
    latent_forward(eouts[-1], eps, lo, hi, z, std, kl)
    stack_forward(gemm, z, dw, db, douts)
    total = 0.0
    for i in range(kl.shape[0]):
        total += kl[i]
    return total


# fmt: off
@numba.njit(cache=True)
def vae_backward(
    gemm, x, grad, bernoulli, inv_var, ew, eouts, egw, egb, egins, eps, std, weight, lo, hi, grad_s, z,
    dw, douts, dgw, dgb, dgins, scale,
):  # pragma: no cover - compiled
    """The likelihood (see ``likelihood_terms``), then every gradient, the KL's weighted by
    ``weight`` (B,). Returns the likelihood's totals."""
    nll, sq = likelihood_terms(douts[-1], x, grad, bernoulli, inv_var, scale, dgb[-1])
    grad_z = stack_backward(gemm, z, douts, dw, grad, scale, dgw, dgb, dgins, True, True)
    latent_backward(grad_z, eouts[-1], eps, std, weight, lo, hi, grad_s, scale, egb[-1])
    stack_backward(gemm, x, eouts, ew, grad_s, scale, egw, egb, egins, False, True)
    return nll, sq
# fmt: on


@numba.njit(cache=True)
def ae_forward(gemm, x, ew, eb, eouts, dw, db, douts):  # pragma: no cover - compiled
    """Encoder, then decoder from its code."""
    stack_forward(gemm, x, ew, eb, eouts)
    stack_forward(gemm, eouts[-1], dw, db, douts)


# fmt: off
@numba.njit(cache=True)
def ae_backward(
    gemm, x, x_in, grad, bernoulli, inv_var, ew, eouts, egw, egb, egins, dw, douts, dgw, dgb, dgins, scale
):  # pragma: no cover - compiled
    """The likelihood against the clean ``x``, then every gradient (``x_in``: the encoder's input,
    corrupted for a denoising autoencoder). Returns the likelihood's totals."""
    nll, sq = likelihood_terms(douts[-1], x, grad, bernoulli, inv_var, scale, dgb[-1])
    grad_code = stack_backward(gemm, eouts[-1], douts, dw, grad, scale, dgw, dgb, dgins, True, True)
    stack_backward(gemm, x_in, eouts, ew, grad_code, scale, egw, egb, egins, False, False)
    return nll, sq
# fmt: on


def _library_paths() -> list[str]:
    import torch

    lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    names = ("libtorch_cpu.*", "torch_cpu.dll")
    return sorted(path for name in names for path in glob.glob(os.path.join(lib, name)))


@functools.cache
def sgemm_address() -> int | None:
    """The address of the ``sgemm_`` torch calls, once it has given torch.mm's results on the
    step's three product forms; else None (the step then keeps its torch operations)."""
    for path in _library_paths():
        try:
            fn = ctypes.CDLL(path).sgemm_
        except (OSError, AttributeError):
            continue
        address = ctypes.cast(fn, ctypes.c_void_p).value
        return address if address and _agrees(address) else None
    return None


def _agrees(address: int) -> bool:
    import torch

    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(5, 7, generator=g), torch.randn(3, 7, generator=g), torch.randn(3, generator=g)
    grad = torch.randn(5, 3, generator=g)
    out, gw, gin = torch.full((5, 3), math.nan), torch.full((3, 7), math.nan), torch.full((5, 7), math.nan)
    linear_forward(address, x.numpy(), w.numpy(), b.numpy(), out.numpy())
    weight_gradient(address, grad.numpy(), x.numpy(), 0.5, gw.numpy())
    input_gradient(address, grad.numpy(), w.numpy(), gin.numpy())
    ok = torch.allclose(out, torch.addmm(b, x, w.t()), rtol=1e-5, atol=1e-6)
    ok &= torch.allclose(gw, 0.5 * grad.t() @ x, rtol=1e-5, atol=1e-6)
    return bool(ok & torch.allclose(gin, grad @ w, rtol=1e-5, atol=1e-6))
