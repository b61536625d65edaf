"""Metrics: reference values (scikit-learn), identities, and the sanity cases of the literature."""

import json

import numpy as np
import pytest
from sklearn.manifold import trustworthiness as sk_trust
from sklearn.neighbors import KNeighborsClassifier

import latentspace as ls
from latentspace.errors import InputError
from latentspace.knn.blocked import rows_per_block
from latentspace.metrics import NotApplicable
from latentspace.metrics.disentanglement import disentanglement, mig
from latentspace.metrics.generation import frechet_distance, kernel_distance
from latentspace.metrics.likelihood import likelihood
from latentspace.metrics.neighbourhood import neighbourhood_scores
from latentspace.metrics.probes import knn_probe
from latentspace.metrics.reconstruction import reconstruction_errors
from latentspace.metrics.smoothness import decoder_lipschitz, interpolation_smoothness


def embedding_pair(n, d=30, L=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    Z = (X[:, :L] + 0.3 * rng.normal(size=(n, L))).astype(np.float32)
    return X, Z


@pytest.mark.parametrize("n, k", [(300, 5), (1500, 10), (1500, 1), (3000, 25)])
def test_trustworthiness_and_continuity_equal_sklearn(n, k):
    X, Z = embedding_pair(n)
    ours = neighbourhood_scores(X, Z, k)
    X64, Z64 = X.astype(np.float64), Z.astype(np.float64)  # exact distances of the same values
    assert abs(ours["trustworthiness"] - sk_trust(X64, Z64, n_neighbors=k)) < 1e-9
    assert abs(ours["continuity"] - sk_trust(Z64, X64, n_neighbors=k)) < 1e-9


@pytest.mark.parametrize("listed_per_row", [0, 3, 64, 100_000])
def test_near_ties_in_a_low_dimensional_space_are_settled_exactly(listed_per_row, monkeypatch):
    """Grid points with a 1e-4 jitter: many distances agree to float32 rounding, so thousands of
    close calls go to the float64 re-check, their band members listed inside the counting kernel
    (up to ``listed_per_row`` per row) or, for fuller rows, by a second pass."""
    import latentspace.metrics.neighbourhood as nb

    monkeypatch.setattr(nb, "_LISTED_PER_ROW", listed_per_row)
    rng = np.random.default_rng(3)
    Z = (rng.integers(0, 6, size=(1500, 3)) + 1e-4 * rng.normal(size=(1500, 3))).astype(np.float32)
    X = np.hstack([Z, 0.5 * rng.normal(size=(1500, 5))]).astype(np.float32)
    ours = neighbourhood_scores(X, Z, 10)
    X64, Z64 = X.astype(np.float64), Z.astype(np.float64)
    assert abs(ours["continuity"] - sk_trust(Z64, X64, n_neighbors=10)) < 1e-9
    assert abs(ours["trustworthiness"] - sk_trust(X64, Z64, n_neighbors=10)) < 1e-9


def test_streamed_blocks_give_the_same_value(monkeypatch):
    X, Z = embedding_pair(1200)
    whole = neighbourhood_scores(X, Z, 7)
    import latentspace.knn.blocked as bl

    monkeypatch.setattr(bl, "_BLOCK_BYTES", 4 * 1200 * 50)  # 50 rows per block
    assert bl.rows_per_block(1200, 10**6, 1) == 50
    assert neighbourhood_scores(X, Z, 7) == whole


def test_block_memory_is_bounded():
    for n in (10_000, 70_000, 1_000_000):
        for workers in (1, 2, 16):
            per = rows_per_block(n, n, workers)
            assert per * n * 4 * workers <= 128 << 20 or per == 8


def test_perfect_and_random_embeddings():
    X, _ = embedding_pair(800)
    same = neighbourhood_scores(X, X, 10)
    assert same["trustworthiness"] == 1.0 and same["continuity"] == 1.0 and same["knn_preservation"] == 1.0
    noise = np.random.default_rng(1).normal(size=(800, 4)).astype(np.float32)
    rand = neighbourhood_scores(X, noise, 10)
    assert 0.4 < rand["trustworthiness"] < 0.6 and rand["knn_preservation"] < 0.05


def test_neighbourhood_bad_input():
    X, Z = embedding_pair(100)
    with pytest.raises(InputError, match="k must be at least 1 and below n/2 = 50"):
        neighbourhood_scores(X, Z, 50)
    with pytest.raises(InputError, match="X has 100 rows but the embedding has 99"):
        neighbourhood_scores(X, Z[:99], 5)
    bad = Z.copy()
    bad[7, 1] = np.nan
    with pytest.raises(InputError, match="row 7, column 1"):
        neighbourhood_scores(X, bad, 5)


def test_reconstruction_errors_by_hand():
    X = np.array([[0.0, 1.0], [1.0, 0.5]])
    R = np.array([[0.1, 0.8], [0.9, 0.5]])
    out = reconstruction_errors(X, R)
    assert out["mse"] == pytest.approx(np.mean((X - R) ** 2))
    assert out["mse_per_item"] == pytest.approx(np.mean(((X - R) ** 2).sum(1)))
    bce = -(X * np.log(R) + (1 - X) * np.log(1 - R)).sum(1).mean()
    assert out["bce_per_item"] == pytest.approx(bce)
    assert "bce_per_item" not in reconstruction_errors(X * 3, R)


def test_likelihood_applies_to_vaes_only(digits):
    with pytest.raises(NotApplicable, match="pca defines no likelihood"):
        likelihood(ls.PCA(4).fit(digits.X), digits.X)
    from latentspace.models.vae import VAE

    vae = VAE(4, hidden=(64,), epochs=3, threads=1, random_state=0).fit(digits.X)
    out = likelihood(vae, digits.X[:200], k=20)
    assert out["iwae_nats"] >= out["elbo_nats"] - 0.5
    assert out["iwae_bits_per_dim"] == pytest.approx(-out["iwae_nats"] / (64 * np.log(2)))


def test_knn_probe_equals_sklearn(digits):
    Z = ls.PCA(8).fit(digits.X).encode(digits.X)
    ours = knn_probe(Z[:1400], digits.y[:1400], Z[1400:], digits.y[1400:], k=5)
    ref = KNeighborsClassifier(5).fit(Z[:1400], digits.y[:1400]).score(Z[1400:], digits.y[1400:])
    assert ours == pytest.approx(ref, abs=0.005)  # vote ties may break differently


@pytest.fixture(scope="module")
def factors():
    return ls.load_data("shapes", n=4000, size=16, seed=0).factors


def test_factors_as_latents_score_near_one(factors):
    out = disentanglement(factors, factors)
    assert out["mig"] > 0.95 and out["dci_disentanglement"] > 0.95 and out["dci_completeness"] > 0.95
    assert out["dci_informativeness"] > 0.95 and out["sap"] > 0.4


def test_noise_scores_near_zero(factors):
    noise = np.random.default_rng(0).normal(size=factors.shape)
    out = disentanglement(noise, factors)
    assert out["mig"] < 0.02 and out["dci_disentanglement"] < 0.05 and out["sap"] < 0.02


def test_duplicated_latent_lowers_mig(factors):
    dup = np.column_stack([factors, factors[:, 1]])
    assert mig(dup, factors)["mig"] < mig(factors, factors)["mig"] - 0.15
    assert mig(dup, factors)["mig_per_factor"][1] < 0.01


def test_disentanglement_needs_factors():
    with pytest.raises(NotApplicable, match="no ground-truth factors"):
        disentanglement(np.zeros((10, 2)), None)


def test_linear_decoder_is_smooth_and_1_lipschitz(digits):
    pca = ls.PCA(6).fit(digits.X)
    Z = pca.encode(digits.X)
    smooth = interpolation_smoothness(pca, Z)
    assert smooth["path_ratio_median"] == pytest.approx(1.0, abs=1e-4)
    assert smooth["second_difference_energy_median"] < 1e-8
    lip = decoder_lipschitz(pca, Z)  # orthonormal components: every direction has gain 1
    assert lip["lipschitz_median"] == pytest.approx(1.0, abs=1e-3)


def test_frechet_and_kernel_distance_reference_values():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(4000, 6)), rng.normal(size=(4000, 6)) + 0.5
    assert frechet_distance(A, B) == pytest.approx(6 * 0.25, rel=0.05)  # ||mu||^2, same covariance
    assert frechet_distance(A, A) == pytest.approx(0.0, abs=1e-8)
    near, _ = kernel_distance(A, rng.normal(size=(4000, 6)))
    far, _ = kernel_distance(A, B)
    assert abs(near) < 0.01 < far


