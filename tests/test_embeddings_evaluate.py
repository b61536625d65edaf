"""Imported vectors through the stages that need no decoder: the embeddings model, evaluate (the
families a run cannot support are skipped with the reason), map, and the run's own data."""

import numpy as np
import pyarrow as pa
import pytest

import latentspace as ls
from latentspace.errors import InputError
from latentspace.maps.store import map_run
from latentspace.stages.evaluate import evaluate


def clusters(n=1200, k=24, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, k)) * 4
    return (centres[y] + rng.normal(size=(n, k))).astype(np.float32), y


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    Z, y = clusters()
    meta = {"topic": [f"t{v}" for v in y], "score": np.linspace(0, 1, len(y))}
    return ls.from_embeddings(Z, meta, out=tmp_path_factory.mktemp("e") / "run", label_col="topic")


def test_the_embeddings_model_keeps_the_vectors_spread_and_refuses_to_decode(run):
    Z, _ = clusters()
    model = run.load_model()
    assert model.has_encoder is False and model.has_decoder is False
    np.testing.assert_allclose(model.mean_, Z.mean(0), atol=1e-5)
    np.testing.assert_allclose(model.scale_, Z.std(0), rtol=1e-4)
    draws = model.sample_latent(20000, random_state=0)
    np.testing.assert_allclose(draws.std(0), Z.std(0), rtol=0.05)
    with pytest.raises(InputError, match="no model: it cannot decode"):
        model.decode(Z[:2])
    with pytest.raises(InputError, match="cannot encode new data"):
        model.encode(Z[:2])
    np.testing.assert_array_equal(run.latent_matrix(), Z)


def test_the_run_data_are_its_vectors_with_the_chosen_label(run):
    Z, y = clusters()
    assert not run.has_source_data
    ds = run.load_dataset()
    np.testing.assert_array_equal(ds.X, Z)
    assert ds.label_names == ["t0", "t1", "t2", "t3"]
    np.testing.assert_array_equal(ds.y, y)
    assert run.metadata().column_names == ["topic", "score"]
    assert [m["kind"] for m in run.config["metadata"]] == ["text", "number"]


def test_evaluate_skips_what_needs_a_model_or_source_data_and_scores_the_rest(run):
    card = evaluate(run)["results"]
    for name in ("reconstruction", "likelihood", "smoothness", "generation"):
        assert "decoder" in card[name]["skipped"] or "encoder" in card[name]["skipped"], name
    assert "source data" in card["neighbourhood"]["skipped"]
    probes = card["probes"]["values"]
    assert probes["linear_probe_latent"] > 0.95 and probes["knn_latent"] > 0.95
    assert "linear_probe_raw" not in probes  # the raw data are the latents: nothing to compare


def test_with_source_data_the_neighbourhood_and_raw_probes_apply(tmp_path):
    ds = ls.load_data("digits")
    Z = ls.PCA(8, random_state=0).fit(ds.X).encode(ds.X)
    run = ls.from_embeddings(Z, out=tmp_path / "r", data=ds)
    assert run.has_source_data
    card = evaluate(run, metrics=["neighbourhood", "probes"])["results"]
    nb = card["neighbourhood"]["values"]
    assert 0.9 < nb["trustworthiness"] <= 1.0
    assert card["probes"]["values"]["linear_probe_raw"] > 0.9  # digits' pixels, linearly separable


def test_a_map_of_imported_vectors_is_faithful_to_them(run):
    m = map_run(run, "umap")
    assert m.embedding.shape == (1200, 2)
    assert m.quality["trustworthiness"] > 0.9
    assert m.quality["knn_accuracy_map"] > 0.95


def test_fit_refuses_a_family_that_is_imported():
    with pytest.raises(InputError, match="made elsewhere and is not trained by fit"):
        ls.fit(ls.load_data("digits"), "embeddings")
    assert "embeddings" in ls.available_models(kind="import")
    assert "embeddings" not in ls.available_models(kind="fit")


def test_a_tampered_metadata_column_is_refused(run, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    from latentspace.errors import RunIntegrityError
    from latentspace.runfolder.folder import _config_digest

    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    table = pq.read_table(copy / "latents.parquet")
    table = table.append_column("meta_extra", pa.array(np.zeros(table.num_rows)))
    pq.write_table(table, copy / "latents.parquet")
    import hashlib
    import json

    cfg = json.loads((copy / "config.json").read_text())
    cfg["files"]["latents.parquet"] = hashlib.sha256((copy / "latents.parquet").read_bytes()).hexdigest()
    cfg["config_sha256"] = _config_digest(cfg)
    (copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RunIntegrityError, match="metadata column 'extra': config.json does not list it"):
        ls.open_run(copy).latents()
