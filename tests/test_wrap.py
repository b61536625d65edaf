"""latentspace.wrap: torch modules and numpy functions on the model contract; operations and metrics
work on them; saving goes through ONNX (torch) or says why it cannot (Python functions)."""

import numpy as np
import pytest

import latentspace as ls
from latentspace import ops
from latentspace.data.splits import split_mask
from latentspace.errors import InputError
from latentspace.metrics.reconstruction import reconstruction
from latentspace.metrics.smoothness import smoothness
from latentspace.models.wrapped import WrappedModel
from latentspace.runfolder import save_run

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
nn = torch.nn


@pytest.fixture(scope="module")
def nets():
    """An MLP encoder with dropout (so eval mode matters) and a decoder, trained a little on digits."""
    X = torch.from_numpy(ls.load_data("digits").X)
    torch.manual_seed(1)
    enc = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 4))
    dec = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 64), nn.Sigmoid())
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        batch = X[torch.randint(0, len(X), (128,), generator=gen)]
        loss = ((dec(enc(batch)) - batch) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    enc.train(), dec.train()  # left in training mode: wrap must call them as at inference anyway
    return enc, dec


def _torch(module, X):
    was = module.training
    module.eval()
    with torch.no_grad():
        out = module(torch.from_numpy(np.asarray(X, np.float32))).numpy()
    module.train(was)
    return out


def _save(model, ds, out):
    mask, split = split_mask(ds, 0.1, 0)
    return save_run(out, model, ds, seed=0, split=split, test_mask=mask, Z=model.encode(ds.X))


def test_torch_modules_on_the_contract(nets, digits):
    enc, dec = nets
    model = ls.wrap(enc, dec, n_features=64)
    assert isinstance(model, WrappedModel) and model.model_name == "wrapped"
    assert model.latent_dim == 4 and model.n_features_in_ == 64 and model.has_encoder and model.has_decoder
    Z = model.encode(digits.X)
    assert Z.dtype == np.float32 and np.array_equal(Z, _torch(enc, digits.X))
    assert np.array_equal(model.encode(digits.X), Z)  # dropout is off while latentspace calls it
    assert enc.training and all(m.training for m in enc.modules())  # and the user's mode is back
    assert np.array_equal(model.decode(Z), _torch(dec, Z))
    rec = reconstruction(model, digits.X)
    assert rec["mse"] < 0.6 * float(digits.X.var(axis=0).mean())


def test_numpy_functions_and_every_operation(digits):
    rng = np.random.default_rng(0)
    W = np.linalg.qr(rng.normal(size=(64, 5)))[0].astype(np.float32)
    mean = digits.X.mean(0)
    model = ls.wrap(encode=lambda x: (x - mean) @ W, decode=lambda z: z @ W.T + mean, n_features=64)
    assert model.latent_dim == 5
    Z = model.encode(digits.X)
    np.testing.assert_allclose(Z, (digits.X - mean) @ W, atol=1e-6)
    s = ops.sample(model, 8, seed=0)
    assert s.X.shape == (8, 64) and np.allclose(s.Z.std(), 1.0, atol=0.5)
    path = ops.interpolate(model, digits.X[0], digits.X[1], steps=6, method="slerp")
    np.testing.assert_allclose(path.Z[[0, -1]], Z[:2], atol=1e-5)
    tr = ops.traverse(model, Z[0], dims=[0, 4], steps=5, reference=Z)
    assert tr.X.shape == (2, 5, 64)
    v = ops.attribute_vector(model, digits.X, digits.y == 3)
    np.testing.assert_allclose(v, Z[digits.y == 3].mean(0) - Z[digits.y != 3].mean(0), atol=1e-5)
    assert ops.edit(model, Z[0], v, [0.0, 1.0]).X.shape == (2, 64)
    idx, dist = ops.neighbours(model, digits.X, digits.X[10], k=4)  # a data item, encoded
    assert idx[0] == 10 and dist[0] < 1e-5
    sm = smoothness(model, digits.X[:300], Z[:300])
    assert all(np.isfinite(v) for v in sm.values() if isinstance(v, float))


def test_priors(nets, digits):
    enc, dec = nets
    fitted = ls.wrap(enc, dec, n_features=64, prior="fitted")
    with pytest.raises(InputError, match=r"call fit\(X\) before sampling"):
        fitted.sample(3)
    fitted.fit(digits.X)
    Z = _torch(enc, digits.X).astype(np.float64)
    draws = fitted.sample_latent(40_000, random_state=0).astype(np.float64)
    assert np.abs(draws.mean(0) - Z.mean(0)).max() < 0.03 * Z.std(0).max()
    assert np.abs(np.cov(draws.T) - np.cov(Z.T)).max() < 0.03 * np.abs(np.cov(Z.T)).max()
    cov = np.array([[2.0, 0.5, 0, 0], [0.5, 1.0, 0, 0], [0, 0, 0.25, 0], [0, 0, 0, 4.0]])
    given = ls.wrap(enc, dec, n_features=64, prior=(np.ones(4), cov))
    draws = given.sample_latent(40_000, random_state=0).astype(np.float64)
    assert np.abs(draws.mean(0) - 1).max() < 0.05 and np.abs(np.cov(draws.T) - cov).max() < 0.1
    with pytest.raises(InputError, match="symmetric positive semi-definite"):
        ls.wrap(enc, dec, n_features=64, prior=(np.zeros(4), -np.eye(4)))


def test_conv_modules_find_their_shapes(digits):
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3))
    dec = nn.Sequential(nn.Linear(3, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))
    model = ls.wrap(enc, dec, latent_dim=3)  # the encoder reads what the decoder gives: (1, 8, 8)
    assert model.input_shape == (1, 8, 8) and model.n_features_in_ == 64
    expect = _torch(enc, digits.X[:10].reshape(-1, 1, 8, 8))
    assert np.array_equal(model.encode(digits.X[:10]), expect)


