"""Train / held-out splits, reproducible from a seed and recorded in every run."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .dataset import Dataset

DEFAULT_TEST_FRACTION = 0.1


def split_mask(ds: Dataset, test_fraction: float | None = None, seed: int = 0):
    """Return ``(test_mask, info)``: a boolean mask of held-out rows and a JSON-able description.

    ``test_fraction=None`` takes the dataset's own split when it has one (MNIST: the 10,000 test
    images), otherwise 10% drawn at random from ``seed``. ``0`` holds nothing out.
    """
    if test_fraction is None and ds.test_mask is not None:
        mask = ds.test_mask
        info = {"method": "predefined", "test_fraction": round(float(mask.mean()), 6)}
    else:
        frac = DEFAULT_TEST_FRACTION if test_fraction is None else float(test_fraction)
        if not 0.0 <= frac < 1.0:
            raise InputError(f"test_fraction must be in [0, 1); got {frac}")
        n_test = int(round(frac * ds.n))
        if ds.n - n_test < 2:
            raise InputError(f"test_fraction={frac} leaves {ds.n - n_test} training rows; need 2")
        mask = np.zeros(ds.n, dtype=bool)
        mask[np.random.default_rng(seed).permutation(ds.n)[:n_test]] = True
        info = {"method": "random", "test_fraction": frac, "seed": seed}
    info.update(n_train=int((~mask).sum()), n_test=int(mask.sum()))
    return mask, info
