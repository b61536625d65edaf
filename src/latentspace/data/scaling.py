"""Per-feature standardisation of the data a model learns from, and the rule that chooses it.

A model fitted with ``scale="standard"`` keeps a :class:`Scaling` (each feature's mean and standard
deviation over the training rows): the data are standardised on the way in (fit, encode, scores)
and the standardisation is undone on the way out (decode, samples), so that everything a user sees
is in the data's own units. The scaling is part of the model's state (``input_scaling.mean`` and
``input_scaling.std`` in model.safetensors) and is checked when a run is opened.

``latentspace fit --scale auto`` (the default) standardises tabular data whose feature scales
differ (:func:`resolve`): the data are not images, not every value lies in [0, 1], and the largest
feature standard deviation is more than AUTO_RATIO times the smallest non-zero one. Images are left
alone: their pixels share one scale, and blank border pixels (standard deviation 0) would make every
ratio infinite; so are tables of values in [0, 1] (pixels without their shape, proportions, one-hot
columns), which share one range by construction and may be modelled as Bernoulli variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .source import RowSource, is_streamed

AUTO_RATIO = 10.0  # --scale auto standardises tables whose feature standard deviations differ by more
STATE_MEAN, STATE_STD = "input_scaling.mean", "input_scaling.std"  # names in model.safetensors
SCALES = ("auto", "standard", "none")
_BLOCK = 8192


@dataclass(frozen=True)
class FeatureStats:
    """Each feature's mean, (population) standard deviation, least and greatest value (float64)."""

    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def unit_interval(self) -> bool:
        """Whether every value lies in [0, 1]."""
        return bool(np.all(self.low >= 0.0) and np.all(self.high <= 1.0))


def feature_stats(X) -> FeatureStats:
    """:class:`FeatureStats` of the rows of ``X``, read in blocks (memory maps and row sources stay on
    disk). Sums are taken about the first block's mean, so that a large offset cancels no
    significant digits."""
    n, d = X.shape
    shift = np.asarray(X[: min(n, 1024)], dtype=np.float64).mean(axis=0)
    total, sq = np.zeros(d), np.zeros(d)
    low, high = np.full(d, np.inf), np.full(d, -np.inf)
    for start in range(0, n, _BLOCK):
        raw = np.asarray(X[start : start + _BLOCK], dtype=np.float64)
        low, high = np.minimum(low, raw.min(axis=0)), np.maximum(high, raw.max(axis=0))
        block = raw - shift
        total += block.sum(axis=0)
        sq += np.einsum("ij,ij->j", block, block)
    offset = total / n
    var = np.maximum(sq / n - offset**2, 0.0)
    return FeatureStats(shift + offset, np.sqrt(var), low, high)