# --- the card -----------------------------------------------------------------------------------
@pytest.fixture
def card_run(tmp_path, digits):
    return ls.fit(digits, "pca", latent_dim=6, out=tmp_path / "p")


def test_evaluate_computes_only_what_is_missing(card_run, monkeypatch):
    from latentspace.stages import evaluate as card_mod

    card = card_mod.evaluate(card_run, ["reconstruction", "likelihood", "neighbourhood"], k=5)
    assert card["results"]["likelihood"]["skipped"].startswith("pca defines no likelihood")
    assert 0.9 < card["results"]["neighbourhood"]["values"]["trustworthiness"] <= 1.0
    calls = []
    fam = dict(card_mod.FAMILIES)
    fam["neighbourhood"] = (lambda c: calls.append(c.k) or {"k": c.k}, fam["neighbourhood"][1])
    monkeypatch.setattr(card_mod, "FAMILIES", fam)
    card_mod.evaluate(ls.open_run(card_run.path), ["reconstruction", "neighbourhood"], k=5)
    assert calls == []  # nothing missing
    card_mod.evaluate(ls.open_run(card_run.path), ["neighbourhood"], k=7)
    assert calls == [7]  # other settings: computed again
    stored = json.loads((card_run.path / "metrics.json").read_text())
    assert stored["results"]["neighbourhood"]["params"] == {"k": 7}
    assert "metrics.json" in ls.open_run(card_run.path).config["files"]  # checksummed


