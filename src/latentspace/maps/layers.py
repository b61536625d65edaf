"""Per-point layers of a map that answer "can I trust what I see here?", computed once per map and
stored with it (``maps.store``: columns of ``map-<method>[-3d].parquet``).

``distortion``
    The share of each point's ``k`` nearest latent neighbours (the run's shared kNN graph, exact or
    HNSW) that are also among its ``k`` nearest on the map (an exact 2-D / 3-D search): 1 where the map
    keeps the neighbourhood, low where it tears it apart. O(n k) memory. Where a caller bounds the
    cost (``most``: the explorer at start-up) and a run of more rows has no stored graph, it is
    measured exactly on a seeded sample of ``DISTORTION_SAMPLE`` rows (NaN elsewhere), and its
    description states the mean with a 95% interval: building a graph of a million latents takes
    minutes (HNSW), the sample seconds.
``error``
    The reconstruction error of each item: the mean squared difference between its data row and the
    decoding of its latent (models with a decoder, runs with their source data).
``sensitivity``
    The decoder's local sensitivity: how far the output moves per unit latent move at the point,
    ``sqrt(mean_j |decode(z + h u_j) - decode(z)|^2) / h`` over ``DIRECTIONS`` orthonormal random
    directions ``u_j`` (the same for every point, so differences between points are the decoder's,
    not the draw's) and a small step ``h``. For a linear decoder ``x = W z + b`` this is the RMS of
    ``|W u_j|``; with as many directions as latent dimensions, ``|W|_F / sqrt(d)`` whatever the draw.
    Every point up to ``SENSITIVITY_ALL`` points, a seeded sample of that many beyond (NaN elsewhere;
    the layer's record says how many were measured).

Beside the layers, :class:`Layers` keeps the latents' typical neighbour distance (the median
distance of a latent to its ``k``-th nearest, from the euclidean graph), the unit in which the
explorer says how far a decoded point lies from the data (``OFF_DATA`` of them: off the data).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..progress import report

K = 10  # neighbours of the distortion layer and of the typical neighbour distance
DIRECTIONS = 4  # random unit directions per point of the sensitivity layer
SENSITIVITY_ALL = 100_000  # every point up to here; a seeded sample of this many beyond
STEP = 1e-2  # the sensitivity's step, in units of the latents' median spread per dimension
# ... a float32 decoder's outputs differenced over that step are good to about 1e-5 relative: the
# sensitivity is kept to 4 significant digits, so a linear decoder's reads one value, not noise
SENSITIVITY_DIGITS = 4
OFF_DATA = 2.0  # a latent farther than this many typical neighbour distances from every real one
_DECODE_BYTES = 32 << 20  # decoded floats held at once while measuring (per batch)
_BLOCK_ROWS = 65_536  # rows per block of the neighbour-list comparison
DISTORTION_SAMPLE = 2_000  # rows measured when a bounded distortion is sampled (see ``most``)

NAMES = ("distortion", "error", "sensitivity")
# what the page says about each layer: a title, which end is good, and one line
ABOUT = {
    "distortion": {
        "title": "map distortion (neighbours kept)",
        "good": "high",
        "per_map": True,  # differs between maps of the same latents (the others do not)
        "explain": "Share of the point's {k} nearest latent neighbours that are also among its {k}"
        " nearest on the {map}: 1 = its neighbourhood is drawn faithfully, low = the map tears it apart.",
    },
    "error": {
        "title": "reconstruction error",
        "good": "low",
        "explain": "Mean squared difference between the item and the decoder's reconstruction of its"
        " latent: high = the model does not reproduce this item well.",
    },
    "sensitivity": {
        "title": "decoder sensitivity",
        "good": "low",
        "explain": "How far the decoded output moves per unit latent move here (RMS over {directions}"
        " random directions): high = a small step in latent space changes the output a lot.",
    },
}


@dataclass
class Layers:
    """The layers of one map: ``values[name]`` (n,) float32 (NaN: not measured at that point),
    ``info[name]`` how each was measured, and the latents' typical neighbour distance."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, dict] = field(default_factory=dict)
    k: int = K
    typical_distance: float | None = None
    seconds: float = 0.0
    dims: int = 2  # of the map they describe (not stored: the map file says it)

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str) -> np.ndarray | None:
        return self.values.get(name)

    def describe(self) -> list[dict]:
        """What a page needs to list the layers as colourings: name, title, kind ("numeric"), the
        range of the measured values, which end is good, one line of explanation, how many points
        were measured, and how (``info``)."""
        out = []
        for name in NAMES:
            if name not in self.values:
                continue
            v = self.values[name]
            finite = v[np.isfinite(v)]
            info = self.info.get(name, {})
            about = ABOUT[name]
            lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (None, None)
            if name == "distortion":
                lo, hi = 0.0, 1.0  # a share: the full scale, so runs and maps compare
            explain = about["explain"].format(
                k=info.get("k", self.k),
                directions=info.get("directions", DIRECTIONS),
                map="map" if self.dims == 2 else "3-D map",
            )
            entry = {
                "name": name,
                "title": about["title"],
                "kind": "numeric",
                "range": [lo, hi],
                "good": about["good"],
                "per_map": about.get("per_map", False),
                "explain": explain,
                "measured": int(len(finite)),
                "n": int(len(v)),
                "info": info,
            }
            if len(finite) < len(v) and len(finite):  # a sample: its mean, with a 95% interval
                mean, lo95, hi95 = mean_interval(finite)
                entry.update(mean=mean, interval=[lo95, hi95])
                entry["explain"] += (
                    f" Measured on a seeded sample of {len(finite):,} of {len(v):,} points (grey: not"
                    f" measured); mean {mean:.3g} (95% interval {lo95:.3g} to {hi95:.3g})."
                )
            out.append(entry)
        return out

    def storable(self) -> Layers:
        """The layers a map file may keep: a sampled distortion is left out (``maps.store`` holds a
        distortion at every point), so it is measured again when next asked for."""
        keep = {
            name: v
            for name, v in self.values.items()
            if not (name == "distortion" and self.info.get(name, {}).get("sampled"))
        }
        info = {name: self.info.get(name, {}) for name in keep}
        return Layers(keep, info, self.k, self.typical_distance, self.seconds, self.dims)

    def meta(self) -> dict:
        """The record kept in the map file's metadata (``maps.store``)."""
        out: dict = {"k": int(self.k), "seconds": round(float(self.seconds), 3), "info": {}}
        if self.typical_distance is not None:
            out["typical_distance"] = float(self.typical_distance)
        for name in self.values:
            out["info"][name] = dict(self.info.get(name, {}))
        return out


def mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    """The mean of sampled values and its 95% interval (normal approximation: 1.96 standard errors)."""
    v = np.asarray(values, np.float64)
    mean = float(v.mean())
    half = 1.96 * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else 0.0
    return mean, mean - half, mean + half


# --- the layers, one function each --------------------------------------------------------------
def neighbours_kept(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the share of the ``k`` entries of ``a[i]`` that are also in ``b[i]`` (both (n, k)
    lists of distinct row numbers), as float32; computed block by block (O(n k) memory)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2:
        raise InputError(f"neighbour lists must have the same shape (n, k); got {a.shape} and {b.shape}")
    n, k = a.shape
    out = np.empty(n, np.float32)
    for s in range(0, n, _BLOCK_ROWS):
        aa, bb = a[s : s + _BLOCK_ROWS], b[s : s + _BLOCK_ROWS]
        out[s : s + len(aa)] = (aa[:, :, None] == bb[:, None, :]).any(2).sum(1) / np.float32(k)
    return out


def distortion(
    embedding: np.ndarray, latent_neighbours: np.ndarray, rows: np.ndarray | None = None
) -> np.ndarray:
    """The distortion layer: ``latent_neighbours`` (n, k), each point's k nearest latents (the
    run's graph), against the exact k nearest of each point on the map ``embedding`` (n, 2 or 3).
    With ``rows`` (m,), ``latent_neighbours`` (m, k) are those rows' and the answer is theirs (m,)."""
    from ..knn import exact_knn, nearest

    k = latent_neighbours.shape[1]
    emb = np.asarray(embedding, np.float32)
    if rows is None:
        on_map = exact_knn(emb, k, task="map layers: map neighbours")[0]
    else:  # a k-d tree on the map: seconds for a million points
        on_map = without_self(*nearest(emb, emb[rows], k + 1), rows)[0]
    return neighbours_kept(latent_neighbours, on_map)


def without_self(idx: np.ndarray, dist: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m, k+1) neighbours of the rows ``rows`` among all rows -> (m, k) without the row itself
    (where a duplicate ranked it later than k+1, the last is dropped)."""
    own = idx == np.asarray(rows)[:, None]
    keep = np.argsort(own, axis=1, kind="stable")[:, : idx.shape[1] - 1]
    return np.take_along_axis(idx, keep, 1), np.take_along_axis(dist, keep, 1)


@dataclass
class LatentNeighbours:
    """The k nearest latents of every row (``rows`` None: from a kNN graph) or of a seeded sample of
    rows (``rows`` (m,), exact), and how they were found (``info``: the distortion layer's record)."""

    indices: np.ndarray  # (n or m, k) int64
    distances: np.ndarray  # (n or m, k) float32
    rows: np.ndarray | None
    info: dict


def stored_graph(run, Z: np.ndarray, k: int, metric: str):
    """The run's stored kNN graph when it holds ``k`` neighbours of these latents, else None."""
    from ..knn import KnnGraph, graph_file, latents_digest

    name = graph_file(metric)
    if name not in run.config["files"]:
        return None
    g = KnnGraph.from_bytes(run.read_file(name), str(run.path / name))
    if g.latents_sha256 != latents_digest(Z) or g.k < k:
        return None
    return g.check(len(Z), metric, run.path / name)


def latent_neighbours(
    run, Z: np.ndarray, k: int, metric: str, *, graph=None, most: int | None = None, seed: int = 0
) -> LatentNeighbours:
    """Each point's ``k`` nearest latents: from ``graph``, the run's stored graph, or a new one
    (stored in the run; kept in memory when the run cannot be written); but with ``most`` rows or
    more and no stored graph, exactly for a seeded sample of ``DISTORTION_SAMPLE`` rows."""
    from ..knn import KnnGraph, nearest, run_graph

    n = len(Z)
    if graph is None or graph.k < k or graph.metric != metric or graph.n != n:
        graph = stored_graph(run, Z, k, metric)
    if graph is None and (most is None or n <= most):
        try:
            graph = run_graph(run, k, metric, Z=Z)
        except OSError:  # a read-only run: the graph is computed in memory
            graph = KnnGraph.compute(Z, k, metric)
    if graph is not None:
        idx, dist = graph.first(k)
        info = {"k": k, "graph": graph.method, "metric": metric}
        if graph.recall is not None:
            info["graph_recall"] = float(graph.recall)
        return LatentNeighbours(idx, dist, None, info)
    rows = np.sort(np.random.default_rng(seed).choice(n, min(DISTORTION_SAMPLE, n), replace=False))
    report("map layers: latent neighbours of sampled rows", 0, 1)
    idx, dist = without_self(*nearest(Z, Z[rows], k + 1, metric), rows)
    report("map layers: latent neighbours of sampled rows", 1, 1)
    info = {"k": k, "graph": "exact", "metric": metric, "measured": len(rows), "sampled": True, "seed": seed}
    return LatentNeighbours(idx, dist.astype(np.float32), rows, info)


def directions(d: int, count: int = DIRECTIONS, seed: int = 0) -> np.ndarray:
    """``min(count, d)`` orthonormal random unit directions of the latent space, (m, d) float64
    (the sensitivity layer's; the same for every point)."""
    m = max(1, min(int(count), int(d)))
    g = np.random.default_rng(seed).standard_normal((d, m))
    q, r = np.linalg.qr(g)
    return (q * np.sign(np.diag(r))).T  # signs fixed: the same directions on every platform


def latent_step(Z: np.ndarray) -> float:
    """The sensitivity's step: ``STEP`` times the median spread of the latent dimensions."""
    spread = float(np.median(np.asarray(Z, np.float64).std(0))) if len(Z) > 1 else 0.0
    return STEP * (spread if spread > 0 and math.isfinite(spread) else 1.0)


def decoder_layers(
    decode,
    Z: np.ndarray,
    X=None,
    *,
    rows: np.ndarray | None = None,
    count: int = DIRECTIONS,
    step: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray | None, np.ndarray, dict]:
    """(reconstruction error (n,) or None without ``X``, sensitivity (n,) NaN outside ``rows``,
    how the sensitivity was measured).

    ``decode``: latents (b, d) float32 -> outputs (b, ...). One decode of every latent serves both
    layers; the ``rows`` (default: all) are decoded again at ``z + h u_j`` for each direction, in
    batches of bounded size."""
    Z = np.ascontiguousarray(Z, np.float32)
    n, d = Z.shape
    U = directions(d, count, seed)
    h = float(latent_step(Z) if step is None else step)
    measure = np.ones(n, bool) if rows is None else np.zeros(n, bool)
    if rows is not None:
        measure[np.asarray(rows, np.int64)] = True
    width = int(np.prod(np.shape(decode(Z[:1]))[1:]) or 1)
    per = max(16, int(_DECODE_BYTES // (4 * width * (len(U) + 1))))
    error = np.empty(n, np.float32) if X is not None else None
    sens = np.full(n, np.nan, np.float32)
    shifts = (h * U).astype(np.float32)
    for a in range(0, n, per):
        zb = Z[a : a + per]
        base = np.asarray(decode(zb), np.float64).reshape(len(zb), -1)
        if X is not None:
            xb = np.asarray(X[a : a + len(zb)], np.float64).reshape(len(zb), -1)
            err = np.mean((base - xb) ** 2, axis=1)
            error[a : a + len(zb)] = np.minimum(err, np.finfo(np.float32).max)
        sel = np.flatnonzero(measure[a : a + len(zb)])
        if len(sel):
            moved = (zb[sel][:, None, :] + shifts[None]).reshape(-1, d)
            out = np.asarray(decode(moved), np.float64).reshape(len(sel), len(U), -1)
            sq = ((out - base[sel][:, None, :]) ** 2).sum(2).mean(1)
            sens[a + sel] = np.minimum(np.sqrt(sq) / h, np.finfo(np.float32).max)
        report("map layers: decoding", min(a + per, n), n)
    info = {"directions": int(len(U)), "step": h, "seed": int(seed), "measured": int(measure.sum())}
    return error, significant(sens, SENSITIVITY_DIGITS), info


def significant(v: np.ndarray, digits: int) -> np.ndarray:
    """``v`` (float32) rounded to ``digits`` significant digits (zeros, NaN and inf kept)."""
    v = np.asarray(v, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = 10.0 ** (np.floor(np.log10(np.abs(v))) - (digits - 1))
        out = np.where(np.isfinite(mag) & (mag > 0), np.round(v / mag) * mag, v)
    return out.astype(np.float32)


def typical_distance(Z: np.ndarray, graph=None, k: int = K, sample: int = 2000, seed: int = 0) -> float:
    """The latents' typical neighbour distance: the median distance of a latent to its ``k``-th
    nearest other latent (euclidean), from ``graph`` when it is a euclidean graph with ``k``
    neighbours, else from an exact search of ``sample`` rows."""
    n = len(Z)
    k = max(1, min(int(k), n - 1))
    if graph is not None and graph.metric == "euclidean" and graph.k >= k and graph.n == n:
        return float(np.median(graph.distances[:, k - 1]))
    from ..knn import nearest

    rows = np.sort(np.random.default_rng(seed).choice(n, min(sample, n), replace=False))
    _, dist = nearest(Z, Z[rows], k + 1)  # the row itself first (distance 0)
    return float(np.median(dist[:, k]))


# --- all of them for a map of a run ---------------------------------------------------------------
def compute_layers(
    run,
    m,
    *,
    graph=None,
    k: int = K,
    seed: int = 0,
    model=None,
    data=None,
    names=NAMES,
    neighbours: LatentNeighbours | None = None,
    reuse: Layers | None = None,
    most: int | None = None,
) -> Layers:
    """The layers ``names`` of the map ``m`` (a LatentMap of ``run``'s latents): distortion (the
    latent side from ``neighbours``, ``graph``, or :func:`latent_neighbours`, which may sample past
    ``most`` rows), error and sensitivity where the model decodes (error: where the run has its
    source data), copied from ``reuse`` (another map of the same latents) when it holds them.
    ``model`` / ``data``: the run's, when the caller has them loaded."""
    t0 = time.perf_counter()
    Z = m.Z
    n = len(Z)
    k = max(1, min(int(k), n - 1))
    metric = m.params.get("metric", "euclidean")
    out = Layers(k=k, dims=m.dims)
    if neighbours is None and ("distortion" in names or graph is not None):
        neighbours = latent_neighbours(run, Z, k, metric, graph=graph, most=most, seed=seed)
    if "distortion" in names:
        report("map layers: distortion", 0, 1)
        got = distortion(m.embedding, neighbours.indices[:, :k], neighbours.rows)
        if neighbours.rows is not None:
            full = np.full(n, np.nan, np.float32)
            full[neighbours.rows] = got
            got = full
        out.values["distortion"] = got
        out.info["distortion"] = dict(neighbours.info)
        report("map layers: distortion", 1, 1)
    if neighbours is not None and metric == "euclidean":  # the k-th neighbour's distance, median
        out.typical_distance = float(np.median(neighbours.distances[:, k - 1]))
    else:
        out.typical_distance = typical_distance(Z, None, k, seed=seed)
    decoded = [x for x in ("error", "sensitivity") if x in names]
    if reuse is not None:
        for name in [x for x in decoded if x in reuse]:
            out.values[name], out.info[name] = reuse.get(name), dict(reuse.info.get(name, {}))
            decoded.remove(name)
    model = run.load_model() if model is None and decoded else model
    if decoded and getattr(model, "has_decoder", True):
        X = None
        if run.has_source_data and "error" in decoded:
            data = run.load_dataset() if data is None else data
            X = data.X
        rows = None
        if "sensitivity" not in decoded:
            rows = np.zeros(0, np.int64)  # the error alone: one decode of each latent
        elif n > SENSITIVITY_ALL:
            rows = np.sort(np.random.default_rng(seed).choice(n, SENSITIVITY_ALL, replace=False))
        err, sens, info = decoder_layers(model.decode, Z, X, rows=rows, seed=seed)
        if err is not None:
            out.values["error"] = err
            out.info["error"] = {"measured": n}
        if "sensitivity" in decoded:
            out.values["sensitivity"] = sens
            out.info["sensitivity"] = {**info, "sampled": rows is not None}
    out.seconds = time.perf_counter() - t0
    return out
