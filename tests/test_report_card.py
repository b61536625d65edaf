"""How the report card is read, checked on values built to test it: the better direction of every
score, parameters kept apart from scores, verdicts attached to the value they speak about, values
a linear decoder gets by construction never starred in a comparison (and said so on the page),
and the training curves drawn with both splits on one axis per loss term."""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from latentspace.metrics.base import HIGHER, LOWER, PARAMETER, REFERENCE, SCORE, SPREAD, UNRANKED
from latentspace.metrics.card import READINGS, by_construction, compare_table, direction, grouped, reading
from latentspace.report.cardview import card_html, curve_series, curves_figure
from latentspace.report.compare import compare_html


@pytest.mark.parametrize(
    ("key", "better"),
    [
        ("mse", LOWER),
        ("bce_per_item", LOWER),
        ("elbo_nats", HIGHER),
        ("iwae_nats", HIGHER),
        ("elbo_bits_per_dim", LOWER),
        ("trustworthiness", HIGHER),
        ("continuity", HIGHER),
        ("knn_preservation", HIGHER),
        ("linear_probe_latent", HIGHER),
        ("knn_latent", HIGHER),
        ("mig", HIGHER),
        ("dci_disentanglement", HIGHER),
        ("sap", HIGHER),
        ("path_ratio_median", LOWER),
        ("lipschitz_max", LOWER),
        ("perturbation_relative_change", LOWER),
        ("fd_self", LOWER),
        ("kd_self", LOWER),
        ("active_units", HIGHER),
        # settings, references and spreads are never ranked
        ("n", UNRANKED),
        ("k", UNRANKED),
        ("knn_k", UNRANKED),
        ("iwae_k", UNRANKED),
        ("linear_probe_raw", UNRANKED),
        ("knn_raw", UNRANKED),
        ("fd_self_real_vs_real", UNRANKED),
        ("kd_self_std", UNRANKED),
        ("perturbation_scale", UNRANKED),
        ("samples", UNRANKED),
        ("some_new_rows", UNRANKED),
    ],
)
def test_the_better_direction_of_each_value(key, better):
    assert direction(key) == better


def test_every_declared_reading_is_consistent():
    for key, r in READINGS.items():
        assert r.role in (SCORE, REFERENCE, PARAMETER, SPREAD), key
        if r.role != SCORE:
            assert direction(key) == UNRANKED, key
        if r.role in (REFERENCE, SPREAD) and r.of:
            assert READINGS[r.of].role == SCORE, key
    assert (
        reading("mse").arrow == "↓" and reading("trustworthiness").arrow == "↑" and reading("n").arrow == ""
    )


CARD_PCA = {
    "results": {
        "reconstruction": {"values": {"mse": 0.027, "n": 10000, "split": "test"}},
        "probes": {"values": {"linear_probe_latent": 0.71, "linear_probe_raw": 0.89, "knn_k": 5}},
        "smoothness": {
            "values": {
                "path_ratio_median": 1.0000000000001,
                "lipschitz_max": 1.0000122,
                "second_difference_energy_median": 6e-14,
                "perturbation_relative_change": 0.035,
                "perturbation_scale": 0.05,
            }
        },
        "likelihood": {"skipped": "pca defines no likelihood (only VAEs do)"},
    }
}
CARD_VAE = {
    "results": {
        "reconstruction": {"values": {"mse": 0.011, "n": 10000, "split": "test"}},
        "probes": {"values": {"linear_probe_latent": 0.88, "linear_probe_raw": 0.89, "knn_k": 5}},
        "smoothness": {
            "values": {
                "path_ratio_median": 1.346,
                "lipschitz_max": 3.6,
                "second_difference_energy_median": 0.012,
                "perturbation_relative_change": 0.039,
                "perturbation_scale": 0.05,
            }
        },
        "likelihood": {"values": {"elbo_nats": -106.8}},
    }
}


def _runs():
    """Stand-ins for two runs: a name, a model family, a folder and no report yet."""
    return [
        SimpleNamespace(name=n, model_name=m, config={"files": {}}, path=Path("/nowhere") / n)
        for n, m in (("pca-run", "pca"), ("vae-run", "vae"))
    ]