def constant(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Features that do not vary (within float32 rounding of their mean)."""
    return (std == 0) | (std <= 1e-6 * np.abs(mean))


def std_ratio(mean: np.ndarray, std: np.ndarray) -> tuple[float, int, int]:
    """(largest over smallest standard deviation among the varying features, index of the largest,
    index of the smallest); (1.0, -1, -1) when fewer than two features vary."""
    varying = np.flatnonzero(~constant(mean, std))
    if len(varying) < 2:
        return 1.0, -1, -1
    hi = int(varying[np.argmax(std[varying])])
    lo = int(varying[np.argmin(std[varying])])
    return float(std[hi] / std[lo]), hi, lo


@dataclass(frozen=True)
class ScaleChoice:
    """What ``--scale`` resolved to for some data, and why."""

    requested: str  # auto, standard or none
    scale: str  # standard or none
    ratio: float | None  # largest over smallest varying feature std (None for images)
    largest: int = -1  # the features with the largest and smallest std
    smallest: int = -1
    unit_interval: bool = False  # every value lies in [0, 1]

    def reason(self, feature_names=None) -> str:
        """One clause saying why (for the log)."""

        def name(j: int) -> str:
            return repr(feature_names[j]) if feature_names and 0 <= j < len(feature_names) else f"feature {j}"

        if self.ratio is None:
            return "images are left in their units"
        spread = (
            f"feature standard deviations differ {self.ratio:,.3g}-fold ({name(self.largest)} against"
            f" {name(self.smallest)})"
            if self.largest >= 0
            else "fewer than two features vary"
        )
        if self.requested != "auto":
            return f"--scale {self.requested}; {spread}"
        if self.unit_interval:
            return f"{spread}, but every value lies in [0, 1]: one range for all"
        limit = (
            f"more than {AUTO_RATIO:g}-fold" if self.scale == "standard" else f"at most {AUTO_RATIO:g}-fold"
        )
        return f"{spread}: {limit}"


def resolve(requested: str, X, is_image: bool) -> ScaleChoice:
    """The scaling ``--scale requested`` means for training rows ``X``: "standard" or "none" as
    asked; "auto": "standard" for data that are not images, not all in [0, 1], whose largest
    feature standard deviation is more than AUTO_RATIO times the smallest non-zero one; "none"
    otherwise."""
    return resolve_stats(requested, feature_stats(X), is_image=is_image)


def resolve_stats(requested: str, stats: FeatureStats, *, is_image: bool) -> ScaleChoice:
    """:func:`resolve` from the training rows' :class:`FeatureStats`."""
    if requested not in SCALES:
        raise InputError(f"--scale must be one of {', '.join(SCALES)}; got {requested!r}")
    if is_image:
        return ScaleChoice(requested, "none" if requested == "auto" else requested, None)
    ratio, hi, lo = std_ratio(stats.mean, stats.std)
    if requested == "auto":
        differ = ratio > AUTO_RATIO and not stats.unit_interval
        return ScaleChoice(requested, "standard" if differ else "none", ratio, hi, lo, stats.unit_interval)
    return ScaleChoice(requested, requested, ratio, hi, lo, stats.unit_interval)


class ScaledRows(RowSource):
    """Rows of ``base`` (a memory map or a RowSource) standardised by ``scaling`` as they are read."""

    def __init__(self, base, scaling: Scaling):
        self.base, self.scaling = base, scaling
        self.shape = (int(base.shape[0]), int(base.shape[1]))
        self.random_access = getattr(base, "random_access", True)

    def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
        return self.scaling.apply(np.asarray(self.base[rows], dtype=np.float32))

    def _read_range(self, start: int, stop: int) -> np.ndarray:
        return self.scaling.apply(np.asarray(self.base[start:stop], dtype=np.float32))


@dataclass(frozen=True, eq=False)
class Scaling:
    """A per-feature standardisation: ``(x - mean) / std``, undone by ``y * std + mean``.

    ``mean`` and ``std`` are float32 arrays of shape (n_features,); every ``std`` is positive (a
    feature that does not vary keeps std 1: it is only centred)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X) -> Scaling:
        """The standardisation of the rows of ``X`` (read in blocks)."""
        stats = feature_stats(X)
        std = np.where(constant(stats.mean, stats.std), 1.0, stats.std)
        return cls(stats.mean.astype(np.float32), std.astype(np.float32))

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    @property
    def log_det(self) -> float:
        """sum(log std): what a density of standardised rows loses in nats when read in data units
        (log p(x) = log p((x - mean) / std) - log_det)."""
        return float(np.sum(np.log(self.std.astype(np.float64))))

    def apply(self, X):
        """Standardised rows: a float32 array for data in memory; a :class:`ScaledRows` view, read
        block by block, for data on disk."""
        if is_streamed(X):
            return ScaledRows(X, self)
        return ((np.asarray(X, dtype=np.float32) - self.mean) / self.std).astype(np.float32, copy=False)

    def undo(self, Y) -> np.ndarray:
        """Standardised rows back in the data's units (float32)."""
        return (np.asarray(Y, dtype=np.float32) * self.std + self.mean).astype(np.float32, copy=False)

    # --- persistence ----------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        return {STATE_MEAN: self.mean, STATE_STD: self.std}

    @classmethod
    def from_state(cls, tensors: dict, n_features: int, scale: str, owner: str) -> Scaling | None:
        """The scaling kept in a model's tensors, checked: present exactly when ``scale`` is
        "standard", two float vectors of ``n_features`` finite values, every std positive. A run is
        untrusted input: a tampered scaling raises :class:`InputError` naming what is wrong."""
        have = [k for k in (STATE_MEAN, STATE_STD) if k in tensors]
        if scale != "standard":
            if have:
                raise InputError(f"{owner}: scale is {scale!r}, yet the state holds a scaling ({have[0]})")
            return None
        if len(have) != 2:
            missing = STATE_STD if STATE_MEAN in have else STATE_MEAN
            raise InputError(f"{owner}: scale is 'standard', and the state has no {missing}")
        mean, std = (np.asarray(tensors[k]) for k in (STATE_MEAN, STATE_STD))
        for key, arr in ((STATE_MEAN, mean), (STATE_STD, std)):
            if arr.dtype.kind != "f" or arr.shape != (n_features,):
                raise InputError(
                    f"{owner}: {key} must be {n_features} floats (one per feature); got {arr.dtype}"
                    f" of shape {list(arr.shape)}"
                )
            if not np.all(np.isfinite(arr)):
                raise InputError(f"{owner}: {key} holds NaN or infinity")
        if not np.all(std > 0):
            j = int(np.flatnonzero(~(std > 0))[0])
            raise InputError(f"{owner}: {STATE_STD} must be positive; feature {j} has {float(std[j]):g}")
        return cls(mean.astype(np.float32), std.astype(np.float32))
