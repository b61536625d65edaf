"""Maps: PCA / t-SNE / UMAP quality, reproducibility, transform,
inverse, storage in the run, bad input."""

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

import latentspace as ls
from latentspace.errors import InputError, RunIntegrityError
from latentspace.knn import KnnGraph
from latentspace.maps import fit_map, load_map, map_quality
from latentspace.maps.store import map_file, map_run
from latentspace.metrics.neighbourhood import neighbourhood_scores
from latentspace.runfolder import Run
from latentspace.stages.fit import fit


@pytest.fixture(scope="module")
def latents(digits):
    """PCA-8 latents of the 1,797 digits and their labels."""
    Z = ls.PCA(8, random_state=0).fit(digits.X).encode(digits.X)
    return Z, digits.y


@pytest.fixture(scope="module")
def maps(latents):
    Z, _ = latents
    graph = KnnGraph.compute(Z, 90)
    return {m: fit_map(Z, m, 2, seed=0, graph=graph) for m in ("pca", "tsne", "umap")}


def test_given_neighbour_lists_change_nothing(latents, maps):
    Z, _ = latents
    m = maps["umap"]
    assert neighbourhood_scores(Z, m.embedding, 10, knn_X=m.graph.first(10)[0]) == neighbourhood_scores(
        Z, m.embedding, 10
    )


def test_map_quality(latents, maps):
    """openTSNE's and umap-learn's maps of PCA-8 digit latents keep neighbourhoods: trustworthiness
    against the latents above 0.97 and at least 0.08 above the linear 2-D PCA map of the same latents
    (0.85 here), and the classes stay apart: 10-NN label accuracy on the map above 0.93, within 0.03
    of the accuracy in the 8-d latent space itself (0.96)."""
    _, y = latents
    q = {m: map_quality(maps[m], y) for m in maps}
    for m in ("tsne", "umap"):
        assert q[m]["trustworthiness"] > 0.97, (m, q[m])
        assert q[m]["trustworthiness"] > q["pca"]["trustworthiness"] + 0.08
        assert q[m]["knn_accuracy_map"] > 0.93
        assert q[m]["knn_accuracy_map"] > q[m]["knn_accuracy_latent"] - 0.03


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_same_seed_same_map(latents, maps, method):
    Z, _ = latents
    again = fit_map(Z, method, 2, seed=0, graph=maps[method].graph)
    assert np.array_equal(again.embedding, maps[method].embedding)
    other = fit_map(Z, method, 2, seed=1, graph=maps[method].graph)
    assert not np.allclose(other.embedding, maps[method].embedding)


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_transform_puts_training_points_near_their_place(latents, maps, method):
    """Training latents passed through transform land among the 10 map points nearest their fitted
    position (openTSNE and umap-learn place by neighbours, so not exactly on it) for >= 80% of them."""
    Z, _ = latents
    m = maps[method]
    rows = np.arange(0, len(Z), 9)
    P = m.transform(Z[rows])
    nn = NearestNeighbors(n_neighbors=10).fit(m.embedding)
    _, near = nn.kneighbors(P)
    hit = np.mean([r in near[j] for j, r in enumerate(rows)])
    assert hit >= 0.8, hit
    spread = np.ptp(m.embedding, axis=0).max()
    assert np.median(np.linalg.norm(P - m.embedding[rows], axis=1)) < 0.05 * spread


def test_pca_map_transform_and_inverse_are_exact(latents, maps):
    Z, _ = latents
    m = maps["pca"]
    assert np.allclose(m.transform(Z[:20]), m.embedding[:20], atol=1e-5)
    back = m.inverse(m.embedding[:20])
    # the inverse is the projection of the latent onto the map's plane
    C = m.state["components"]
    proj = (Z[:20] - m.state["mean"]) @ C.T @ C + m.state["mean"]
    assert np.allclose(back, proj, atol=1e-4)


def test_inverse_of_a_point_is_near_its_latent(latents, maps):
    Z, _ = latents
    m = maps["umap"]
    rows = np.arange(0, len(Z), 50)
    near = m.inverse(m.embedding[rows] + 1e-3)
    to_own = np.linalg.norm(near - Z[rows], axis=1)
    to_mean = np.linalg.norm(Z[rows] - Z.mean(0), axis=1)
    assert np.median(to_own) < 0.25 * np.median(to_mean)
    # between two clusters the latent is a blend of both sides, not one item's copy
    mid = m.inverse(((m.embedding[0] + m.embedding[1000]) / 2)[None])
    assert mid.shape == (1, Z.shape[1]) and np.isfinite(mid).all()