def test_grouped_keeps_parameters_apart_and_attaches_verdicts():
    said = [SimpleNamespace(id="probe-worse", severity="warning", text="The labels are read worse (0.18).")]
    fams = {f.name: f for f in grouped(CARD_PCA, "pca", said)}
    assert list(fams) == ["reconstruction", "likelihood", "probes", "smoothness"]  # reading order
    rec = fams["reconstruction"]
    assert [s[0] for s in rec.scores] == ["mse"] and dict(rec.parameters) == {"n": 10000, "split": "test"}
    assert fams["likelihood"].skipped.startswith("pca defines no likelihood")
    assert [k for k, _, _ in fams["probes"].references] == ["linear_probe_raw"]
    assert [v.id for v in fams["probes"].verdicts["linear_probe_latent"]] == ["probe-worse"]
    smooth = {s[0]: s for s in fams["smoothness"].scores}
    assert smooth["path_ratio_median"][3] and smooth["lipschitz_max"][3]  # by construction, with why
    assert smooth["perturbation_relative_change"][3] is None  # measured
    assert dict(fams["smoothness"].parameters) == {"perturbation_scale": 0.05}
    page = card_html(CARD_PCA, "pca", said)
    row = re.search(r"<tr data-metric='linear_probe_latent'.*?</tr>", page).group(0)
    assert "↑ higher" in row and "the same on the raw data: 0.89" in row
    # the verdict fills the row under the value it speaks about
    said = re.search(r"</tr><tr class='verdictrow' data-metric='(\w+)'>.*?</tr>", page).group(0)
    assert "linear_probe_latent" in said and "data-verdict='probe-worse'" in said and "(0.18)" in said
    assert "<tr data-metric='n'" not in page and "settings: n 10,000 · split test" in page


def test_by_construction_values_are_never_starred():
    assert by_construction("pca", "path_ratio_median") and by_construction("pca", "lipschitz_p90")
    assert by_construction("vae", "path_ratio_median") is None
    assert by_construction("pca", "mse") is None
    header, body, best = compare_table(_runs(), [CARD_PCA, CARD_VAE])
    rows = {row[1]: (row, b) for row, b in zip(body, best, strict=True)}
    # lower is better and PCA's 1.0 is lowest, but a linear decoder gets it by construction
    for key in ("path_ratio_median", "lipschitz_max", "second_difference_energy_median"):
        assert rows[key][1] is None, key
    assert rows["perturbation_relative_change"][1] == 0  # measured: PCA's 0.035 wins
    assert rows["mse"][1] == 1 and rows["linear_probe_latent"][1] == 1
    assert rows["n"][1] is None and rows["linear_probe_raw"][1] is None  # never ranked
    assert header.runs[0].name == "pca-run"
    page = compare_html(header, body, best, figures=False)
    for key in ("path_ratio_median", "lipschitz_max"):
        row = re.search(rf"<tr data-metric='{key}'>.*?</tr>", page).group(0)
        assert "★" not in row and row.count("by construction") == 1 and "data-by-construction='1'" in row
    mse_row = re.search(r"<tr data-metric='mse'>.*?</tr>", page).group(0)
    assert mse_row.count("★") == 1 and "0.011 ★" in mse_row and "↓ lower" in mse_row
    assert page.count("★") == 1 + sum(b is not None for b in best)  # the legend's star and each best
    assert "no report yet" in page and "latentspace report /nowhere/pca-run" in page


def test_curves_put_both_splits_on_one_axis():
    history = [
        {
            "epoch": e,
            "lr": 1e-3,
            "seconds": 1.0,
            "train_loss": 10 / e,
            "val_loss": 11 / e,
            "train_kl": e,
            "val_kl": e + 0.5,
        }
        for e in range(1, 6)
    ]
    series = curve_series(history)
    assert list(series) == ["kl", "loss"]
    assert series["loss"]["training"][1] == [10 / e for e in range(1, 6)]
    assert series["loss"]["validation"][1] == [11 / e for e in range(1, 6)]
    fig = curves_figure(history)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["kl", "loss"]
    for ax in shown:
        lines = ax.get_lines()
        assert [ln.get_label() for ln in lines] == ["training", "validation"]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "validation"]
    assert list(shown[1].get_lines()[1].get_ydata()) == pytest.approx([11 / e for e in range(1, 6)])
    # a history with a term but no validation split: one series on its axis
    solo = curve_series([{"epoch": 1, "loss": 3.0}, {"epoch": 2, "loss": 2.0}])
    assert list(solo["loss"]) == ["training"]
