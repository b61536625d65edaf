"""The evaluate stage: a run's report card, every metric family computed the same way for every run
and kept in its metrics.json.

``evaluate(run)`` loads what the families need once (model, data, latents, the run's kNN graph),
computes what is missing (or what was computed with other settings) and saves after each family, so
an interrupted evaluation keeps what it finished. The metrics themselves are the pure functions of
:mod:`latentspace.metrics`; reading a card (rows, the comparison table) is :mod:`latentspace.metrics.card`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from ..errors import InputError
from ..metrics.base import NotApplicable

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
    from ..metrics.reconstruction import reconstruction

    return {**reconstruction(c.model, c.X_test), "split": "test" if c.test.any() else "all"}


def _likelihood(c: Context) -> dict:
    from ..metrics.likelihood import likelihood

    return likelihood(c.model, c.X_test[:MAX_LIKELIHOOD_ROWS], k=50, seed=c.seed)


def _neighbourhood(c: Context) -> dict:
    from ..knn import run_graph
    from ..metrics.neighbourhood import _query_rows, auto_sample, combine_terms, neighbourhood_scores

    graph = run_graph(c.run, c.k, Z=c.Z)  # the run's shared kNN graph of the latents
    given = graph.first(c.k)[0] if graph.exact else None  # an approximate graph is not reused
    sample = auto_sample(len(c.Z), c.data.d + c.Z.shape[1])  # sampled, with intervals, where exact is slow
    if c.client is None:
        return neighbourhood_scores(c.data.X, c.Z, c.k, knn_Z=given, sample=sample, seed=c.seed)
    from ..cluster import neighbourhood_partitions

    query = _query_rows(len(c.Z), sample, c.seed)
    workers = max(1, len(c.client.scheduler_info().get("workers", {})))
    spec = c.run.config["dataset"]["spec"]
    terms = neighbourhood_partitions(c.client, c.run, spec, c.k, query, graph.exact, parts=4 * workers)
    return combine_terms(len(c.Z), c.k, *terms, sampled=len(query) < len(c.Z), seed=c.seed)


def _probes(c: Context) -> dict:
    from ..metrics.probes import probes

    out = probes(c.Z, None, c.data.y, c.test, seed=c.seed)
    if c.run.has_source_data:
        out.update(_raw_probes(c))
    return out


def _raw_probes(c: Context) -> dict:
    """The probes on the raw data: the same for every run on the same data, split and seed, so
    they are computed once and cached (on MNIST they are most of the family's 50 s: a logistic
    regression and a kNN vote in 784 dimensions). A cache entry that is not two accuracies in
    [0, 1] is recomputed."""
    import hashlib

    from ..atomic import atomic_write
    from ..data.mnist import cache_dir
    from ..metrics.probes import probes

    split = hashlib.sha256(np.packbits(c.test).tobytes()).hexdigest()[:16]
    name = f"{c.run.config['dataset']['sha256'][:32]}-{split}-k5-s{c.seed}.json"
    path = cache_dir() / "raw-probes" / name
    keys = ("linear_probe_raw", "knn_raw")
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(path.read_bytes()[:1000])
        if isinstance(cached, dict) and all(
            isinstance(cached.get(k), float) and 0 <= cached[k] <= 1 for k in keys
        ):
            return {k: cached[k] for k in keys}
    raw = probes(np.asarray(c.data.X), None, c.data.y, c.test, seed=c.seed)  # the raw data as "latents"
    out = {"linear_probe_raw": raw["linear_probe_latent"], "knn_raw": raw["knn_latent"]}
    with contextlib.suppress(OSError):  # a cache that cannot be written costs time, not results
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(out).encode())
    return out


def _disentanglement(c: Context) -> dict:
    from ..metrics.disentanglement import disentanglement

    return disentanglement(c.Z, c.data.factors, seed=c.seed)


def _smoothness(c: Context) -> dict:
    from ..metrics.smoothness import smoothness

    return smoothness(c.model, c.X_test, c.Z, seed=c.seed)


def _generation(c: Context) -> dict:
    from ..metrics.generation import generation

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


# what a family needs beyond the latents; a run without it gets the family skipped, with the reason
NEEDS: dict[str, tuple[str, ...]] = {
    "reconstruction": ("encoder", "decoder"),
    "likelihood": ("encoder", "decoder"),
    "neighbourhood": ("source",),
    "smoothness": ("encoder", "decoder"),
    "generation": ("decoder",),
}
_LACKS = {
    "encoder": "it needs an encoder, and this run has none (vectors imported without a model)",
    "decoder": "it needs a decoder, and this run has none (import one: latentspace import --encoder"
    " enc.onnx --decoder dec.onnx --data DATA)",
    "source": "it compares the latents with the source data, and the vectors were imported without"
    " them (pass --data to latentspace import)",
}


def missing_need(name: str, run, model) -> str | None:
    """Why family ``name`` cannot run on this run (one sentence), or None when it can."""
    have = {"encoder": model.has_encoder, "decoder": model.has_decoder, "source": run.has_source_data}
    lacking = next((need for need in NEEDS.get(name, ()) if not have[need]), None)
    return None if lacking is None else f"not measured: {_LACKS[lacking]}"


def parse_metrics(spec: str | None) -> list[str]:
    """``"reconstruction,neighbourhood"`` -> names; None or "all" -> every family."""
    if spec is None or spec.strip() in ("", "all"):
        return list(FAMILIES)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise InputError(f"unknown metric {', '.join(unknown)}; available: {', '.join(FAMILIES)}")
    return names


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
    from ..progress import report

    for i, name in enumerate(names):
        report("evaluate", i, len(names), f"{name}")
        fn, settings = FAMILIES[name]
        params = settings(c)
        old = card["results"].get(name)
        if old is not None and old.get("params") == params and not force:
            continue
        t0 = time.perf_counter()
        try:
            if (why := missing_need(name, run, c.model)) is not None:
                raise NotApplicable(why)
            entry = {"params": params, "values": fn(c)}
        except NotApplicable as exc:
            entry = {"params": params, "skipped": str(exc)}
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        card["results"][name] = entry
        card["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        run.write_file(METRICS_FILE, _dumps(card))  # keep each finished family
        log.info("%s done in %.1f s", name, entry["seconds"])
    report("evaluate", len(names), len(names))


def _dumps(card: dict) -> bytes:
    return (json.dumps(card, indent=1, sort_keys=True, default=float) + "\n").encode()
