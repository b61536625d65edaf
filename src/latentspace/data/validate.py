"""Input checks shared by every reader and model. Errors name the row, column and what is allowed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError

# Rows checked at a time: bounds the temporary boolean mask for memory-mapped inputs.
_CHUNK_ROWS = 16384


class NotNumericError(InputError, TypeError):
    """A value that cannot be read as a number (a dict, a word in an object array).

    Also a :class:`TypeError`, as NumPy and scikit-learn raise for such values, so code written
    against scikit-learn's ``check_array`` catches it as it would there.
    """


def _column_label(col: int, feature_names: Sequence[str] | None) -> str:
    if feature_names is not None and col < len(feature_names):
        return f"column {col} ({feature_names[col]!r})"
    return f"column {col}"


def first_non_finite(X: np.ndarray) -> tuple[int, int] | None:
    """Return ``(row, column)`` of the first NaN or infinity in a 2-D array, scanning in chunks."""
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        block = np.asarray(X[start : start + _CHUNK_ROWS])
        # A float64 sum of float32 values cannot overflow, so it is finite exactly when every
        # value is: one pass with no temporary mask. Only a bad block is scanned element-wise.
        if np.isfinite(np.sum(block, dtype=np.float64)):
            continue
        row, col = np.argwhere(~np.isfinite(block))[0]
        return start + int(row), int(col)
    return None


def check_array(
    X,
    *,
    name: str = "X",
    min_rows: int = 1,
    n_features: int | None = None,
    feature_names: Sequence[str] | None = None,
    expected_by: str | None = None,
) -> np.ndarray:
    """Validate data and return it as a 2-D float32 array of shape ``(n_samples, n_features)``.

    Memory-mapped float32 input and :class:`~latentspace.data.source.RowSource` views are returned
    as they are (not loaded); object arrays of numbers are converted, as scikit-learn does.
    Raises :class:`InputError` for sparse, complex, non-numeric, empty, too-short or non-2-D input, a
    wrong feature count (``expected_by`` names the model that expects ``n_features``), and for NaN
    or infinity (naming the first bad row and column). The messages use scikit-learn's wording
    where its estimator checks look for it ("Reshape your data", "n_samples = 1", ...).
    """
    from .source import RowSource

    if type(X).__module__.startswith("scipy.sparse"):
        raise InputError(
            f"{name} is a {type(X).__name__}: sparse input is not supported; convert it with .toarray()"
        )
    if isinstance(X, RowSource) or (isinstance(X, np.memmap) and X.dtype == np.float32 and X.ndim == 2):
        arr = X
    else:
        arr = _as_float32(X, name)
    if arr.ndim != 2:
        hint = (
            ". Reshape your data: X.reshape(-1, 1) for a single feature, X.reshape(1, -1) for a single sample"
            if arr.ndim < 2
            else ""
        )
        raise InputError(f"{name} must be 2-D (n_samples, n_features); got shape {arr.shape}{hint}")
    n, d = arr.shape
    if n == 0:
        raise InputError(f"{name} is empty: 0 rows")
    if d == 0:  # scikit-learn's wording, which its estimator checks look for
        raise InputError(
            f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required: a row"
            " needs at least one value"
        )
    if n < min_rows:
        raise InputError(
            f"{name} has {n} row{'s' if n != 1 else ''}; at least {min_rows} are needed here"
            f" (n_samples = {n})"
        )
    if n_features is not None and d != n_features:
        if expected_by is not None:
            raise InputError(
                f"{name} has {d} features, but {expected_by} is expecting {n_features} features as input"
            )
        raise InputError(f"{name} has {d} features, but the model was fitted with {n_features} features")
    bad = first_non_finite(arr)
    if bad is not None:
        row, col = bad
        value = float(arr[row, col])
        raise InputError(
            f"{name} contains {value} at row {row}, {_column_label(col, feature_names)}:"
            " every value must be finite (drop or impute NaN and infinity first)"
        )
    return arr


def _as_float32(X, name: str) -> np.ndarray:
    """``X`` as a float32 ndarray; complex, string and unconvertible object values are refused."""
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} could not be read as a numeric array: {exc}") from None
    if arr.dtype.kind == "c":
        raise InputError(
            f"Complex data not supported: {name} has dtype {arr.dtype}; pass real numbers (.real or abs())"
        )
    if arr.dtype.kind == "O":  # e.g. a pandas object column of numbers: convert, as scikit-learn does
        try:
            return arr.astype(np.float32)
        except (TypeError, ValueError) as exc:
            raise NotNumericError(
                f"{name} must be numeric (int or float); a value of its object array is not: {exc}"
            ) from None
    if arr.dtype.kind not in "biuf":
        raise InputError(
            f"{name} must be numeric (int or float); got dtype {arr.dtype}"
            " (strings or objects are not features)"
        )
    return arr if arr.dtype == np.float32 else arr.astype(np.float32)


def check_in_unit_interval(X: np.ndarray, *, name: str = "X") -> None:
    """Raise :class:`InputError` unless every value lies in [0, 1] (Bernoulli likelihoods need it)."""
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        block = np.asarray(X[start : start + _CHUNK_ROWS])
        bad = (block < 0) | (block > 1)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise InputError(
                f"{name} has {float(block[row, col])} at row {start + int(row)}, column {int(col)};"
                " a Bernoulli likelihood needs every value in [0, 1] (rescale the data or use a"
                " Gaussian likelihood)"
            )
