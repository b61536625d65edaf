"""The report card: every metric family computed the same way for every run, kept in metrics.json.

``evaluate(run)`` computes what is missing (or what was computed with other settings) and saves
after each family, so an interrupted evaluation keeps what it finished. ``compare(runs)`` lines the
cards up, marking the best value of each row.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from ..errors import InputError
from .base import NotApplicable

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
SCHEMA_VERSION = 1
MAX_LIKELIHOOD_ROWS = 5000


@dataclass
class Context:
    """What the metric families need, loaded once per evaluation."""

    run: object
    model: object
    data: object
    Z: np.ndarray
    test: np.ndarray  # bool mask of held-out rows
    k: int
    seed: int = 0
    client: object = None  # a dask.distributed Client: the neighbourhood pass runs in partitions there

    @property
    def X_test(self) -> np.ndarray:
        return np.asarray(self.data.X[self.test]) if self.test.any() else np.asarray(self.data.X)

    @property
    def X_train(self) -> np.ndarray:
        return np.asarray(self.data.X[~self.test])


def _reconstruction(c: Context) -> dict:
    from .reconstruction import reconstruction

    return {**reconstruction(c.model, c.X_test), "split": "test" if c.test.any() else "all"}


def _likelihood(c: Context) -> dict:
    from .likelihood import likelihood

    return likelihood(c.model, c.X_test[:MAX_LIKELIHOOD_ROWS], k=50, seed=c.seed)


def _neighbourhood(c: Context) -> dict:
    from ..maps.graph import run_graph
    from .neighbourhood import _query_rows, auto_sample, combine_terms, neighbourhood_scores

    graph = run_graph(c.run, c.k, Z=c.Z)  # the run's shared kNN graph of the latents
    given = graph.first(c.k)[0] if graph.exact else None  # an approximate graph is not reused
    sample = auto_sample(len(c.Z))
    if c.client is None:
        return neighbourhood_scores(c.data.X, c.Z, c.k, knn_Z=given, sample=sample, seed=c.seed)
    from ..cluster import neighbourhood_partitions

    query = _query_rows(len(c.Z), sample, c.seed)
    workers = max(1, len(c.client.scheduler_info().get("workers", {})))
    spec = c.run.config["dataset"]["spec"]
    terms = neighbourhood_partitions(c.client, c.run, spec, c.k, query, graph.exact, parts=4 * workers)
    return combine_terms(len(c.Z), c.k, *terms, sampled=len(query) < len(c.Z), seed=c.seed)


def _probes(c: Context) -> dict:
    from .probes import probes

    return probes(c.Z, c.data.X, c.data.y, c.test, seed=c.seed)


def _disentanglement(c: Context) -> dict:
    from .disentanglement import disentanglement

    return disentanglement(c.Z, c.data.factors, seed=c.seed)


def _smoothness(c: Context) -> dict:
    from .smoothness import smoothness

    return smoothness(c.model, c.X_test, c.Z, seed=c.seed)


def _generation(c: Context) -> dict:
    from .generation import generation

    y = c.data.y
    return generation(
        c.model,
        c.X_train,
        None if y is None else y[~c.test],
        c.X_test,
        c.run.config["dataset"]["sha256"],
        seed=c.seed,
    )


# name -> (function, the settings its result depends on)
FAMILIES: dict[str, tuple[Callable[[Context], dict], Callable[[Context], dict]]] = {
    "reconstruction": (_reconstruction, lambda c: {}),
    "likelihood": (_likelihood, lambda c: {"iwae_k": 50, "rows": MAX_LIKELIHOOD_ROWS}),
    "neighbourhood": (_neighbourhood, lambda c: {"k": c.k}),
    "probes": (_probes, lambda c: {"knn_k": 5}),
    "disentanglement": (_disentanglement, lambda c: {}),
    "smoothness": (_smoothness, lambda c: {}),
    "generation": (_generation, lambda c: {}),
}

# how to read a value: +1 higher is better, -1 lower is better (rows not listed are not ranked)
_LOWER = (
    "mse",
    "bce",
    "bits_per_dim",
    "fd_self",
    "kd_self",
    "lipschitz",
    "path_ratio",
    "second_difference",
    "perturbation_relative",
)
_HIGHER = (
    "trustworthiness",
    "continuity",
    "knn_preservation",
    "probe_latent",
    "knn_latent",
    "mig",
    "dci_",
    "sap",
    "elbo_nats",
    "iwae_nats",
    "active_units",
)


def direction(key: str) -> int:
    if key.endswith(("_std", "_real_vs_real", "_raw", "_k", "_rows")) or key in ("n", "k", "samples"):
        return 0
    if any(s in key for s in _LOWER):
        return -1
    if any(s in key for s in _HIGHER):
        return 1
    return 0


def parse_metrics(spec: str | None) -> list[str]:
    """``"reconstruction,neighbourhood"`` -> names; None or "all" -> every family."""
    if spec is None or spec.strip() in ("", "all"):
        return list(FAMILIES)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise InputError(f"unknown metric {', '.join(unknown)}; available: {', '.join(FAMILIES)}")
    return names


def _context(run, k: int, seed: int) -> Context:
    table = run.latents()
    if "split" in table.column_names:
        test = np.asarray(table["split"].to_numpy(zero_copy_only=False) == "test")
    else:
        test = np.zeros(table.num_rows, dtype=bool)
    Z = run.latent_matrix()
    if not np.all(np.isfinite(Z)):
        row = int(np.flatnonzero(~np.isfinite(Z).all(1))[0])
        raise InputError(f"the latents of {run.name} contain NaN or infinity (first at row {row})")
    c = Context(run=run, model=run.load_model(), data=run.load_dataset(), Z=Z, test=test, k=int(k), seed=seed)
    if not 1 <= c.k < len(Z) / 2:
        raise InputError(f"--k must be at least 1 and below n/2 = {len(Z) / 2:g}; got {k}")
    return c


def evaluate(
    run,
    metrics: list[str] | None = None,
    k: int = 10,
    force: bool = False,
    seed: int = 0,
    dask: str | None = None,
) -> dict:
    """Compute the missing report-card entries of ``run`` and save them in its metrics.json.

    ``dask``: a scheduler address or "local": the neighbourhood pass (the n^2 part) runs in row
    partitions on that Dask cluster, with the same result."""
    import contextlib

    names = metrics or list(FAMILIES)
    card = run.read_json(METRICS_FILE) or {"schema_version": SCHEMA_VERSION, "results": {}}
    c = _context(run, k, seed)
    with contextlib.ExitStack() as stack:
        if dask:
            from ..cluster import connect

            c.client = stack.enter_context(connect(dask))
        _evaluate_families(run, c, names, card, force)
    return card


def _evaluate_families(run, c: Context, names: list[str], card: dict, force: bool) -> None:
    for name in names:
        fn, settings = FAMILIES[name]
        params = settings(c)
        old = card["results"].get(name)
        if old is not None and old.get("params") == params and not force:
            continue
        t0 = time.perf_counter()
        try:
            entry = {"params": params, "values": fn(c)}
        except NotApplicable as exc:
            entry = {"params": params, "skipped": str(exc)}
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        card["results"][name] = entry
        card["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        run.write_file(METRICS_FILE, _dumps(card))  # keep each finished family
        log.info("%s done in %.1f s", name, entry["seconds"])


def _dumps(card: dict) -> bytes:
    import json

    return (json.dumps(card, indent=1, sort_keys=True, default=float) + "\n").encode()


def rows(card: dict, names: list[str] | None = None) -> list[tuple[str, str, object]]:
    """Flatten a card into (family, key, value) rows; skipped families give one row with the reason."""
    out = []
    for name in names or list(card["results"]):
        entry = card["results"].get(name)
        if entry is None:
            continue
        if "skipped" in entry:
            out.append((name, "skipped", entry["skipped"]))
            continue
        for key, value in entry["values"].items():
            if isinstance(value, int | float | str) and not isinstance(value, bool):
                out.append((name, key, value))
    return out


def same_data_check(runs, force: bool) -> None:
    """Refuse to compare runs fitted on different data or splits, unless ``force``."""
    first = runs[0].config
    for other in runs[1:]:
        cfg = other.config
        problems = []
        if cfg["dataset"]["sha256"] != first["dataset"]["sha256"]:
            problems.append("different data")
        if cfg["split"] != first["split"]:
            problems.append("different splits")
        if problems and not force:
            raise InputError(
                f"{runs[0].name} and {other.name} were fitted on {' and '.join(problems)};"
                " their metrics are not comparable (pass --force to compare anyway)"
            )


def compare_table(runs, cards) -> tuple[list[str], list[list[object]], list[int | None]]:
    """Header, body rows (family, key, value per run) and the index of the best run per row."""
    keys: list[tuple[str, str]] = []
    for card in cards:
        for fam, key, _ in rows(card):
            if (fam, key) not in keys:
                keys.append((fam, key))
    values = [{(f, k): v for f, k, v in rows(card)} for card in cards]
    body, best = [], []
    for fam, key in keys:
        cells = [v.get((fam, key)) for v in values]
        body.append([fam, key, *cells])
        sign = direction(key)
        nums = [(i, x) for i, x in enumerate(cells) if isinstance(x, int | float)]
        best.append(max(nums, key=lambda t: sign * t[1])[0] if sign and len(nums) > 1 else None)
    return ["family", "metric", *[r.name for r in runs]], body, best


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def compare_html(header, body, best, title: str = "latentspace: runs compared") -> str:
    """A self-contained HTML page with the comparison table (best value per row marked)."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    lines = []
    for row, b in zip(body, best, strict=True):
        cells = [f"<td>{esc(fmt(row[0]))}</td>", f"<td>{esc(fmt(row[1]))}</td>"]
        for i, v in enumerate(row[2:]):
            mark = ' class="best"' if b == i else ""
            cells.append(f"<td{mark}>{esc(fmt(v))}{' ★' if b == i else ''}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:nth-child(-n+2){{text-align:left}}
th{{background:#f3f3f3}}.best{{font-weight:bold;background:#e8f5e9}}</style></head><body>
<h1>{esc(title)}</h1><p>★ marks the best value of each row where higher or lower is clearly better.</p>
<table><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table></body></html>
"""
