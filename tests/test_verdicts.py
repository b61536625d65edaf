"""Verdicts (interpret/verdicts.py): each fires on a case built to trigger it, with its number, and
none fires on good runs; the minimum of optimiser steps the fit stage trains by default."""

import hashlib
import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

import latentspace as ls
from latentspace.cli import app
from latentspace.errors import RunIntegrityError
from latentspace.interpret import verdicts as V
from latentspace.stages.evaluate import evaluate
from latentspace.stages.fit import fit


def _ids(found) -> list[str]:
    return [v.id for v in found]


def _cli(*args) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


@pytest.fixture(scope="module")
def digits300(tmp_path_factory):
    """300 digits as a table file (reloadable, like a user's own small data set)."""
    d = ls.load_data("digits")
    path = tmp_path_factory.mktemp("d300") / "digits300.npz"
    np.savez(path, X=d.X[:300], y=d.y[:300])
    return path


# --- the checks, on numbers ------------------------------------------------------------------------
def test_each_check_fires_past_its_limit_and_not_before():
    assert V.mean_image(0.81, 1.0).value == pytest.approx(0.81) and V.mean_image(0.79, 1.0) is None
    assert "test MSE (0.81) is 81% of the 1 of predicting the training mean" in V.mean_image(0.81, 1.0).text
    v = V.inactive_units([0.5, 0.001, 0.2, 0.009], 0.01)
    assert (v.severity, v.units, v.value) == ("note", [1, 3], 2) and "2 of 4 latent units" in v.text
    assert "z_1, z_3" in v.text and "latent_dim 2 would do" in v.text
    v = V.inactive_units([0.001] * 12, 0.01)
    assert v.severity == "warning" and v.text.startswith("All 12 latent units are inactive")
    assert V.inactive_units([0.5, 0.02], 0.01) is None
    v = V.few_steps(90, 30, 2000)
    assert v.text.startswith(
        "Training took 90 optimiser steps (3 epochs of 30 batches), fewer than the 1,000"
    )
    assert "raise --epochs to 67" in v.text and V.few_steps(1000, 30, 2000) is None
    assert V.feature_scales(101.0, "proline", "hue", "none").value == 101.0
    assert V.feature_scales(99.0, "proline", "hue", "none") is None
    assert V.feature_scales(1e4, "proline", "hue", "standard") is None
    v = V.map_trust({"trustworthiness": 0.54, "k": 10}, "umap", 2)
    assert v.text.startswith(
        "The umap map keeps the latent space's neighbourhoods poorly (trustworthiness 0.54 at k=10"
    )
    assert "do not read distances on this map" in v.text and v.source == "map-umap"
    assert V.map_trust({"trustworthiness": 0.7, "k": 10}, "umap", 2) is None
    issue = {"linear_probe_latent": 0.37, "linear_probe_raw": 0.53}  # the issue's 300 RGB images
    v = V.probe_worse(issue)
    assert v.value == pytest.approx(0.16) and "(best probe 0.37, linear, against 0.53, linear)" in v.text
    assert (
        V.probe_worse(
            {"linear_probe_latent": 0.9, "knn_latent": 0.95, "linear_probe_raw": 0.96, "knn_raw": 0.99}
        )
        is None
    )
    assert V.probe_worse({"linear_probe_latent": 0.5}) is None  # no raw probe to compare with


def test_the_gans_own_findings_join_the_list():
    info = {"sample_diversity": 0.005, "inversion_mse_encoder": 0.09, "inversion_mse_mean_image": 0.07}
    found = V.collect(info, model="gan")
    assert _ids(found) == ["gan-collapsed", "gan-inversion"]
    assert found[0].text.startswith("the generator collapsed: its samples are all nearly the same")
    assert V.model_failed(found)
    assert V.collect({"sample_diversity": 0.9}, model="gan") == []


def test_verdicts_json_round_trip_and_schema():
    from latentspace.runfolder.checks import VERDICTS_SCHEMA, check

    found = [V.few_steps(6, 2, 2000), V.inactive_units([0.5, 0.0], 0.01)]
    data = json.loads(V.dumps(found))
    check(data, VERDICTS_SCHEMA, "verdicts.json")
    assert data["verdicts"][1]["units"] == [1] and data["verdicts"][0]["value"] == 6
    data["verdicts"][0]["severity"] = "fatal"
    with pytest.raises(RunIntegrityError, match=r"verdicts\[0\]\.severity must be warning or note"):
        check(data, VERDICTS_SCHEMA, "verdicts.json")


