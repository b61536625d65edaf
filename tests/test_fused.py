"""The hand-written training step (models/fused.py) computes what autograd computes.

Every gradient and metric of one step is compared with the model's own ``_loss`` under autograd,
for each objective, likelihood, depth and KL schedule; a whole fit with and without the fused step
ends at the same weights to float rounding.
"""

import platform

import numpy as np
import pytest
import torch

import latentspace as ls
from latentspace.models.fused import FusedStep, fused_step

from .conftest import make_blobs

CASES = [
    ("ae", {}),
    ("dae", {"noise": "gaussian", "noise_level": 0.3}),
    ("dae", {"noise": "masking", "noise_level": 0.3}),
    ("dae", {"noise": "salt_and_pepper", "noise_level": 0.2}),
    ("vae", {}),
    ("vae", {"kl_warmup": 4.0}),
    ("beta_vae", {"beta": 4.0}),
    ("beta_vae", {"beta": 4.0, "capacity_max": 5.0, "capacity_epochs": 3}),
]


def _data(likelihood: str) -> np.ndarray:
    X = np.ascontiguousarray(make_blobs(1)[:, :10])
    if likelihood == "bernoulli":
        return (X - X.min()) / (X.max() - X.min())
    return X


# the step's three implementations: its passes as numba code calling torch's sgemm_ (the default
# on the CPU), torch's products with numba kernels for the rest, torch operations only
PATHS = {"blas": ("1", "1"), "numba": ("1", "0"), "torch": ("0", "1")}
HAS_SGEMM = platform.machine().lower() in ("x86_64", "amd64")  # torch's x86 builds link MKL


def _use(path: str, monkeypatch) -> None:
    kernels, blas = PATHS[path]
    monkeypatch.setenv("LATENTSPACE_FUSED_KERNELS", kernels)
    monkeypatch.setenv("LATENTSPACE_FUSED_BLAS", blas)


def _check_path(step, path: str) -> None:
    assert step.latent_kernels == (path != "torch")
    assert (step.blas is not None) == (path == "blas" and HAS_SGEMM)


def _model(name, params, likelihood, hidden, epochs=1):
    model = ls.create_model(
        name,
        latent_dim=3,
        hidden=hidden,
        likelihood=likelihood,
        epochs=epochs,
        batch_size=32,
        val_fraction=0.0,
        random_state=3,
        device="cpu",
        **params,
    )
    return model.fit(_data(likelihood))