def test_map_run_saves_and_loads(tmp_path, digits):
    fit(digits, "pca", latent_dim=6, out=tmp_path / "r")
    run = Run(tmp_path / "r")
    m = map_run(run, "umap", n_neighbors=10)
    assert 0.9 < m.quality["trustworthiness"] <= 1.0
    loaded = load_map(Run(tmp_path / "r"), "umap")
    assert np.array_equal(loaded.embedding, m.embedding) and loaded.params == m.params
    Z = run.latent_matrix()
    assert np.allclose(loaded.transform(Z[:30]), m.transform(Z[:30]))
    map_run(run, "pca", dims=3)
    assert map_file("pca", 3) in Run(tmp_path / "r").config["files"]
    assert load_map(run, "pca", 3).embedding.shape == (len(Z), 3)
    with open(tmp_path / "r" / "map-umap.parquet", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01")
    with pytest.raises(RunIntegrityError, match="map-umap.parquet"):
        load_map(run, "umap")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "isomap"}, "map method must be one of pca, tsne, umap"),
        ({"method": "umap", "dims": 4}, "dims must be 2 or 3"),
        ({"method": "tsne", "perplexity": 0.5}, "perplexity must be a finite number in"),
        ({"method": "umap", "n_neighbors": 1}, "n_neighbors must be an int in"),
        ({"method": "umap", "metric": "manhattan"}, "metric must be one of 'euclidean', 'cosine'"),
        ({"method": "umap", "foo": 1}, "umap maps take no parameter 'foo'"),
        ({"method": "umap", "init": "tsvd"}, "init must be one of 'auto', 'spectral', 'pca', 'random'"),
    ],
)
def test_bad_map_input(latents, kwargs, message):
    Z, _ = latents
    with pytest.raises(InputError, match=message):
        fit_map(Z[:100], **kwargs)


def test_nan_latents_refused(latents):
    Z = latents[0][:100].copy()
    Z[7, 2] = np.nan
    with pytest.raises(InputError, match="row 7"):
        fit_map(Z, "umap")


def test_cli_map(tmp_path, digits):
    from typer.testing import CliRunner

    from latentspace.cli import app

    fit(digits, "pca", latent_dim=5, out=tmp_path / "r")
    res = CliRunner().invoke(
        app, ["map", str(tmp_path / "r"), "--method", "tsne", "--perplexity", "20", "-p", "n_iter=200"]
    )
    assert res.exit_code == 0, res.output
    assert "trustworthiness" in res.output and (tmp_path / "r" / "map-tsne.parquet").is_file()
    res = CliRunner().invoke(app, ["map", str(tmp_path / "r"), "--method", "umap", "--min-dist", "-1"])
    assert res.exit_code == 2 and "min_dist must be a finite number in [0.0, 10.0]" in res.output
    res = CliRunner().invoke(app, ["map", str(tmp_path / "r"), "--method", "umap", "--graph", "hnsw"])
    assert res.exit_code == 0, res.output
    q = load_map(Run(tmp_path / "r"), "umap").quality
    assert q["graph"] == "exact"  # the stored exact graph (t-SNE's, 90 neighbours) is better: reused
    res = CliRunner().invoke(app, ["map", str(tmp_path / "r"), "--method", "umap", "--graph", "annoy"])
    assert res.exit_code == 2 and "graph method must be one of auto, exact, hnsw" in res.output


def test_quality_of_a_map_on_an_approximate_graph_is_estimated_exactly(latents):
    Z, y = latents
    g = KnnGraph.compute(Z, 15, method="hnsw")
    m = fit_map(Z, "umap", 2, seed=0, graph=g)
    sampled = map_quality(m, y, k=10, sample=400)
    exact = map_quality(fit_map(Z, "umap", 2, seed=0, graph=g), y, k=10, sample=None)
    assert sampled["graph"] == "hnsw" and sampled["estimate"] == "sampled" and exact["estimate"] == "exact"
    lo, hi = sampled["trustworthiness_ci"]
    assert hi - lo < 0.02 and abs(sampled["trustworthiness"] - exact["trustworthiness"]) < hi - lo
    assert sampled["knn_accuracy_map"] == exact["knn_accuracy_map"]


def test_umap_initialisation_by_size(latents):
    """Spectral below SPECTRAL_MAX rows, PCA of the latents from there (ARPACK on a million-node
    Laplacian ran 18+ minutes); either way a good map, and the choice is stored."""
    from latentspace.maps.umap import SPECTRAL_MAX, umap_init

    assert umap_init("auto", SPECTRAL_MAX - 1) == "spectral" and umap_init("auto", SPECTRAL_MAX) == "pca"
    assert umap_init("random", 10) == "random"
    Z, y = latents
    m = fit_map(Z[:1500], "umap", seed=0, init="pca")
    assert m.params["init"] == "pca"
    assert map_quality(m, y[:1500])["knn_accuracy_map"] > 0.9


