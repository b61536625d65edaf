"""The run folder: round trip, atomic writes, and refusal of anything altered."""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

import latentspace as ls
from latentspace.errors import InputError, RunIntegrityError
from latentspace.runfolder.folder import SCHEMA_VERSION, _config_digest


@pytest.fixture
def run(tmp_path, digits):
    return ls.fit(digits, "pca", latent_dim=6, out=tmp_path / "r", seed=3)


def test_folder_layout_and_config(run, digits):
    assert sorted(p.name for p in run.path.iterdir()) == [
        "config.json",
        "latents.parquet",
        "model.safetensors",
        "verdicts.json",
    ]
    cfg = run.config
    assert cfg["schema_version"] == SCHEMA_VERSION
    assert cfg["model"] == {
        "name": "pca",
        "params": {
            "n_components": 6,
            "n_iter": 7,
            "random_state": 3,
            "scale": "none",  # --scale auto on digits (pixels in [0, 1]): left as they are
            "svd_solver": "auto",
            "whiten": False,
        },
    }
    assert cfg["dataset"]["spec"] == {"builtin": "digits", "args": {}}
    assert cfg["dataset"]["sha256"] == digits.fingerprint()
    assert cfg["seed"] == 3 and cfg["split"]["n_test"] == 180 and cfg["split"]["n_train"] == 1617
    assert set(cfg["versions"]) >= {"python", "numpy", "torch", "scikit-learn", "latentspace"}
    assert set(cfg["files"]) == {"model.safetensors", "latents.parquet", "verdicts.json"}


def test_round_trip_same_transform(run, digits):
    model = ls.open_run(run.path).load_model()
    Z_file = run.latent_matrix()
    np.testing.assert_allclose(model.encode(digits.X), Z_file, atol=1e-6)
    # the model was fitted on the training rows only, as the split says
    table = run.latents()
    train = np.array(table["split"].to_pylist()) == "train"
    ref = ls.PCA(6).fit(digits.X[train])
    np.testing.assert_allclose(model.explained_variance_, ref.explained_variance_, rtol=1e-6)
    np.testing.assert_array_equal(table["label"].to_numpy(), digits.y)
    assert table.column_names[:7] == ["row"] + [f"z_{j}" for j in range(6)]


def test_same_seed_same_run(tmp_path, digits):
    a = ls.fit(digits, "pca", latent_dim=4, out=tmp_path / "a", seed=1)
    b = ls.fit(digits, "pca", latent_dim=4, out=tmp_path / "b", seed=1)
    assert a.config["files"] == b.config["files"]  # byte-identical model and latents


def test_factors_are_stored(tmp_path):
    ds = ls.load_data("shapes", n=300, size=16, seed=0)
    r = ls.fit(ds, "pca", latent_dim=3, out=tmp_path / "s")
    t = r.latents()
    np.testing.assert_allclose(t["factor_scale"].to_numpy(), ds.factors[:, 1])
    assert r.load_dataset().fingerprint() == ds.fingerprint()


def test_existing_folder_is_not_replaced_without_overwrite(run, digits):
    with pytest.raises(InputError, match="already exists; choose another --out or pass --overwrite"):
        ls.fit(digits, "pca", latent_dim=2, out=run.path)
    again = ls.fit(digits, "pca", latent_dim=2, out=run.path, overwrite=True)
    assert again.config["latent_dim"] == 2
    assert [p.name for p in run.path.parent.iterdir()] == ["r"]  # no temporary folders left


