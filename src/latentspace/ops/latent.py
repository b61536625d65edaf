"""Steering a latent space through the model contract alone: one implementation serves every model.

Functions take a fitted model (``encode``, ``decode``, ``sample_latent``, ``latent_dim``) and
return plain arrays in small dataclasses, so figures, the CLI and the explorer share them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.validate import check_array
from ..errors import InputError


@dataclass
class LatentPath:
    """Latent points along a path and what the decoder makes of them."""

    Z: np.ndarray  # (steps, latent_dim)
    X: np.ndarray  # (steps, n_features)
    t: np.ndarray  # (steps,) position along the path, or the alphas of an attribute edit


@dataclass
class Traversal:
    """One row per latent dimension: the item's code with that dimension moved."""

    Z: np.ndarray  # (len(dims), steps, latent_dim)
    X: np.ndarray  # (len(dims), steps, n_features)
    dims: list[int]
    offsets: np.ndarray  # (steps,) in units of each dimension's spread (std) over the data
    spread: np.ndarray  # (len(dims),) the std of each dimension over the reference latents


# The most one operation builds: its latents and decoded items as float32, 2 GiB in all. A sample
# of a billion items (or a path of a hundred million steps) is refused before anything is allocated.
MAX_OUTPUT_BYTES = 2 << 30