def test_layout_blocks_hold_enough_points():
    """Blocks of at least MIN_BLOCK_POINTS points (smaller ones cost trustworthiness: BENCHMARKS),
    one below that, at most MAX_BLOCKS, each with about the same number of edges."""
    from latentspace.maps import layout

    rng = np.random.default_rng(0)
    assert (layout.MIN_BLOCK_POINTS, layout.MAX_BLOCKS) == (5000, 64)
    for n, want in ((1797, 1), (9_999, 1), (10_000, 2), (70_000, 14), (1_000_000, 64)):
        indptr = np.concatenate([[0], np.cumsum(rng.integers(10, 30, n))]).astype(np.int64)
        blocks = layout.blocks_for(indptr)
        assert blocks[0] == 0 and blocks[-1] == n and len(blocks) - 1 == want, (n, len(blocks))
        edges = np.diff(indptr[blocks])
        assert edges.max() - edges.min() <= 2 * 30  # two points' degrees at most
        assert np.diff(blocks).min() >= min(n, 0.8 * layout.MIN_BLOCK_POINTS)


def test_layout_rounds_follow_the_initialisation(latents, monkeypatch):
    """Several rounds per epoch from an unorganised start (PCA, random), one after the spectral
    initialisation (where more rounds cost trustworthiness on MNIST: layout.ROUNDS)."""
    from latentspace.maps import layout

    seen = []
    real = layout.optimize_layout

    def spy(*args, rounds=1, **kwargs):
        seen.append(rounds)
        return real(*args, rounds=rounds, **kwargs)

    monkeypatch.setattr(layout, "optimize_layout", spy)
    Z, _ = latents
    for init in ("spectral", "pca", "random"):
        m = fit_map(Z[:600], "umap", seed=0, init=init, n_epochs=20)
        assert np.isfinite(m.embedding).all()
    assert seen == [1, layout.ROUNDS, layout.ROUNDS] and layout.ROUNDS == 16
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        real(np.zeros((3, 2), np.float32), None, 1, 1.0, 1.0, 0, rounds=0)


def test_layout_rounds_cover_each_block_once():
    """Each epoch's rounds split every block into consecutive runs of points that cover it once,
    with about the same number of edges each (a round may be empty when a block has few points)."""
    from latentspace.maps import layout

    rng = np.random.default_rng(1)
    for n, rounds, low in ((1797, 4, 10), (70_000, 4, 10), (70_000, 7, 10), (12, 8, 10), (20_000, 16, 0)):
        # low 0: points of degree 0, which may sit at a block's start or end (the last 5 do here)
        degrees = rng.integers(low, 30, n)
        if low == 0:
            degrees[-5:] = 0
        indptr = np.concatenate([[0], np.cumsum(degrees)]).astype(np.int64)
        blocks = layout.blocks_for(indptr)
        cuts = layout._round_cuts(indptr, blocks, rounds)
        assert cuts.shape == (rounds + 1, len(blocks) - 1)
        assert np.array_equal(cuts[0], blocks[:-1]) and np.array_equal(cuts[-1], blocks[1:])
        assert (np.diff(cuts, axis=0) >= 0).all()  # consecutive, so each point in exactly one round
        edges = np.diff(indptr[cuts], axis=0)  # (rounds, blocks)
        per_block = indptr[blocks[1:]] - indptr[blocks[:-1]]
        assert np.abs(edges - per_block / rounds).max() <= 30  # within one point's degree


@pytest.mark.parametrize("rounds", [1, 16])
def test_parallel_layout_is_the_same_on_any_number_of_threads(latents, monkeypatch, rounds):
    """The seeded parallel UMAP layout: blocks, rounds and random streams are fixed by the graph
    and the seed, so one thread and two give the same map bit for bit; another seed gives another
    map."""
    from umap.umap_ import find_ab_params

    from latentspace.maps import layout
    from latentspace.maps.layout import blocks_for, optimize_layout
    from latentspace.maps.umap import umap_graph

    monkeypatch.setattr(layout, "MIN_BLOCK_POINTS", 300)  # several blocks on 1,797 digits
    Z, _ = latents
    g = umap_graph(Z, KnnGraph.compute(Z, 14), 15, n_epochs=200)
    y0 = np.random.default_rng(0).uniform(0, 10, size=(len(Z), 2)).astype(np.float32)
    a, b = find_ab_params(1.0, 0.1)
    one = optimize_layout(y0, g, 50, a, b, seed=3, threads=1, rounds=rounds)
    two = optimize_layout(y0, g, 50, a, b, seed=3, threads=2, rounds=rounds)
    assert np.array_equal(one, two)
    assert not np.allclose(optimize_layout(y0, g, 50, a, b, seed=4, threads=2, rounds=rounds), one)
    assert np.isfinite(one).all() and not np.array_equal(one, y0)
    blocks = blocks_for(g.tocsr().indptr)
    assert blocks[0] == 0 and blocks[-1] == len(Z) and len(blocks) > 3 and (np.diff(blocks) > 0).all()


