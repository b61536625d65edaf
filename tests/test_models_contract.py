"""The model contract, checked for every model in the registry (new models join automatically)."""

import copy
import pickle

import numpy as np
import pytest
import scipy.sparse
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import latentspace as ls
from latentspace.errors import InputError
from latentspace.runfolder.folder import _read_safetensors, model_bytes
from tests.conftest import make_blobs

MODELS = ls.available_models(kind="fit")  # brought-in families: tests/test_import*.py


@pytest.fixture(params=MODELS, scope="module")
def fitted(request):
    """Each registered model fitted once on the same data; tests must not change it."""
    blobs = make_blobs()
    model = ls.create_model(request.param, latent_dim=3).set_params(random_state=0)
    params = model.get_params()
    if "epochs" in params:  # 300 rows: more, smaller steps than the defaults (made for 60k rows)
        model.set_params(epochs=40, batch_size=32, threads=1)
    if "encoder_epochs" in params:
        model.set_params(encoder_epochs=40)
    return model.fit(blobs), blobs


def test_registry_round_trip():
    for name in MODELS:
        cls = ls.get_model_class(name)
        assert cls.model_name == name
        assert cls.latent_param in cls().get_params()


def test_unknown_model_lists_valid_names():
    with pytest.raises(InputError, match=r"unknown model 'pcaa' \(did you mean 'pca'\?\); available: "):
        ls.create_model("pcaa")


def test_unknown_parameter_is_named():
    with pytest.raises(InputError, match="no parameter bogus"):
        ls.create_model("pca", bogus=1)


def test_shapes_and_aliases(fitted):
    model, X = fitted
    Z = model.encode(X)
    assert Z.shape == (len(X), 3) and model.latent_dim == 3
    np.testing.assert_array_equal(Z, model.transform(X))
    Xh = model.decode(Z)
    assert Xh.shape == X.shape
    np.testing.assert_array_equal(Xh, model.inverse_transform(Z))


# Share of the data's variance a reconstruction may leave. A GAN is not trained to reconstruct:
# its learned inverse must only beat the mean item.
RECON_BOUND = {"gan": 0.8}


def test_reconstruction_beats_the_mean(fitted):
    model, X = fitted
    err = np.mean((model.decode(model.encode(X)) - X) ** 2)
    assert err < RECON_BOUND.get(model.model_name, 0.2) * np.mean((X - X.mean(0)) ** 2)


def test_sample_is_seeded(fitted):
    model, X = fitted
    a, b, c = model.sample(5, random_state=1), model.sample(5, random_state=1), model.sample(5, 2)
    assert a.shape == (5, X.shape[1])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_transform_equals_fit_then_transform(fitted):
    model, X = fitted
    np.testing.assert_allclose(clone(model).fit_transform(X), model.transform(X), atol=1e-4)


def test_clone_and_params(fitted):
    model, _ = fitted
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert not hasattr(twin, "n_features_in_")


def test_state_round_trip_is_exact(fitted):
    model, X = fitted
    tensors, meta = _read_safetensors(model_bytes(model), "mem")
    rebuilt = type(model)(**model.get_params())._set_state(tensors, meta)
    np.testing.assert_array_equal(rebuilt.encode(X), model.encode(X))
    np.testing.assert_array_equal(rebuilt.decode(model.encode(X)), model.decode(model.encode(X)))


def test_wrong_feature_count(fitted):
    model, X = fitted
    name = type(model).__name__
    with pytest.raises(
        InputError, match=f"^X has {X.shape[1] - 1} features, but {name} is expecting {X.shape[1]} features"
    ):
        model.encode(X[:, 1:])
    with pytest.raises(InputError, match=f"^Z has 4 features, but {name} is expecting 3 features"):
        model.decode(np.zeros((2, 4)))


def test_nan_at_encode(fitted):
    model, X = fitted
    bad = X[:5].copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="row 3, column 2"):
        model.encode(bad)


@pytest.mark.parametrize("name", MODELS)
def test_sample_before_fit_is_not_fitted(name):
    model = ls.create_model(name, latent_dim=2)
    with pytest.raises(NotFittedError):
        model.sample_latent(3, random_state=0)
    with pytest.raises(NotFittedError):
        model.sample(3, random_state=0)


def test_in_memory_pickling_keeps_every_number(fitted):
    """pickle, copy.deepcopy and joblib (pickle underneath) give a model that encodes, decodes
    and samples exactly as the original; clone gives the same parameters, unfitted. (Run folders
    never pickle: they hold safetensors.)"""
    model, X = fitted
    Z = model.encode(X)
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert type(twin) is type(model) and twin.get_params() == model.get_params()
        np.testing.assert_array_equal(twin.encode(X), Z)
        np.testing.assert_array_equal(twin.decode(Z), model.decode(Z))
        np.testing.assert_array_equal(twin.sample(4, random_state=3), model.sample(4, random_state=3))
    np.testing.assert_array_equal(model.encode(X), Z)  # the original is untouched
    assert clone(model).get_params() == model.get_params()


@pytest.mark.parametrize("name", MODELS)
def test_sparse_input_is_refused_by_name(name):
    X = scipy.sparse.random(20, 5, density=0.5, format="csr", random_state=0, dtype=np.float32)
    model = ls.create_model(name, latent_dim=2)
    with pytest.raises(
        InputError, match=r"^X is a csr_matrix: sparse input is not supported; convert it with \.toarray\(\)$"
    ):
        model.fit(X)


def test_object_complex_and_1d_input_get_scikit_learns_treatment():
    X = make_blobs()
    a = ls.PCA(2).fit(X.astype(object))  # numbers in an object array are numbers
    np.testing.assert_array_equal(a.components_, ls.PCA(2).fit(X).components_)
    bad = X.astype(object)
    bad[3, 1] = {"a": 1}
    with pytest.raises(
        InputError, match=r"float\(\) argument must be a string or a real number, not 'dict'"
    ) as e:
        ls.PCA(2).fit(bad)
    assert isinstance(e.value, TypeError)  # as NumPy and scikit-learn raise it
    with pytest.raises(InputError, match="^Complex data not supported: X has dtype complex64"):
        ls.PCA(2).fit(X + 1j)
    with pytest.raises(InputError, match=r"got shape \(12,\)\. Reshape your data: X\.reshape\(-1, 1\)"):
        a.transform(X[0])
    with pytest.raises(InputError, match=r"has 0 feature\(s\) \(shape=\(12, 0\)\) while a minimum of 1"):
        ls.PCA(1).fit(np.zeros((12, 0)))


@pytest.mark.parametrize("name", MODELS)
def test_create_model_checks_parameters_as_fit_does(name):
    with pytest.raises(InputError, match=f"parameter {ls.get_model_class(name).latent_param} must be an int"):
        ls.create_model(name, latent_dim=0)