def check_output_rows(rows: int, latent_dim: int, n_features: int, name: str) -> int:
    """Refuse ``rows`` decoded items whose latents and data (float32) pass ``MAX_OUTPUT_BYTES``.

    ``name`` is what asked for the rows (a parameter, or the CLI's option), for the message."""
    per_row = 4 * (int(latent_dim) + int(n_features))
    limit = max(1, MAX_OUTPUT_BYTES // per_row)
    if int(rows) > limit:
        raise InputError(
            f"{name} asks for {int(rows):,} decoded items ({int(rows) * per_row / 2**30:,.1f} GiB);"
            f" at most {limit:,} fit in the {MAX_OUTPUT_BYTES / 2**30:g} GiB one operation may build"
            f" ({latent_dim} latent + {n_features} feature values of 4 bytes each)"
        )
    return int(rows)


def _check_rows(model, rows: int, name: str) -> int:
    return check_output_rows(rows, int(model.latent_dim), int(model.n_features_in_), name)


def _check_steps(steps: int) -> int:
    if int(steps) < 2:
        raise InputError(f"steps must be at least 2 (the two endpoints); got {steps}")
    return int(steps)


def as_latent(model, v, *, name: str = "vector", space: str = "auto") -> np.ndarray:
    """A data item (n_features values) or a latent vector (latent_dim values) -> latent, (L,).

    ``space`` may force "data" or "latent" when both lengths are equal.
    """
    L, d = int(model.latent_dim), int(model.n_features_in_)
    arr = np.asarray(v, dtype=np.float32).reshape(-1)
    if space == "auto":
        if len(arr) == d and len(arr) != L:
            space = "data"
        elif len(arr) == L:
            space = "latent"
        else:
            raise InputError(
                f"{name} has {len(arr)} values; expected a data item ({d} values) or a latent"
                f" vector ({L} values)"
            )
    expected = L if space == "latent" else d
    row = check_array(arr[None, :], name=name, n_features=expected)
    return row[0] if space == "latent" else model.encode(row)[0]


def sample(model, n: int, seed: int = 0) -> LatentPath:
    """``n`` latents from the model's prior and their decoded items (``t`` is 0..n-1)."""
    if int(n) < 1:
        raise InputError(f"n must be at least 1; got {n}")
    Z = model.sample_latent(_check_rows(model, n, "n"), random_state=seed)
    return LatentPath(Z=Z, X=model.decode(Z), t=np.arange(len(Z), dtype=np.float64))


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation of direction with linearly interpolated norm, shape (len(t), L).

    The direction moves along the great circle from a/|a| to b/|b| (Shoemake 1985; White 2016,
    "Sampling generative networks"); the norm goes linearly from |a| to |b|, so with Gaussian
    priors the path stays in the shell where the prior's mass is, unlike lerp, which cuts inside it.
    """
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return lerp(a, b, t)
    ua, ub = a / na, b / nb
    omega = float(np.arccos(np.clip(ua @ ub, -1.0, 1.0)))
    t = t[:, None]
    if omega < 1e-6:  # parallel: the circle is a point
        direction = ua[None, :] * np.ones_like(t)
    else:
        direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return (((1 - t) * na + t * nb) * direction).astype(np.float32)


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    t = t[:, None]
    return ((1 - t) * a + t * b).astype(np.float32)


def latent_path(za, zb, steps: int = 10, method: str = "lerp") -> tuple[np.ndarray, np.ndarray]:
    """``steps`` latents from ``za`` to ``zb`` (lerp or slerp), endpoints included, and their
    positions ``t`` in [0, 1]: the path alone, for a model with no decoder (whose nearest real items
    stand in for decoded ones)."""
    methods = {"lerp": lerp, "slerp": slerp}
    if method not in methods:
        raise InputError(f"method must be one of {', '.join(methods)}; got {method!r}")
    t = np.linspace(0.0, 1.0, _check_steps(steps))
    za, zb = np.asarray(za, dtype=np.float64).reshape(-1), np.asarray(zb, dtype=np.float64).reshape(-1)
    return methods[method](za, zb, t), t


def interpolate(model, a, b, steps: int = 10, method: str = "lerp", space: str = "auto") -> LatentPath:
    """Decode ``steps`` points between ``a`` and ``b`` (data items or latent vectors)."""
    steps = _check_rows(model, _check_steps(steps), "steps")
    if method not in ("lerp", "slerp"):
        raise InputError(f"method must be one of lerp, slerp; got {method!r}")
    za, zb = as_latent(model, a, name="a", space=space), as_latent(model, b, name="b", space=space)
    Z, t = latent_path(za, zb, steps, method)
    return LatentPath(Z=Z, X=model.decode(Z), t=t)


def parse_dims(dims, latent_dim: int) -> list[int]:
    """``[0, 3]``, ``"0-7"``, ``"0,2,5"`` or ``None`` (all) -> a list of valid dimension indices."""
    if dims is None:
        return list(range(latent_dim))
    if isinstance(dims, str):
        out: list[int] = []
        for part in dims.split(","):
            lo, sep, hi = part.strip().partition("-")
            try:
                first, last = int(lo), int(hi if sep else lo)
            except ValueError:
                raise InputError(f"dims must look like 0-7 or 0,2,5; got {dims!r}") from None
            if last - first >= max(latent_dim, 1000):  # wider than the latent: refused unbuilt
                raise InputError(
                    f"dims {part.strip()} out of range: the latent has dimensions 0..{latent_dim - 1}"
                )
            out += range(first, last + 1)
        dims = out
    dims = [int(d) for d in dims]
    bad = [d for d in dims if not 0 <= d < latent_dim]
    if bad or not dims:
        raise InputError(f"dims {bad or dims} out of range: the latent has dimensions 0..{latent_dim - 1}")
    return dims


def traverse(model, z, dims=None, span: float = 2.0, steps: int = 7, *, reference: np.ndarray) -> Traversal:
    """Move one dimension at a time from the item's value by -span..+span times that dimension's
    standard deviation over ``reference`` (the data's latents, (n, L)) and decode."""
    steps = _check_steps(steps)
    if not np.isfinite(span) or span <= 0:
        raise InputError(f"span must be a positive number of standard deviations; got {span}")
    z0 = as_latent(model, z, name="z")
    dims = parse_dims(dims, int(model.latent_dim))
    _check_rows(model, len(dims) * steps, "steps x dims")
    ref = check_array(reference, name="reference latents", n_features=int(model.latent_dim))
    spread = np.asarray(ref, dtype=np.float64).std(axis=0)[dims]
    offsets = np.linspace(-span, span, steps)
    Z = np.repeat(z0[None, None, :], len(dims), axis=0).repeat(steps, axis=1).astype(np.float32)
    for row, (dim, s) in enumerate(zip(dims, spread, strict=True)):
        Z[row, :, dim] = z0[dim] + offsets * s
    X = model.decode(Z.reshape(-1, Z.shape[-1])).reshape(len(dims), steps, -1)
    return Traversal(Z=Z, X=X, dims=dims, offsets=offsets, spread=spread)


def attribute_vector(model, X, mask, vs=None, method: str = "mean", *, Z=None) -> np.ndarray:
    """The latent direction from group B (``vs``, default: the rest) to group A (``mask``).

    ``method="mean"``: the difference of the group means. ``method="linear"``: the unit normal of
    a logistic-regression boundary between the groups, scaled so that alpha = 1 moves as far along
    it as the group means are apart. Pass ``Z`` to reuse latents already computed for ``X``.
    """
    mask = np.asarray(mask, dtype=bool)
    other = ~mask if vs is None else np.asarray(vs, dtype=bool)
    Z = model.encode(X) if Z is None else np.asarray(Z)
    if mask.shape != (len(Z),) or other.shape != (len(Z),):
        raise InputError(f"group masks must have one entry per row ({len(Z)})")
    for name, m in (("group A", mask), ("group B", other)):
        if m.sum() < 1:
            raise InputError(f"{name} selects no rows")
    za, zb = Z[mask].astype(np.float64), Z[other].astype(np.float64)
    diff = za.mean(0) - zb.mean(0)
    if method == "mean":
        return diff.astype(np.float32)
    if method != "linear":
        raise InputError(f"method must be 'mean' or 'linear'; got {method!r}")
    from sklearn.linear_model import LogisticRegression

    both = np.concatenate([za, zb])
    y = np.r_[np.ones(len(za)), np.zeros(len(zb))]
    scale = both.std(0) + 1e-12
    clf = LogisticRegression(max_iter=2000).fit(both / scale, y)
    w = clf.coef_[0] / scale  # normal of the boundary in latent coordinates
    w /= np.linalg.norm(w)
    return (w * float(diff @ w)).astype(np.float32)


def apply(z, vector, alpha) -> np.ndarray:
    """``z + alpha * vector``; an array of alphas gives one row each, shape (len(alphas), L)."""
    z = np.asarray(z, dtype=np.float32)
    v = np.asarray(vector, dtype=np.float32)
    if z.shape != v.shape:
        raise InputError(f"z has shape {z.shape} but the vector has shape {v.shape}")
    alphas = np.atleast_1d(np.asarray(alpha, dtype=np.float32))
    if not np.all(np.isfinite(alphas)):
        raise InputError("alpha must be finite")
    out = z[None, :] + alphas[:, None] * v[None, :]
    return out[0] if np.ndim(alpha) == 0 else out


def edit(model, z, vector, alphas) -> LatentPath:
    """Decode ``z + alpha * vector`` for each alpha."""
    z0 = as_latent(model, z, name="z")
    _check_rows(model, np.size(alphas), "alphas")
    Z = apply(z0, vector, np.asarray(alphas, dtype=np.float32).reshape(-1))
    return LatentPath(Z=Z, X=model.decode(Z), t=np.asarray(alphas, dtype=np.float64).reshape(-1))


def denoise(model, X) -> np.ndarray:
    """Clean ``X`` with a model that can: a denoising autoencoder, or PCA's projection."""
    if not hasattr(model, "denoise"):
        from ..models.registry import available_models, get_model_class

        def can(name: str) -> bool:
            try:
                return hasattr(get_model_class(name), "denoise")
            except InputError:  # a plugin that cannot be loaded denoises nothing
                return False

        able = [m for m in available_models() if can(m)]
        raise InputError(f"model {model.model_name!r} cannot denoise; models that can: {', '.join(able)}")
    return model.denoise(X)