def test_failed_fit_leaves_nothing(tmp_path, digits):
    with pytest.raises(InputError):
        ls.fit(digits, "pca", latent_dim=500, out=tmp_path / "bad")
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_leaves_nothing(tmp_path, digits, monkeypatch):
    import latentspace.runfolder.folder as folder

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(folder, "atomic_write_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        ls.fit(digits, "pca", latent_dim=2, out=tmp_path / "r")
    assert list(tmp_path.iterdir()) == []


def test_truncated_model_is_refused(run):
    p = run.path / "model.safetensors"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(RunIntegrityError, match="model.safetensors does not match the checksum"):
        ls.open_run(run.path)


def test_tampered_model_with_updated_checksum_is_still_checked(run):
    # someone rewrites the tensors AND fixes the checksum but not the config digest
    p = run.path / "model.safetensors"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    cfg = json.loads((run.path / "config.json").read_text())
    import hashlib

    cfg["files"]["model.safetensors"] = hashlib.sha256(bytes(data)).hexdigest()
    (run.path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RunIntegrityError, match="was changed after it was written"):
        ls.open_run(run.path)


def test_edited_config_is_refused(run):
    p = run.path / "config.json"
    cfg = json.loads(p.read_text())
    cfg["model"]["params"]["n_components"] = 5
    p.write_text(json.dumps(cfg))
    with pytest.raises(RunIntegrityError, match="changed after it was written"):
        ls.open_run(run.path)


def test_truncated_config_is_refused(run):
    p = run.path / "config.json"
    p.write_text(p.read_text()[:50])
    with pytest.raises(RunIntegrityError, match="not valid JSON"):
        ls.open_run(run.path)


def test_other_schema_version_is_refused(run):
    p = run.path / "config.json"
    cfg = json.loads(p.read_text())
    cfg["schema_version"] = 99
    cfg["config_sha256"] = _config_digest(cfg)
    p.write_text(json.dumps(cfg))
    with pytest.raises(RunIntegrityError, match="schema version 99; this latentspace reads version 1"):
        ls.open_run(run.path)


def test_missing_file_is_refused(run):
    (run.path / "latents.parquet").unlink()
    with pytest.raises(RunIntegrityError, match="incomplete: latents.parquet is missing"):
        ls.open_run(run.path)


def test_not_a_run(tmp_path):
    with pytest.raises(RunIntegrityError, match="has no config.json"):
        ls.open_run(tmp_path)


def test_malformed_safetensors_with_valid_checksums_is_refused(run):
    """Even a consistently re-signed garbage file only yields an error, never code execution."""
    import hashlib

    p = run.path / "model.safetensors"
    garbage = b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all"
    p.write_bytes(garbage)
    cfg = json.loads((run.path / "config.json").read_text())
    cfg["files"]["model.safetensors"] = hashlib.sha256(garbage).hexdigest()
    cfg["config_sha256"] = _config_digest(cfg)
    (run.path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RunIntegrityError, match="not a readable safetensors file"):
        ls.open_run(run.path).load_model()


def test_changed_data_file_is_detected(tmp_path, blobs):
    np.save(tmp_path / "x.npy", blobs)
    r = ls.fit(tmp_path / "x.npy", "pca", latent_dim=2, out=tmp_path / "r")
    np.save(tmp_path / "x.npy", blobs + 1)
    with pytest.raises(RunIntegrityError, match="changed since the run was fitted"):
        r.load_dataset()


def test_encode_streams_row_groups(digits, tmp_path, monkeypatch):
    """Encoding in pieces writes one row group per piece and the same table as one piece."""
    import latentspace.stages.encode as pl

    r = ls.fit(digits, "pca", latent_dim=3, out=tmp_path / "r")
    whole = pq.read_table(ls.encode(r, digits, tmp_path / "whole.parquet"))
    monkeypatch.setattr(pl, "ENCODE_ROWS", 500)
    out = ls.encode(r, digits, tmp_path / "parts.parquet")
    assert pq.ParquetFile(out).metadata.num_row_groups == 4  # 1,797 rows in pieces of 500
    parts = pq.read_table(out)
    assert parts.schema == whole.schema and parts["row"].to_pylist() == list(range(1797))
    for j in range(3):  # the same numbers, to BLAS blocking of 500 rows vs 1,797
        np.testing.assert_allclose(parts[f"z_{j}"].to_numpy(), whole[f"z_{j}"].to_numpy(), atol=1e-5)
    assert parts["label"].to_pylist() == digits.y.tolist()


def test_encode_writes_parquet(run, digits, tmp_path):
    out = ls.encode(run, digits, tmp_path / "z.parquet")
    t = pq.read_table(out)
    Z = np.column_stack([t[f"z_{j}"].to_numpy() for j in range(6)])
    np.testing.assert_allclose(Z, run.latent_matrix(), atol=1e-6)
    shutil.rmtree(run.path)