def test_layout_renumbering_keeps_every_edge_and_its_state():
    """Renumbering the points (as the layout does along its Z-order) moves every edge with its
    per-edge arrays: mapped back through the order, the (head, tail, values) triples are the
    original ones; the cross-block slots list exactly the edges whose ends lie in different
    blocks, by tail and then head."""
    import scipy.sparse as sp

    from latentspace.maps.layout import _cross_slots, _renumbered

    rng = np.random.default_rng(5)
    g = sp.random(300, 300, density=0.05, random_state=6, format="csr")
    g.sort_indices()
    indptr, tails = g.indptr.astype(np.int64), g.indices.astype(np.int32)
    vals = [g.data.astype(np.float64), -g.data.astype(np.float64)]
    y = rng.normal(size=(300, 2)).astype(np.float32)
    order = rng.permutation(300)
    heads = np.repeat(np.arange(300), np.diff(indptr))
    before = sorted(zip(heads, tails, vals[0], vals[1], strict=True))
    y2, indptr2 = _renumbered(order, y, indptr, tails, vals)
    # tails and the per-edge arrays are rewritten in place (at 1M points, moving them all at once
    # held two copies: 870 MiB extra at 20M edges instead of 324)
    tails2, vals2 = tails, vals  # the same arrays, now renumbered
    assert np.array_equal(y2, y[order])
    heads2 = order[np.repeat(np.arange(300), np.diff(indptr2))]
    after = sorted(zip(heads2, order[tails2], vals2[0], vals2[1], strict=True))
    assert before == after and len(after) == g.nnz
    blocks = np.array([0, 100, 180, 300])
    slot, t_indptr = _cross_slots(indptr2, tails2, blocks)
    h2 = np.repeat(np.arange(300), np.diff(indptr2))
    cross = np.searchsorted(blocks, h2, "right") != np.searchsorted(blocks, tails2, "right")
    assert np.array_equal(slot >= 0, cross) and t_indptr[-1] == cross.sum()
    listed = np.argsort(np.where(slot >= 0, slot, len(slot)))[: cross.sum()]  # edges by slot
    assert np.array_equal(np.lexsort((h2[listed], tails2[listed])), np.arange(len(listed)))
    assert np.array_equal(np.diff(t_indptr), np.bincount(tails2[cross], minlength=300))


@pytest.mark.parametrize("min_block", [None, 300])
def test_parallel_layout_matches_umap_learns_layout(latents, monkeypatch, min_block):
    """Our parallel layout and umap-learn's own single-threaded one, on the same graph and
    initialisation: trustworthiness and continuity within 0.01 and 10-NN label accuracy within 0.02
    of each other. Measured here: one block 0.9915 / 0.9859 and 0.948; five blocks of about 360
    points (``min_block`` 300, the path every map of more than 10,000 points takes, with its edges
    between blocks and its renumbering) 0.9919 / 0.9849 and 0.949; umap-learn 0.9915 / 0.9862 and
    0.949."""
    from latentspace.maps import layout
    from latentspace.maps.umap import umap_graph

    Z, y = latents
    graph = KnnGraph.compute(Z, 15)
    if min_block is not None:
        monkeypatch.setattr(layout, "MIN_BLOCK_POINTS", min_block)
        indptr = umap_graph(Z, graph, 15, n_epochs=200).tocsr().indptr
        assert len(layout.blocks_for(indptr)) - 1 == 5
    ours = map_quality(fit_map(Z, "umap", 2, seed=0, graph=graph), y)
    ref = map_quality(fit_map(Z, "umap", 2, seed=0, graph=graph, layout="umap-learn"), y)
    for key, tol in (("trustworthiness", 0.01), ("continuity", 0.01), ("knn_accuracy_map", 0.02)):
        assert abs(ours[key] - ref[key]) < tol, (key, ours[key], ref[key])
