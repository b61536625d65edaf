"""Batch work on a Dask cluster: ``encode`` and ``evaluate`` split into row partitions (``--dask``).

The driver submits one task per partition; each worker loads what it needs itself (the run's
model from its safetensors, the data from the dataset's spec: a built-in or a file every worker
can read) and returns only its partition's result, so no data travel through the scheduler. Data
without a loadable spec (an in-memory array) are shipped block by block instead. ``"local"`` starts
a ``LocalCluster`` on this machine: one worker process per core, one thread each.

Every partition is computed exactly as the in-process path computes it (rows are independent in
both jobs), so the results are the same; the tests check it on a local cluster.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .errors import InputError
from .extras import require

_IN_FLIGHT_PER_WORKER = 2  # partitions submitted ahead of the one being collected, per worker
_worker_cache: dict = {}  # in each worker process: the last run / dataset / latents loaded


@contextmanager
def connect(address: str) -> Iterator[object]:
    """A ``distributed.Client`` for ``address`` (``tcp://host:8786``), or a local cluster for
    ``"local"``; closed (and the local cluster stopped) on exit."""
    require("dask", "--dask")
    from distributed import Client, LocalCluster

    if address != "local" and ("://" not in address and ":" not in address):
        raise InputError(f"--dask needs a scheduler address (tcp://host:port) or 'local'; got {address!r}")
    cluster = None
    if address == "local":
        cluster = LocalCluster(
            n_workers=max(1, os.cpu_count() or 1),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout="20s")
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def loadable(spec: dict) -> bool:
    """Whether workers can load the data themselves from this spec (a built-in or a file)."""
    return "builtin" in spec or "path" in spec


def _cached(kind: str, key, make):
    full = (kind, key)
    if full not in _worker_cache:
        for old in [k for k in _worker_cache if k[0] == kind]:
            del _worker_cache[old]
        _worker_cache[full] = make()
    return _worker_cache[full]


def _model(run_path: str):
    from .runfolder import Run

    return _cached("model", run_path, lambda: Run(run_path).load_model())


def _data(spec: dict):
    from .data import from_spec

    return _cached("data", json.dumps(spec, sort_keys=True), lambda: from_spec(spec))


def _single_thread() -> None:
    import numba
    import torch

    torch.set_num_threads(1)  # one thread per worker process: the cluster is the parallelism
    numba.set_num_threads(1)  # (and the blocked kNN's thread pool, which follows numba's setting)


def _encode_rows(run_path: str, spec: dict, a: int, b: int) -> np.ndarray:
    _single_thread()
    return _model(run_path).encode(np.asarray(_data(spec).X[a:b]))


def _encode_block(run_path: str, X: np.ndarray) -> np.ndarray:
    _single_thread()
    return _model(run_path).encode(X)


def _in_order(client, tasks) -> Iterator:
    """Submit ``(fn, *args)`` tasks a few per worker ahead and yield their results in order."""
    ahead = max(1, len(client.scheduler_info().get("workers", {}))) * _IN_FLIGHT_PER_WORKER
    pending: deque = deque()
    tasks = iter(tasks)
    for task in tasks:
        pending.append(client.submit(*task, pure=False))
        if len(pending) >= ahead:
            break
    while pending:
        future = pending.popleft()
        result = future.result()
        future.release()
        nxt = next(tasks, None)
        if nxt is not None:
            pending.append(client.submit(*nxt, pure=False))
        yield result


def encode_partitions(client, run, ds, rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, latents) of each ``rows``-row partition of ``ds``, in order, from the cluster."""
    n, path = ds.n, str(run.path)
    starts = list(range(0, n, rows))
    if loadable(ds.spec):
        tasks = ((_encode_rows, path, ds.spec, a, min(a + rows, n)) for a in starts)
    else:  # in-memory data: the driver reads each block and ships it
        tasks = ((_encode_block, path, np.asarray(ds.X[a : a + rows])) for a in starts)
    yield from zip(starts, _in_order(client, tasks), strict=True)


def _neighbourhood_rows(run_path: str, spec: dict, k: int, query: np.ndarray, exact_graph: bool):
    from .knn import KnnGraph, graph_file
    from .metrics.neighbourhood import row_terms
    from .runfolder import Run

    _single_thread()
    run = Run(run_path)
    Z = _cached("latents", run_path, run.latent_matrix)
    knn_Z = None
    if exact_graph:  # the run's shared graph, saved by the driver before it submitted the work
        name = graph_file("euclidean")
        graph = _cached(
            "graph",
            run_path,
            lambda: KnnGraph.from_bytes(run.read_file(name), name).check(len(Z), "euclidean", name),
        )
        knn_Z = graph.first(k)[0]
    return row_terms(_data(spec).X, Z, k, query, knn_Z=knn_Z, task="neighbourhood partition")


def neighbourhood_partitions(
    client, run, spec: dict, k: int, query: np.ndarray, exact_graph: bool, parts: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-row neighbourhood terms of ``query``, computed in ``parts`` partitions on the cluster."""
    if not loadable(spec):
        raise InputError("evaluate --dask needs data the workers can load (a built-in or a file)")
    pieces = np.array_split(query, max(1, min(parts, len(query))))
    tasks = ((_neighbourhood_rows, str(run.path), spec, k, p, exact_graph) for p in pieces if len(p))
    results = list(_in_order(client, tasks))
    return tuple(np.concatenate([r[i] for r in results]) for i in range(3))