def _both(model, x, progress):
    """(metrics, gradients) of one step: fused, then autograd from the same generator state."""
    step = fused_step(model)
    assert isinstance(step, FusedStep)
    params = [p for p in model.net_.parameters()]
    for p in params:
        p.grad = None
    fused = {k: float(v) for k, v in step(x, progress, torch.Generator().manual_seed(11)).items()}
    fused_grads = [None if p.grad is None else p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    out = model._loss(x, progress, torch.Generator().manual_seed(11), True)
    out["loss"].backward()
    auto = {k: float(v.detach()) for k, v in out.items()}
    auto_grads = [None if p.grad is None else p.grad.clone() for p in params]
    return fused, auto, fused_grads, auto_grads


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("hidden", [(24,), (32, 16)])
@pytest.mark.parametrize(
    ("name", "params"), CASES, ids=[f"{n}-{'-'.join(map(str, p.values()))}" for n, p in CASES]
)
@pytest.mark.parametrize("path", list(PATHS))
def test_one_step_equals_autograd(name, params, likelihood, hidden, path, monkeypatch):
    _use(path, monkeypatch)
    model = _model(name, params, likelihood, hidden)
    _check_path(fused_step(model), path)
    x = torch.from_numpy(_data(likelihood)[:40])
    fused, auto, fused_grads, auto_grads = _both(model, x, progress=1.5)
    assert fused.keys() == auto.keys()
    for k in fused:
        assert fused[k] == pytest.approx(auto[k], rel=1e-5, abs=1e-5), k
    checked = 0
    for (pname, _), g_f, g_a in zip(model.net_.named_parameters(), fused_grads, auto_grads, strict=True):
        if g_a is None:  # unused (log sigma under a Bernoulli likelihood): left alone by both
            assert g_f is None or not g_f.any(), pname
            continue
        scale = float(g_a.abs().max()) + 1e-12
        assert float((g_f - g_a).abs().max()) / scale < 1e-5, pname
        checked += 1
    assert checked == 2 * (len(hidden) + 1) * 2 + (likelihood == "gaussian")


@pytest.mark.parametrize("path", ["blas", "numba"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("name", ["vae", "ae"])
def test_a_one_row_batch_equals_autograd(name, likelihood, path, monkeypatch):
    """The last batch of an epoch can hold one row: the column-sum kernels then sum a single row."""
    _use(path, monkeypatch)
    model = _model(name, {}, likelihood, (5,))
    _check_path(fused_step(model), path)
    x = torch.from_numpy(_data(likelihood)[:1])
    fused, auto, fused_grads, auto_grads = _both(model, x, progress=1.5)
    for k in fused:
        assert fused[k] == pytest.approx(auto[k], rel=1e-5, abs=1e-5), k
    for g_f, g_a in zip(fused_grads, auto_grads, strict=True):
        if g_a is not None:
            assert float((g_f - g_a).abs().max()) <= 1e-5 * (float(g_a.abs().max()) + 1e-12)


@pytest.mark.parametrize("path", list(PATHS))
def test_clamped_log_variance_gets_no_gradient(path, monkeypatch):
    _use(path, monkeypatch)
    model = _model("vae", {}, "bernoulli", (16,))
    _check_path(fused_step(model), path)
    head = model.net_.encoder[-1]
    with torch.no_grad():  # push two log-variances far beyond the clamp at +20 and -30
        head.bias[3] = 60.0
        head.bias[4] = -90.0
    x = torch.from_numpy(_data("bernoulli")[:40])
    fused, auto, fused_grads, auto_grads = _both(model, x, progress=1.0)
    names = [n for n, _ in model.net_.named_parameters()]
    g_f = fused_grads[names.index("encoder.2.bias")]
    g_a = auto_grads[names.index("encoder.2.bias")]
    assert float(g_a[3]) == 0.0 and float(g_a[4]) == 0.0
    assert float(g_f[3]) == 0.0 and float(g_f[4]) == 0.0
    assert torch.allclose(g_f, g_a, rtol=1e-5, atol=1e-6)
    assert fused["kl"] == pytest.approx(auto["kl"], rel=1e-6)


def test_a_whole_fit_matches_autograd(digits, monkeypatch):
    X = digits.X[:600]
    kw = dict(
        latent_dim=4, hidden=(64,), epochs=3, batch_size=64, val_fraction=0.2, random_state=0, device="cpu"
    )
    fused = ls.create_model("vae", **kw).fit(X)
    monkeypatch.setenv("LATENTSPACE_FUSED", "0")
    auto = ls.create_model("vae", **kw).fit(X)
    for a, b in zip(fused.history_, auto.history_, strict=True):
        for k in ("train_loss", "train_elbo", "train_kl", "val_loss"):
            assert a[k] == pytest.approx(b[k], rel=1e-4), k
    for (name, p), q in zip(fused.net_.named_parameters(), auto.net_.parameters(), strict=True):
        assert float((p - q).detach().abs().max()) < 1e-4, name


@pytest.mark.parametrize("name", ["vae", "dae"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_the_sgemm_passes_equal_torchs_products(name, likelihood, monkeypatch):
    """The numba passes call the sgemm_ torch calls, with torch's arguments: on a 128-row batch
    through two hidden layers every gradient and metric equals the torch products' to 1e-6 (MKL
    may round differently by where the arrays sit, so not asserted bitwise)."""
    if not HAS_SGEMM:
        pytest.skip("torch's sgemm_ is looked for on x86 builds")
    data = np.ascontiguousarray(np.tile(_data(likelihood), (1, 8))[:128])  # 128 x 80
    params = {"noise": "masking", "noise_level": 0.3} if name == "dae" else {}
    results = []
    for path in ("blas", "numba"):
        _use(path, monkeypatch)
        model = ls.create_model(
            name, latent_dim=6, hidden=(48, 24), likelihood=likelihood, epochs=1, batch_size=64,
            val_fraction=0.0, random_state=5, device="cpu", **params,
        ).fit(data)  # fmt: skip
        step = fused_step(model)
        _check_path(step, path)
        metrics = step(torch.from_numpy(data), 0.7, torch.Generator().manual_seed(2))
        grads = [p.grad.clone() for p in model.net_.parameters() if p.grad is not None]
        results.append(({k: float(v) for k, v in metrics.items()}, grads))
    (m_blas, g_blas), (m_numba, g_numba) = results
    assert m_blas == pytest.approx(m_numba, rel=1e-6)
    assert len(g_blas) == len(g_numba) == 12 + (likelihood == "gaussian")
    for a, b in zip(g_blas, g_numba, strict=True):
        assert float((a - b).abs().max()) <= 1e-6 * float(b.abs().max()), a.shape


def test_a_strided_batch_keeps_the_torch_products(monkeypatch):
    """The numba passes take C-contiguous float32 rows; a strided batch goes the torch way, and
    both equal autograd."""
    _use("blas", monkeypatch)
    model = _model("vae", {}, "gaussian", (16,))
    wide = np.ascontiguousarray(np.tile(_data("gaussian")[:40], (1, 2)))
    x = torch.from_numpy(wide)[:, ::2]
    assert not x.is_contiguous()
    assert not fused_step(model)._blas_usable(x)
    fused, auto, fused_grads, auto_grads = _both(model, x, progress=1.0)
    for k in fused:
        assert fused[k] == pytest.approx(auto[k], rel=1e-5), k
    for g_f, g_a in zip(fused_grads, auto_grads, strict=True):
        if g_a is not None:
            assert float((g_f - g_a).abs().max()) <= 1e-5 * (float(g_a.abs().max()) + 1e-12)


def test_an_sgemm_that_disagrees_with_torch_is_not_used():
    """The check each process makes before using the library function: a function that leaves
    its output alone fails it."""
    import ctypes

    from latentspace.models import _fused_blas

    if HAS_SGEMM:
        assert _fused_blas._agrees(_fused_blas.sgemm_address())
    noop = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 13))(lambda *args: None)
    assert not _fused_blas._agrees(ctypes.cast(noop, ctypes.c_void_p).value)


def test_conv_and_gan_models_train_through_autograd(digits, monkeypatch):
    conv = ls.create_model(
        "vae",
        latent_dim=2,
        arch="conv",
        sample_shape=(1, 8, 8),
        epochs=1,
        channels=(4, 4),
        hidden=(8,),
        random_state=0,
        device="cpu",
    ).fit(digits.X[:64])
    assert fused_step(conv) is None
    mlp = ls.create_model("ae", latent_dim=2, hidden=(8,), epochs=1, random_state=0, device="cpu").fit(
        digits.X[:64]
    )
    assert fused_step(mlp) is not None
    monkeypatch.setenv("LATENTSPACE_FUSED", "0")
    assert fused_step(mlp) is None


@pytest.mark.parametrize("n", [1, 63, 64, 961, 100_353])
def test_bernoulli_terms_match_float64_bce(n):
    """The one-pass Bernoulli likelihood kernel: its total BCE and squared error against float64
    references, the gradient exactly p - x, for lengths around its 64- and 256-element blocks and
    logits far out in both tails (where softplus overflows if taken naively)."""
    from latentspace.models._fused_kernels import bernoulli_terms

    rng = np.random.default_rng(n)
    logits = (rng.standard_normal(n) * 8).astype(np.float32)
    logits[: min(n, 4)] = np.array([-120.0, 120.0, 0.0, 35.0], np.float32)[: min(n, 4)]
    x = rng.random(n).astype(np.float32)
    p = torch.sigmoid(torch.from_numpy(logits)).numpy()
    expected_grad = p - x
    l64, x64 = logits.astype(np.float64), x.astype(np.float64)
    bce = float(np.sum(np.logaddexp(0.0, l64) - x64 * l64))
    sq = float(np.sum((p.astype(np.float64) - x64) ** 2))
    cols = 7 if n % 7 == 0 else 1  # 961 and 63 as rows of 7; the others as one column
    grad_b = np.full(cols, np.nan, np.float32)
    got_bce, got_sq = bernoulli_terms(logits, x, p, cols, 0.25, grad_b)
    assert got_bce == pytest.approx(bce, rel=1e-6, abs=1e-5)
    assert got_sq == pytest.approx(sq, rel=1e-6, abs=1e-7)
    np.testing.assert_array_equal(p, expected_grad)
    col = 0.25 * p.astype(np.float64).reshape(-1, cols).sum(0)  # p holds the gradient now
    np.testing.assert_allclose(grad_b, col, rtol=1e-5, atol=1e-6 * n)


def test_bernoulli_terms_do_not_depend_on_where_the_arrays_sit():
    """The same inputs give bit-identical totals and gradients whether x and p lie next to each
    other in memory or far apart (a store in the summing loop once made LLVM pick another loop,
    summing in another order, for nearby arrays: a run from disk then reported another loss)."""
    from latentspace.models._fused_kernels import bernoulli_terms

    rng = np.random.default_rng(3)
    n = 64 * 64
    logits = rng.normal(0, 3, n).astype(np.float32)
    x = rng.random(n).astype(np.float32)
    p0 = (1 / (1 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
    big = np.empty(2 * n + 5000, np.float32)
    results, sums, grads = set(), set(), []
    for gap in (0, 1, 3, 16, 100, 1000, 5000):
        for x_first in (True, False):
            near, far = big[:n], big[n + gap : 2 * n + gap]
            xs, ps = (near, far) if x_first else (far, near)
            xs[:] = x
            ps[:] = p0
            grad_b = np.empty(64, np.float32)
            results.add(bernoulli_terms(logits, xs, ps, 64, 1 / 64, grad_b))
            grads.append(ps.copy())
            sums.add(grad_b.tobytes())
    assert len(results) == 1
    assert len(sums) == 1
    assert all(np.array_equal(g, grads[0]) for g in grads)


def test_bernoulli_terms_propagate_nan():
    """A NaN logit must give a NaN loss, so the engine's divergence check stops training."""
    from latentspace.models._fused_kernels import bernoulli_terms

    logits = np.zeros(300, np.float32)
    logits[200] = np.nan
    p = torch.sigmoid(torch.from_numpy(logits)).numpy()
    nll, _ = bernoulli_terms(logits, np.full(300, 0.5, np.float32), p, 30, 1.0, np.empty(30, np.float32))
    assert np.isnan(nll)


@pytest.mark.parametrize("shape", [(1, 1), (40, 24), (128, 512), (7, 33)])
def test_bias_gradient_kernels_match_torch(shape):
    """ReLU's backward with the next bias gradient in one pass, and the plain column sums, against
    torch's threshold_backward and a float64 sum; the result does not depend on where the arrays
    sit (the stores run in loops without fastmath)."""
    from latentspace.models._fused_kernels import column_sums, relu_backward_column_sums

    rng = np.random.default_rng(shape[1])
    grad = rng.standard_normal(shape).astype(np.float32)
    act = np.maximum(rng.standard_normal(shape), 0).astype(np.float32)  # a ReLU's output: zeros in it
    act[0, 0] = 0.0
    expected = torch.ops.aten.threshold_backward(torch.from_numpy(grad), torch.from_numpy(act), 0).numpy()
    scale = 1 / shape[0]
    sums = np.full(shape[1], np.nan, np.float32)
    column_sums(grad, scale, sums)
    np.testing.assert_allclose(sums, grad.astype(np.float64).sum(0) * scale, rtol=1e-5, atol=1e-6)
    results = set()
    big = np.empty(2 * grad.size + 100, np.float32)
    for gap in (0, 5, 100):
        g = big[gap : gap + grad.size].reshape(shape)
        g[:] = grad
        out = np.full(shape[1], np.nan, np.float32)
        relu_backward_column_sums(g, act, scale, out)
        np.testing.assert_array_equal(g, expected)
        np.testing.assert_allclose(out, expected.astype(np.float64).sum(0) * scale, rtol=1e-5, atol=1e-6)
        results.add(out.tobytes())
    assert len(results) == 1