# --- cases built to trigger them -------------------------------------------------------------------
def test_few_steps_and_the_mean_image_on_300_items_and_3_epochs(digits300, tmp_path):
    """The issue's case: 300 items and a few epochs train a handful of steps, and the VAE gives back
    the mean item. An explicit --epochs is respected; the verdicts say so."""
    out = _cli(
        "fit",
        "-d",
        digits300,
        "-m",
        "vae",
        "-k",
        "4",
        "--epochs",
        "3",
        "--threads",
        "1",
        "-o",
        tmp_path / "r",
    )
    run = ls.open_run(tmp_path / "r")
    info = run.config["info"]
    assert (info["epochs_run"], info["optimiser_steps"], info["steps_per_epoch"]) == (3, 6, 2)
    assert "epochs_raised_from" not in info
    found = V.stored(run)
    assert _ids(found)[:2] == ["mean-image", "few-steps"]
    assert found[0].value > V.MEAN_IMAGE_RATIO  # near (or beyond) the mean item's error
    assert "warning [few-steps] Training took 6 optimiser steps (3 epochs of 2 batches)" in out
    assert "leave --epochs out (fit then trains at least 2,000 steps) or raise --epochs to 1,000" in out
    assert "warning [mean-image] Reconstructions are close to the mean item" in out
    assert V.from_run(run) == found


def test_collapsed_units_under_a_huge_beta(digits300, tmp_path):
    run = fit(
        str(digits300),
        "beta_vae",
        latent_dim=4,
        out=tmp_path / "r",
        beta=1000.0,
        epochs=100,
        hidden=(32,),
        threads=1,
    )
    found = V.stored(run)
    kl = run.config["info"]["kl_per_dim"]
    assert max(kl) < 0.01  # every unit: KL(q || prior) below 0.01 nats
    assert {"inactive-units", "mean-image"} <= set(_ids(found))
    dead = next(v for v in found if v.id == "inactive-units")
    assert dead.severity == "warning" and dead.units == [0, 1, 2, 3]
    assert dead.text.startswith("All 4 latent units are inactive")
    mean = next(v for v in found if v.id == "mean-image")
    assert mean.value > 0.95  # the collapsed decoder draws (at best) the mean item
    assert V.model_failed(found)


def test_random_vectors_mapped_get_low_trustworthiness(tmp_path):
    """5,000 random 128-d vectors in the issue (trustworthiness 0.54); 1,500 here."""
    vectors = np.random.default_rng(0).standard_normal((1500, 128)).astype(np.float32)
    np.save(tmp_path / "v.npy", vectors)
    ls.import_embeddings(tmp_path / "v.npy", out=tmp_path / "r")
    out = _cli("map", tmp_path / "r", "--method", "pca")
    run = ls.open_run(tmp_path / "r")
    found = V.stored(run)
    assert _ids(found) == ["low-trustworthiness"]
    assert found[0].value < 0.65 and found[0].source == "map-pca"
    assert "warning [low-trustworthiness] The pca map keeps the latent space's neighbourhoods poorly" in out
    assert "do not read distances on this map" in out


def test_a_probe_on_the_latents_worse_than_on_the_raw_data(tmp_path):
    """PCA's 2 dimensions keep less of the digits' classes than their 64 pixels; evaluate says so,
    and the report's verdict box shows it."""
    fit("digits", "pca", latent_dim=2, out=tmp_path / "r")
    out = _cli("evaluate", tmp_path / "r", "--metrics", "probes,reconstruction")
    run = ls.open_run(tmp_path / "r")
    found = V.stored(run)
    assert _ids(found) == ["probe-worse"]
    probes = run.read_json("metrics.json")["results"]["probes"]["values"]
    gap = max(probes["linear_probe_raw"], probes["knn_raw"]) - max(
        probes["linear_probe_latent"], probes["knn_latent"]
    )
    assert found[0].value == pytest.approx(gap, abs=1e-6) and gap > 0.2
    assert "warning [probe-worse] The labels are read worse from the latents than from the raw data" in out
    from latentspace.report.html import _verdicts_html

    box = _verdicts_html(run)
    assert "1 warning on this run:" in box and "data-verdict='probe-worse'" in box
    assert "This model has failed" not in box


