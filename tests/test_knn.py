"""The kNN room: the index interface against a brute-force float64 reference (exact: the same
neighbours up to ties and the same distances; approximate: its recall), the exact graph on near ties
and float32 misorderings, the stored graph, and the approximate graph's measured recall."""

import numpy as np
import pytest

from latentspace.errors import InputError
from latentspace.knn import (
    ExactIndex,
    HNSWIndex,
    KnnGraph,
    exact_knn,
    make_index,
    nearest,
    prepare,
    run_graph,
)
from latentspace.runfolder import Run
from latentspace.stages.fit import fit


def brute_force(data, points, k, metric, skip_own=False):
    """(indices, distances) by a float64 stable argsort over all rows (ties: lower row index)."""
    P = prepare(data, metric).astype(np.float64)
    Q = prepare(points, metric).astype(np.float64)
    d2 = ((Q[:, None, :] - P[None, :, :]) ** 2).sum(2)
    if skip_own:
        np.fill_diagonal(d2, np.inf)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return idx, np.sqrt(np.take_along_axis(d2, idx, 1))


def clustered(n, d, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(20, d))
    return (centres[rng.integers(0, 20, n)] + rng.normal(size=(n, d))).astype(np.float32)


def assert_same_up_to_ties(idx, dist, ref_idx, ref_dist):
    """Distances equal to 1e-5; neighbour sets equal except where the k-th distance is tied."""
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5, atol=1e-5)
    for i, (a, b) in enumerate(zip(idx, ref_idx, strict=True)):
        if set(a) != set(b):  # only a tie at the boundary may swap members
            assert np.isclose(ref_dist[i, -1], dist[i, -1], rtol=1e-6), i


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("d", [2, 16, 100])  # the k-d tree, the blocked scan, faiss
def test_exact_index_equals_brute_force(metric, d):
    Z, Q = np.split(clustered(1700, d, seed=d), [1500])
    index = ExactIndex(metric).build(Z)
    assert index.exact
    assert_same_up_to_ties(*index.neighbours(12), *brute_force(Z, Z, 12, metric, skip_own=True))
    assert_same_up_to_ties(*index.query(Q, 9), *brute_force(Z, Q, 9, metric))
    idx, dist = nearest(Z, Q, 9, metric)
    assert idx.dtype == np.int64 and dist.dtype == np.float32 and (np.diff(dist, axis=1) >= 0).all()


@pytest.mark.parametrize("d", [2, 16, 100])
def test_exact_query_breaks_ties_by_row_index(d):
    """Exact duplicates of the data: every tie goes to the lower row index, like a stable sort."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(40, d)).astype(np.float32)
    Z = np.concatenate([base] * 5)  # rows i, i + 40, ... are identical
    idx, dist = ExactIndex().build(Z).query(base[:10], 5)
    assert (idx == np.arange(10)[:, None] + 40 * np.arange(5)).all() and (dist == 0).all()


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_hnsw_index_recall(metric):
    """Approximate: on 6,000 clustered 16-d points nearly every true neighbour is found (measured
    here: graph recall 0.9999 euclidean, 1.0000 cosine; queries by 300 new points of the same
    clusters 1.0000), and the graph's own recall estimate agrees; the bar is 0.99."""
    Z, Q = np.split(clustered(6300, 16, seed=3), [6000])  # queries: new points of the same clusters
    index = HNSWIndex(metric).build(Z)
    assert not index.exact
    idx, dist = index.neighbours(10)
    ref, _ = brute_force(Z, Z, 10, metric, skip_own=True)
    recall = np.mean([len(np.intersect1d(a, b)) for a, b in zip(idx, ref, strict=True)]) / 10
    assert recall > 0.99 and abs(index.recall_ - recall) < 0.02, (recall, index.recall_)
    qi, qd = index.query(Q, 10)
    qref, qref_d = brute_force(Z, Q, 10, metric)
    q_recall = np.mean([len(np.intersect1d(a, b)) for a, b in zip(qi, qref, strict=True)]) / 10
    assert q_recall > 0.99, q_recall
    found = qi == qref  # where the same neighbour is found, the distance is the true one
    np.testing.assert_allclose(qd[found], qref_d[found], rtol=1e-4, atol=1e-4)


def test_index_errors_name_what_is_allowed():
    Z = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    with pytest.raises(InputError, match="metric must be one of euclidean, cosine; got 'l1'"):
        ExactIndex("l1").build(Z)
    with pytest.raises(InputError, match="not built yet"):
        ExactIndex().query(Z, 2)
    with pytest.raises(InputError, match=r"k must be between 1 and 19 \(the number of other rows\); got 20"):
        ExactIndex().build(Z).neighbours(20)
    with pytest.raises(InputError, match="query points has 2 features"):
        ExactIndex().build(Z).query(Z[:, :2], 2)
    with pytest.raises(InputError, match="graph method must be one of auto, exact, hnsw"):
        make_index("annoy", 20, 3)