def test_a_tuple_output_counts_by_its_first_item(digits):
    class VaeEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.mu, self.logvar = nn.Linear(64, 2), nn.Linear(64, 2)

        def forward(self, x):
            return self.mu(x), self.logvar(x)

    enc = VaeEncoder()
    model = ls.wrap(enc, n_features=64)
    assert model.latent_dim == 2 and not model.has_decoder
    assert np.array_equal(model.encode(digits.X[:5]), _torch(enc.mu, digits.X[:5]))
    with pytest.raises(InputError, match="no decoder"):
        model.decode(np.zeros((1, 2)))


def test_a_decoder_alone(digits):
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(8, 64), nn.Sigmoid())
    model = ls.wrap(decode=gen, latent_dim=8)
    assert model.n_features_in_ == 64 and not model.has_encoder
    x = model.sample(4, random_state=0)
    np.testing.assert_array_equal(x, _torch(gen, model.sample_latent(4, random_state=0)))
    with pytest.raises(InputError, match="no encoder"):
        model.encode(digits.X[:2])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, r"^wrap needs encode=, decode= or both$"),
        ({"encode": lambda x: x[:, :2]}, r"^wrap: give n_features \(or input_shape\), so the sizes"),
        ({"decode": lambda z: z}, r"^wrap: give latent_dim, so the sizes"),
        ({"encode": 3, "n_features": 4}, r"^wrap: encoder must be callable"),
        (
            {"encode": lambda x: x[:, :2], "n_features": 4, "latent_dim": 3},
            r"^the encoder gave shape \[2, 2\] for 2 rows; expected 3 values per row$",
        ),
        (
            {"decode": lambda z: np.zeros((len(z), 7)), "latent_dim": 2, "n_features": 6},
            r"^the decoder gave shape \[2, 7\] for 2 rows; expected 6 values per row$",
        ),
        (
            {"encode": lambda x: x[:1], "n_features": 4},
            r"^the encoder gave shape \[1, 4\] for 2 rows; expected one row per input row$",
        ),
        (
            {"encode": lambda x: x, "n_features": 4, "prior": "wide"},
            r"prior must be 'standard', 'fitted' or \(mean, cov\); got 'wide'",
        ),
        (
            {"encode": lambda x: x, "n_features": 4, "prior": (np.zeros(3), np.eye(3))},
            r"prior \(mean, cov\) must be shaped \(4,\)",
        ),
    ],
)
def test_wrap_errors_are_one_line(kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        ls.wrap(**kwargs)
    assert "\n" not in str(info.value)


def test_python_functions_cannot_be_saved(digits, tmp_path):
    model = ls.wrap(encode=lambda x: x[:, :3], decode=lambda z: np.tile(z, (1, 22))[:, :64], n_features=64)
    with pytest.raises(
        InputError,
        match=r"^a model wrapped around Python functions cannot be saved in a run folder.*torch\.onnx\.export.*latentspace import --encoder enc\.onnx",
    ) as info:
        _save(model, digits, tmp_path / "run")
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
    for call in (model._get_state, model._get_files, model.to_onnx):
        with pytest.raises(InputError, match="cannot be saved"):
            call()


def test_torch_modules_are_saved_as_onnx(nets, digits, tmp_path):
    enc, dec = nets
    model = ls.wrap(enc, dec, n_features=64, prior="fitted", random_state=7).fit(digits.X)
    run = _save(model, digits, tmp_path / "run")
    assert run.config["model"] == {
        "name": "onnx",
        "params": {"latent_dim": 4, "prior": "fitted", "random_state": 7},
    }
    assert {"encoder.onnx", "decoder.onnx"} <= set(run.config["files"])
    back = ls.open_run(run.path).load_model()
    Z = _torch(enc, digits.X)
    assert np.abs(back.encode(digits.X) - Z).max() <= 1e-5
    assert np.abs(back.decode(Z) - _torch(dec, Z)).max() <= 1e-5
    assert (
        np.abs(back.sample_latent(100, random_state=3) - model.sample_latent(100, random_state=3)).max()
        <= 1e-5
    )
    assert enc.training and dec.training  # exporting left the user's modules as they were


def test_a_torch_decoder_alone_cannot_make_a_run(digits, tmp_path):
    model = ls.wrap(decode=nn.Sequential(nn.Linear(2, 64)), latent_dim=2)
    with pytest.raises(InputError, match="an ONNX model needs an encoder"):
        model.to_onnx()


def test_a_wrapped_model_is_never_read_from_a_run():
    with pytest.raises(InputError, match="never stored in a run"):
        ls.create_model("wrapped")._set_state({}, {})
