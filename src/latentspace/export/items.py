"""What every export carries, read from a run once: the latents, a 2-D map, the per-item columns a
person filters by (label names, split, factors, metadata under the user's own names), the nearest
neighbours and, for image data, each item's picture."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

log = logging.getLogger(__name__)

NEIGHBOURS = 15  # per row, as Embedding Atlas computes them itself (UMAP's default)
RESERVED = ("row", "vector", "projection_x", "projection_y", "neighbors", "image")


@dataclass
class Exported:
    """One run, ready to be written in another tool's format."""

    name: str
    Z: np.ndarray  # (n, k) float32
    columns: object  # pyarrow.Table: row, label, split, factor_*, metadata (n rows)
    maps: dict[str, np.ndarray] = field(default_factory=dict)  # method -> (n, 2) float32, stored maps
    map_method: str | None = None  # the map shown (Embedding Atlas's x/y)
    map_note: str = ""
    info: dict = field(default_factory=dict)  # what the files record about their source

    @property
    def n(self) -> int:
        return len(self.Z)

    @property
    def xy(self) -> np.ndarray | None:
        return None if self.map_method is None else self.maps[self.map_method]


def item_columns(run):
    """``row``, ``label`` (its names, as text), ``split``, ``factor_<name>`` and the imported
    metadata under the user's own names (``meta_<name>`` where the name is taken)."""
    import pyarrow as pa

    from ..data.dataset import label_name

    table = run.latents()
    k = run.config["latent_dim"]
    z = {f"z_{j}" for j in range(k)}
    names = run.config["dataset"].get("label_names")
    cols: dict[str, object] = {}
    for c in table.column_names:
        if c in z:
            continue
        col = table[c]
        if c == "label":
            codes = col.to_numpy()
            values = np.unique(codes)
            lookup = {v: label_name(v, names) for v in values.tolist()}
            col = pa.array([lookup[v] for v in codes.tolist()], pa.string()).dictionary_encode()
        if c.startswith("meta_") and c[5:] not in table.column_names and c[5:] not in RESERVED:
            c = c[5:]
        cols[c] = col
    first = [c for c in ("row", "label", "split") if c in cols]  # what a tool colours by first
    return pa.table({c: cols[c] for c in first + [c for c in cols if c not in first]})


def gather(run, map_method: str | None = None) -> Exported:
    """The run's latents, item columns and 2-D maps: every stored one, ``map_method``'s shown (an
    error when it is not stored), else the preferred stored map, else a PCA projection fitted now
    (with a note saying so)."""
    from ..maps.store import best_map, load_map, stored_maps

    stored = [m for m, d in stored_maps(run) if d == 2]
    if map_method is not None and map_method not in stored:
        raise InputError(
            f"--map {map_method}: {run.name} has no 2-D {map_method} map"
            f" (it has: {', '.join(stored) or 'none'});"
            f" make it with `latentspace map {run.path} --method {map_method}`"
        )
    maps = {m: load_map(run, m).embedding.astype(np.float32) for m in stored}
    shown, note = map_method, ""
    if shown is None:
        m, note = best_map(run)
        if m is not None:
            shown = m.method
            maps.setdefault(shown, m.embedding.astype(np.float32))
    out = Exported(
        name=run.name,
        Z=run.latent_matrix(),
        columns=item_columns(run),
        maps=maps,
        map_method=shown,
        map_note=note if shown not in stored else "",
    )
    out.info = {
        "run": run.name,
        "model": run.model_name,
        "latent_dim": int(run.config["latent_dim"]),
        "data": run.config["dataset"].get("name", ""),
        "map": shown or "",
    }
    return out


def neighbours(run, Z: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray, str]:
    """(ids (n, k) int64, distances (n, k) float32, how found) of each latent's nearest others,
    Euclidean, nearest first: the run's stored graph where it holds k, else computed now (and not
    written into the run)."""
    from ..knn import KnnGraph, graph_file, latents_digest

    k = max(0, min(k, len(Z) - 1))
    name = graph_file("euclidean")
    if k and name in run.config["files"]:
        graph = KnnGraph.from_bytes(run.read_file(name), str(run.path / name))
        if graph.latents_sha256 == latents_digest(Z) and graph.k >= k:
            graph.check(len(Z), "euclidean", run.path / name)
            ids, dist = graph.first(k)
            return ids.astype(np.int64), dist.astype(np.float32), f"the run's {graph.method} graph"
    if not k:
        return np.zeros((len(Z), 0), np.int64), np.zeros((len(Z), 0), np.float32), "none"
    graph = KnnGraph.compute(Z, k, "euclidean")
    return graph.indices.astype(np.int64), graph.distances.astype(np.float32), f"{graph.method} search"


def pictures(run):
    """A :class:`~latentspace.runfolder.items.RunItems` when the run's items are images, else None."""
    from ..runfolder.items import RunItems

    items = RunItems(run)
    return items if items.shows_images else None
