"""latentspace.PCA against scikit-learn's PCA: same numbers to float tolerance."""

import numpy as np
import pytest
from sklearn.decomposition import PCA as SkPCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import latentspace as ls
from latentspace.errors import InputError

SOLVERS = ["covariance_eigh", "full", "randomized"]


def _compare(ours, ref, X, rtol=1e-4, atol_components=1e-3):
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=rtol)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=rtol)
    np.testing.assert_allclose(ours.singular_values_, ref.singular_values_, rtol=rtol)
    np.testing.assert_allclose(ours.mean_, ref.mean_, atol=1e-5)
    np.testing.assert_allclose(ours.noise_variance_, ref.noise_variance_, rtol=rtol)
    # same signs as scikit-learn, not only the same subspace
    np.testing.assert_allclose(ours.components_, ref.components_, atol=atol_components)
    scale = np.abs(ref.transform(X)).max()
    tol = max(1e-4, atol_components / 10) * scale
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), atol=tol)


@pytest.mark.parametrize("solver", SOLVERS)
def test_equals_sklearn_on_digits(digits, solver):
    X = digits.X
    ours = ls.PCA(10, svd_solver=solver, random_state=0).fit(X)
    ref = SkPCA(10, svd_solver="full").fit(X)
    if solver == "randomized":  # an approximation: compare with looser bounds
        _compare(ours, ref, X, rtol=1e-3, atol_components=1e-2)
    else:
        _compare(ours, ref, X)


@pytest.mark.parametrize("whiten", [False, True])
def test_inverse_and_whiten_match_sklearn(blobs, whiten):
    ours = ls.PCA(3, whiten=whiten).fit(blobs)
    ref = SkPCA(3, whiten=whiten).fit(blobs)
    Z = ref.transform(blobs)
    np.testing.assert_allclose(ours.transform(blobs), Z, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.inverse_transform(Z), ref.inverse_transform(Z), atol=1e-4)
    if whiten:  # whitened latents have unit variance
        np.testing.assert_allclose(ours.transform(blobs).std(axis=0, ddof=1), 1.0, rtol=1e-4)


def test_ppca_score_matches_sklearn(blobs):
    ours, ref = ls.PCA(3).fit(blobs), SkPCA(3).fit(blobs)
    np.testing.assert_allclose(ours.score_samples(blobs), ref.score_samples(blobs), rtol=1e-5)
    assert ours.score(blobs) == pytest.approx(ref.score(blobs), rel=1e-6)


def test_full_rank_reconstructs_exactly(blobs):
    pca = ls.PCA(12).fit(blobs)
    np.testing.assert_allclose(pca.decode(pca.encode(blobs)), blobs, atol=1e-4)
    assert pca.explained_variance_ratio_.sum() == pytest.approx(1.0, abs=1e-6)


def test_sample_covariance_is_the_component_variance(blobs):
    pca = ls.PCA(3).fit(blobs)
    Z = pca.encode(pca.sample(20_000, random_state=0))
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=0.1)
    np.testing.assert_allclose(np.var(Z, axis=0), pca.explained_variance_, rtol=0.05)


def test_works_in_a_pipeline(digits):
    X, y = digits.X, digits.y
    ours = make_pipeline(ls.PCA(20), LogisticRegression(max_iter=2000)).fit(X[:1500], y[:1500])
    ref = make_pipeline(SkPCA(20), LogisticRegression(max_iter=2000)).fit(X[:1500], y[:1500])
    np.testing.assert_allclose(ours.predict_proba(X[1500:]), ref.predict_proba(X[1500:]), atol=1e-3)
    assert ours.score(X[1500:], y[1500:]) > 0.85


def test_latent_dim_larger_than_allowed(digits):
    with pytest.raises(InputError, match=r"= 65 is larger than allowed: at most .* = 64"):
        ls.PCA(65).fit(digits.X)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_components": 0}, r"n_components must be an int in \[1, inf\]; got 0"),
        ({"n_components": 2.5}, "n_components must be an int"),
        ({"svd_solver": "arpack"}, "svd_solver must be one of 'auto', 'covariance_eigh'"),
        ({"whiten": "yes"}, "whiten must be True or False"),
    ],
)
def test_invalid_parameters_are_named(blobs, params, message):
    with pytest.raises(InputError, match=message):
        ls.PCA(**params).fit(blobs)


def test_mnist_equals_sklearn(mnist):
    X = mnist.X[:20_000]
    ours, ref = ls.PCA(16).fit(X), SkPCA(16).fit(X)
    _compare(ours, ref, X[:2000], rtol=1e-4)


def test_memmap_input_streams(tmp_path, blobs):
    np.save(tmp_path / "x.npy", blobs)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    np.testing.assert_allclose(ls.PCA(3).fit(mm).components_, ls.PCA(3).fit(blobs).components_, atol=1e-6)


def test_large_offset_data_keeps_precision(blobs):
    """Data far from the origin (mean >> spread) must not lose digits to cancellation."""
    X = (blobs.astype(np.float64) + 1e4).astype(np.float32)
    ours, ref = ls.PCA(3).fit(X), SkPCA(3, svd_solver="full").fit(X.astype(np.float64))
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-3)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-6)


def test_a_rows_code_does_not_depend_on_its_block(digits):
    """Each row's code is the same alone, in a block, in any order: bit for bit (float32 BLAS
    kernels rounded a row differently by its place in the block, 7e-7 here)."""
    pca = ls.PCA(10).fit(digits.X)
    Z = pca.encode(digits.X)
    alone = np.vstack([pca.encode(digits.X[i : i + 1]) for i in range(50)])
    np.testing.assert_array_equal(alone, Z[:50])
    np.testing.assert_array_equal(pca.encode(digits.X[::-1])[::-1], Z)
    decoded = np.vstack([pca.decode(Z[i : i + 1]) for i in range(50)])
    np.testing.assert_array_equal(decoded, pca.decode(Z)[:50])
    # and the codes are still scikit-learn's
    np.testing.assert_allclose(Z, SkPCA(10).fit(digits.X).transform(digits.X), atol=1e-3)