def test_compare_refuses_other_data_and_marks_best(tmp_path, digits):
    from latentspace.metrics.card import compare_table
    from latentspace.stages.evaluate import evaluate, same_data_check

    a = ls.fit(digits, "pca", latent_dim=2, out=tmp_path / "a")
    b = ls.fit(digits, "pca", latent_dim=12, out=tmp_path / "b")
    c = ls.fit(ls.load_data("swissroll", n=300), "pca", latent_dim=2, out=tmp_path / "c")
    with pytest.raises(InputError, match="fitted on different data and different splits"):
        same_data_check([a, c], force=False)
    cards = [evaluate(r, ["reconstruction"]) for r in (a, b)]
    header, body, best = compare_table([a, b], cards)
    mse_row = [i for i, row in enumerate(body) if row[1] == "mse"][0]
    assert header[2:] == ["a", "b"] and best[mse_row] == 1  # 12 components reconstruct better


def test_sampled_neighbourhood_scores_bracket_the_exact_ones():
    """Scores from 500 random query rows of 3,000: each exact score lies inside (or within a hair
    of) the 95% interval, which is narrow; with all rows the sampled path is the exact one."""
    X, Z = embedding_pair(3000, seed=4)
    exact = neighbourhood_scores(X, Z, 10)
    covered = 0
    for seed in range(4):
        est = neighbourhood_scores(X, Z, 10, sample=500, seed=seed)
        assert est["estimate"] == "sampled" and est["sampled_rows"] == 500
        for name in ("trustworthiness", "continuity", "knn_preservation"):
            lo, hi = est[f"{name}_ci"]
            assert lo < est[name] < hi and hi - lo < 0.05, name
            assert abs(est[name] - exact[name]) < 1.5 * (hi - lo), name
            covered += lo <= exact[name] <= hi
    assert covered >= 10  # of 12 intervals at 95%
    assert neighbourhood_scores(X, Z, 10, sample=3000) == exact
    # the estimate says so in one sentence, with each interval's half-width
    half = (est["continuity_ci"][1] - est["continuity_ci"][0]) / 2
    assert est["interval"].startswith("estimated from 500 of 3,000 rows")
    assert f"continuity ±{half:.2g}" in est["interval"] and "interval" not in exact
    from latentspace.knn import exact_knn

    given = neighbourhood_scores(
        X, Z, 10, sample=500, seed=1, knn_X=exact_knn(X, 10)[0], knn_Z=exact_knn(Z, 10)[0]
    )
    assert given == neighbourhood_scores(X, Z, 10, sample=500, seed=1)


def test_auto_sample_is_exact_where_cheap_and_sampled_where_costly():
    from latentspace.metrics.neighbourhood import EXACT_WORK, SAMPLE_FROM, SAMPLE_ROWS, auto_sample

    assert auto_sample(1797, 64 + 8) is None  # digits: exact
    assert auto_sample(70_000, 784 + 16) == SAMPLE_ROWS  # MNIST: 3.9e12 multiply-adds, sampled
    assert 70_000**2 * 800 > EXACT_WORK > 70_000**2 * 18  # ... while a 2-D map of its latents is exact
    assert auto_sample(70_000) is None and auto_sample(SAMPLE_FROM) == SAMPLE_ROWS
    assert auto_sample(SAMPLE_ROWS, 10**6) is None  # never "sample" every row


def test_raw_probes_are_computed_once_per_data_and_split(tmp_path, digits, monkeypatch):
    """Two runs on the same data and split share the raw-data probes through the cache; the card
    equals what the probes give without a cache, and a damaged cache entry is recomputed."""
    from latentspace.metrics.probes import probes
    from latentspace.stages.evaluate import evaluate

    monkeypatch.setenv("LATENTSPACE_CACHE", str(tmp_path / "cache"))
    a = ls.fit(digits, "pca", latent_dim=2, out=tmp_path / "a")
    b = ls.fit(digits, "pca", latent_dim=6, out=tmp_path / "b")
    card_a = evaluate(a, ["probes"])["results"]["probes"]["values"]
    (entry,) = (tmp_path / "cache" / "raw-probes").iterdir()
    test = a.latents()["split"].to_numpy(zero_copy_only=False) == "test"
    direct = probes(a.latent_matrix(), digits.X, digits.y, test)
    assert card_a == direct
    entry.write_text('{"linear_probe_raw": 7, "knn_raw": "x"}')
    card_b = evaluate(b, ["probes"])["results"]["probes"]["values"]
    assert card_b["linear_probe_raw"] == direct["linear_probe_raw"] and card_b["knn_raw"] == direct["knn_raw"]
    assert card_b["linear_probe_latent"] > card_a["linear_probe_latent"]  # 6 components carry more
    assert json.loads(entry.read_text())["knn_raw"] == direct["knn_raw"]