@pytest.mark.parametrize(("d", "n"), [(3, 600), (10, 600), (10, 9), (80, 600)])
def test_graph_is_exact_on_near_ties(d, n):
    # the k-d tree (maps), the blocked scan (latents up to 64-d; n = 9: every row a candidate), faiss
    """Grid points with a 1e-5 jitter (distances equal to float32 rounding) and exact duplicates:
    the graph equals a stable float64 argsort (ties to the lower row index), row by row."""
    rng = np.random.default_rng(0)
    Z = (rng.integers(0, 3, size=(n, d)) + 1e-5 * rng.normal(size=(n, d))).astype(np.float32)
    Z[100:110] = Z[5]  # exact duplicates (none when n = 9)
    idx, dist = exact_knn(Z, 7)
    Z64 = Z.astype(np.float64)
    for i in range(n):
        dd = ((Z64 - Z64[i]) ** 2).sum(1)
        dd[i] = np.inf
        ref = np.argsort(dd, kind="stable")[:7]
        assert set(idx[i]) == set(ref), i
        assert np.allclose(dist[i], np.sqrt(np.sort(dd)[:7]), rtol=1e-6, atol=1e-12)
    assert (np.diff(dist, axis=1) >= 0).all() and (idx != np.arange(n)[:, None]).all()


@pytest.mark.parametrize("d", [10, 80])
def test_graph_is_exact_where_float32_misorders(d):
    """Tight clusters far from the origin: float32 GEMM distances (error ~ eps |x|^2, here ~1e-1)
    misorder neighbours whose distances differ by less; the float64 settling must restore the
    exact order."""
    rng = np.random.default_rng(1)
    centres = rng.uniform(-1000, 1000, size=(60, d))
    Z = (np.repeat(centres, 12, axis=0) + rng.normal(size=(720, d))).astype(np.float32)
    idx, dist = exact_knn(Z, 9)
    Z64 = Z.astype(np.float64)
    for i in range(len(Z)):
        dd = ((Z64 - Z64[i]) ** 2).sum(1)
        dd[i] = np.inf
        assert list(idx[i]) == list(np.argsort(dd, kind="stable")[:9]), i


def test_graph_reused_from_the_run(tmp_path, digits, monkeypatch):
    fit(digits, "pca", latent_dim=4, out=tmp_path / "r")
    run = Run(tmp_path / "r")
    g = run_graph(run, 15)
    assert g.k == 15 and "knn-euclidean.safetensors" in run.config["files"]

    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(KnnGraph, "compute", boom)
    again = run_graph(Run(tmp_path / "r"), 10)  # fewer neighbours: the stored graph serves
    assert np.array_equal(again.indices, g.indices)


def test_approximate_graph_reports_its_true_recall(monkeypatch):
    import latentspace.knn.graph as gr

    rng = np.random.default_rng(2)
    Z = (rng.normal(size=(6000, 16)) * np.linspace(3, 0.3, 16)).astype(np.float32)
    approx = KnnGraph.compute(Z, 10, method="hnsw")
    exact = KnnGraph.compute(Z, 10, method="exact")
    true = (
        np.mean([len(np.intersect1d(a, b)) for a, b in zip(approx.indices, exact.indices, strict=True)]) / 10
    )
    assert approx.method == "hnsw" and not approx.exact and exact.exact
    assert true > 0.9 and abs(approx.recall - true) < 0.02, (approx.recall, true)
    assert (approx.indices != np.arange(6000)[:, None]).all()
    again = KnnGraph.compute(Z, 10, method="hnsw")  # built on one thread: the same graph
    assert np.array_equal(again.indices, approx.indices)
    back = KnnGraph.from_bytes(approx.to_bytes(), "g")
    assert back.method == "hnsw" and back.recall == approx.recall
    monkeypatch.setattr(gr, "APPROX_FROM", 5000)
    assert KnnGraph.compute(Z, 5).method == "hnsw" and KnnGraph.compute(Z[:4000], 5).method == "exact"
    with pytest.raises(InputError, match="graph method"):
        KnnGraph.compute(Z, 5, method="annoy")


def _blas_threads(process_wide: bool = False) -> list[int]:
    """BLAS libraries' thread settings, or only those of libraries whose setting is one for the
    whole process (pthreads builds; an OpenMP build's setting belongs to each thread)."""
    from threadpoolctl import threadpool_info

    blas = [d for d in threadpool_info() if d["user_api"] == "blas"]
    return [d["num_threads"] for d in blas if not process_wide or d.get("threading_layer") == "pthreads"]


def test_overlapping_parallel_maps_restore_the_blas_threads():
    """kNN work on several threads at once (the explorer answers requests on a pool) leaves the
    process's BLAS thread setting as it found it, and each map sees one BLAS thread per call."""
    import threading

    from latentspace.knn.parallel import ordered_map

    before = _blas_threads()
    seen: list[list[int]] = []
    errors: list[BaseException] = []

    def square(i: int) -> int:
        seen.append(_blas_threads(process_wide=True))
        return i * i

    def job():
        try:
            for _ in range(20):
                assert list(ordered_map(square, range(6))) == [0, 1, 4, 9, 16, 25]
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    workers = [threading.Thread(target=job) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    assert seen and all(all(t == 1 for t in s) for s in seen)
    assert _blas_threads() == before
    # a map inside a map's task runs serially and still restores nothing early
    nested = list(ordered_map(lambda i: sum(ordered_map(lambda j: j, range(i))), range(5)))
    assert nested == [0, 0, 1, 3, 6] and _blas_threads() == before