def test_a_tampered_verdicts_file_is_refused(tmp_path):
    from latentspace.runfolder.folder import _config_digest

    run = fit("digits", "pca", latent_dim=2, out=tmp_path / "r")
    path = tmp_path / "r" / V.VERDICTS_FILE
    path.write_text(json.dumps({"verdicts": [{"id": "Few Steps!", "severity": "warning", "text": "x"}]}))
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    cfg["files"][V.VERDICTS_FILE] = hashlib.sha256(path.read_bytes()).hexdigest()
    cfg["config_sha256"] = _config_digest(cfg)
    (tmp_path / "r" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RunIntegrityError, match=r"verdicts\[0\]\.id must be a verdict id"):
        V.stored(ls.open_run(run.path))


# --- and quiet on good runs ------------------------------------------------------------------------
def test_no_verdict_on_pca_of_the_digits(tmp_path):
    run = fit("digits", "pca", latent_dim=16, out=tmp_path / "r")
    evaluate(run, ["reconstruction", "probes"])
    out = _cli("map", tmp_path / "r", "--method", "pca")
    assert V.refresh(ls.open_run(tmp_path / "r")) == [] and "warning" not in out and "note" not in out
    assert json.loads((tmp_path / "r" / V.VERDICTS_FILE).read_text()) == {"schema_version": 1, "verdicts": []}


def test_no_verdict_on_a_vae_of_the_digits_trained_enough_steps(tmp_path):
    run = fit("digits", "vae", latent_dim=4, out=tmp_path / "r", min_steps=1000, threads=1)
    info = run.config["info"]
    assert info["optimiser_steps"] >= 1000 and info["epochs_raised_from"] == 30
    evaluate(run, ["reconstruction", "probes"])
    found = V.refresh(ls.open_run(tmp_path / "r"))
    assert found == [], [v.line() for v in found]
    rec = run.read_json("metrics.json")["results"]["reconstruction"]["values"]
    assert rec["mse"] < 0.5 * info["mse_mean_item"]


# --- enough steps by default -----------------------------------------------------------------------
def test_the_plan_raises_epochs_to_reach_min_steps():
    from latentspace.models.config import MIN_STEPS
    from latentspace.train.engine import Trainer, TrainSettings

    assert MIN_STEPS == 2000 and V.TOO_FEW_STEPS == 1000
    torch = pytest.importorskip("torch")
    t = Trainer(torch.nn.Linear(2, 2), None, TrainSettings(epochs=30, batch_size=128, min_steps=2000))
    assert t.steps_per_epoch(300) == 3 and t.plan(300) == math.ceil(2000 / 3)  # 270 rows train
    assert t.plan(60_000) == 30  # 422 steps per epoch: 30 epochs are 12,660 steps already
    assert Trainer(torch.nn.Linear(2, 2), None, TrainSettings(epochs=30)).plan(300) == 30  # min_steps 0


def test_fit_trains_min_steps_unless_the_epochs_are_given(digits300, tmp_path, monkeypatch, caplog):
    import logging

    from latentspace.models import config

    monkeypatch.setattr(config, "MIN_STEPS", 120)  # the mechanism, at a tenth of the cost
    with caplog.at_level(logging.INFO, logger="latentspace.train.engine"):
        run = fit(str(digits300), "vae", latent_dim=2, out=tmp_path / "a", hidden=(8,), threads=1)
    info = run.config["info"]
    assert run.config["model"]["params"]["min_steps"] == 120
    assert (info["epochs_raised_from"], info["epochs_planned"], info["epochs_run"]) == (30, 60, 60)
    assert info["optimiser_steps"] == 120 and len(run.read_json("history.json")) == 60
    assert (
        "training 60 epochs instead of 30: 30 epochs of 2 batches would be 60 optimiser steps" in caplog.text
    )
    from latentspace.stages.fit import info_summary

    assert "(epochs raised from 30 to 60 to reach min_steps 120 optimiser steps)" in info_summary(info)
    given = fit(str(digits300), "vae", latent_dim=2, out=tmp_path / "b", hidden=(8,), epochs=4, threads=1)
    assert given.config["model"]["params"]["min_steps"] == 0 and given.config["info"]["epochs_run"] == 4
    assert "few-steps" in _ids(V.stored(given))  # respected, and the verdict still speaks
