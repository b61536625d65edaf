"""Reading a report card (the dict ``latentspace.stages.evaluate`` keeps in metrics.json): how each
value is read (which way is better, score or parameter: ``READINGS``), the values a model family
gets by construction (``BY_CONSTRUCTION``), the card grouped by family, and several cards lined up
for comparison. Pure functions; the card is computed by the evaluate stage and drawn by the CLI and
``latentspace.report``."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import HIGHER, LOWER, PARAMETER, REFERENCE, SCORE, SPREAD, UNRANKED, ByConstruction, Reading

FAMILIES = {  # family -> what it asks, in the order a person reads them
    "reconstruction": "how closely items come back through the latents",
    "likelihood": "how probable the model finds held-out data",
    "neighbourhood": "whether neighbours in the data stay neighbours in the latents",
    "probes": "how well the labels can be read from the latents",
    "disentanglement": "whether each known factor lives in its own latent dimension",
    "smoothness": "how evenly the decoder responds to moves in latent space",
    "generation": "how much samples from the prior resemble the data",
}

_H, _L = Reading(HIGHER), Reading(LOWER)
READINGS: dict[str, Reading] = {
    # reconstruction
    "mse": Reading(LOWER, meaning="mean squared error per value, held-out rows"),
    "mse_per_item": Reading(LOWER, meaning="squared error summed over an item"),
    "bce_per_item": Reading(LOWER, meaning="binary cross-entropy summed over an item"),
    "split": Reading(role=PARAMETER),
    # likelihood
    "elbo_nats": Reading(HIGHER, meaning="evidence lower bound per item"),
    "iwae_nats": Reading(HIGHER, meaning="importance-weighted bound per item (tighter)"),
    "elbo_bits_per_dim": _L,
    "iwae_bits_per_dim": _L,
    "likelihood": Reading(role=PARAMETER),
    "iwae_k": Reading(role=PARAMETER),
    # neighbourhood
    "trustworthiness": Reading(HIGHER, meaning="latent neighbours that are data neighbours"),
    "continuity": Reading(HIGHER, meaning="data neighbours kept as latent neighbours"),
    "knn_preservation": Reading(HIGHER, meaning="share of the k nearest neighbours kept"),
    "estimate": Reading(role=PARAMETER),
    "sampled_rows": Reading(role=PARAMETER),
    # probes
    "linear_probe_latent": Reading(HIGHER, meaning="logistic regression accuracy on the latents"),
    "knn_latent": Reading(HIGHER, meaning="kNN accuracy on the latents"),
    "linear_probe_raw": Reading(role=REFERENCE, meaning="the same on the raw data", of="linear_probe_latent"),
    "knn_raw": Reading(role=REFERENCE, meaning="the same on the raw data", of="knn_latent"),
    "linear_probe_train_rows": Reading(role=PARAMETER),
    "knn_k": Reading(role=PARAMETER),
    # disentanglement
    "mig": Reading(HIGHER, meaning="mutual information gap"),
    "sap": Reading(HIGHER, meaning="separated attribute predictability"),
    "dci_disentanglement": _H,
    "dci_completeness": _H,
    "dci_informativeness": _H,
    # smoothness
    "path_ratio_median": Reading(LOWER, meaning="decoded path length over its chord (1 = straight)"),
    "path_ratio_p90": _L,
    "second_difference_energy_median": Reading(LOWER, meaning="bends along decoded paths"),
    "lipschitz_median": Reading(LOWER, meaning="output change per unit latent move"),
    "lipschitz_p90": _L,
    "lipschitz_max": _L,
    "perturbation_relative_change": Reading(LOWER, meaning="change after a 5% move, of a typical gap"),
    "perturbation_scale": Reading(role=PARAMETER),
    "interpolation_pairs": Reading(role=PARAMETER),
    "active_units": Reading(HIGHER, meaning="latent units the data use"),
    "latent_dim": Reading(role=PARAMETER),
    # generation
    "fd_self": Reading(LOWER, meaning="Fréchet distance of samples to held-out data"),
    "kd_self": Reading(LOWER, meaning="kernel distance of samples to held-out data"),
    "kd_self_std": Reading(role=SPREAD, of="kd_self"),
    "fd_self_real_vs_real": Reading(role=REFERENCE, meaning="two halves of real data", of="fd_self"),
    "kd_self_real_vs_real": Reading(role=REFERENCE, meaning="two halves of real data", of="kd_self"),
    "class_coverage": Reading(HIGHER, meaning="share of classes the samples reach"),
    "class_share_min": Reading(meaning="rarest class among samples"),
    "class_share_max": Reading(meaning="commonest class among samples"),
    "sample_diversity": Reading(meaning="spread of samples against real data"),
    "samples": Reading(role=PARAMETER),
    "features": Reading(role=PARAMETER),
    "description": Reading(role=PARAMETER, meaning="what the number can and cannot tell"),
    "interval": Reading(role=PARAMETER, meaning="how the sampled estimate was made"),
    # settings shared by several families
    "n": Reading(role=PARAMETER),
    "k": Reading(role=PARAMETER),
    "rows": Reading(role=PARAMETER),
    "seed": Reading(role=PARAMETER),
}

LINEAR_DECODERS = ("pca",)  # families whose decoder is an affine map x = z W + mean
BY_CONSTRUCTION = (
    ByConstruction(
        LINEAR_DECODERS,
        ("path_ratio", "second_difference_energy"),
        "a linear decoder maps straight latent paths to straight paths (ratio 1, no bends)",
    ),
    ByConstruction(
        LINEAR_DECODERS,
        ("lipschitz",),
        "a linear decoder stretches every point alike (1 for orthonormal components)",
    ),
)

# verdicts (interpret/verdicts.py) and the card value each one speaks about
VERDICT_METRICS = {
    "mean-image": ("reconstruction", "mse"),
    "probe-worse": ("probes", "linear_probe_latent"),
    "inactive-units": ("smoothness", "active_units"),
}


def reading(key: str) -> Reading:
    """How the card value ``key`` is read; keys not in ``READINGS`` by their form (``_std`` a
    spread, ``_k`` / ``_rows`` a parameter, ``dci_*`` / ``mig*`` higher) or else unranked."""
    if key in READINGS:
        return READINGS[key]
    if key.endswith("_std"):
        return Reading(role=SPREAD, of=key.removesuffix("_std"))
    if key.endswith(("_k", "_rows", "_scale", "_pairs")):
        return Reading(role=PARAMETER)
    if key.endswith(("_real_vs_real", "_raw")):
        return Reading(role=REFERENCE)
    if key.startswith(("dci_", "mig", "sap")):
        return _H
    return Reading()


def direction(key: str) -> int:
    """+1 higher is better, -1 lower is better, 0 not ranked (parameters, references, spreads)."""
    r = reading(key)
    return r.better if r.role == SCORE else UNRANKED


def by_construction(model_name: str, key: str) -> str | None:
    """Why ``model_name`` gets the value ``key`` from its form (None: it is measured)."""
    for fact in BY_CONSTRUCTION:
        if fact.covers(model_name, key):
            return fact.why
    return None


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


@dataclass
class Family:
    """One family of a card, as a person reads it: ``scores`` [(key, value, Reading, by
    construction or None, spread or None)], ``references`` [(key, value, Reading)], ``parameters``
    [(key, value)], ``skipped`` (the reason, or None), ``verdicts`` {key: [verdict]}."""

    name: str
    question: str
    scores: list = field(default_factory=list)
    references: list = field(default_factory=list)
    parameters: list = field(default_factory=list)
    skipped: str | None = None
    verdicts: dict = field(default_factory=dict)


def grouped(card: dict, model_name: str = "", verdicts=()) -> list[Family]:
    """The card by family (``FAMILIES`` order, unknown ones after), scores apart from parameters;
    ``verdicts`` (objects with ``id``) are attached to the value ``VERDICT_METRICS`` names."""
    results = card["results"]
    order = [f for f in FAMILIES if f in results] + [f for f in results if f not in FAMILIES]
    out = []
    for name in order:
        entry = results[name]
        fam = Family(name, FAMILIES.get(name, ""))
        if "skipped" in entry:
            fam.skipped = str(entry["skipped"])
            out.append(fam)
            continue
        values = {
            k: v
            for k, v in entry["values"].items()
            if isinstance(v, int | float | str) and not isinstance(v, bool)
        }
        spreads = {reading(k).of: v for k, v in values.items() if reading(k).role == SPREAD}
        for key, value in values.items():
            r = reading(key)
            if r.role == SCORE and isinstance(value, int | float):
                why = by_construction(model_name, key)
                fam.scores.append((key, value, r, why, spreads.get(key)))
            elif r.role == REFERENCE:
                fam.references.append((key, value, r))
            elif r.role == SCORE:  # a score that could not be computed: its reason, with the scores
                fam.scores.append((key, value, r, None, None))
            elif r.role == PARAMETER:
                fam.parameters.append((key, value))
        rank = {k: i for i, k in enumerate(READINGS)}
        fam.scores.sort(key=lambda s: rank.get(s[0], len(rank)))
        for v in verdicts:
            fam_key = VERDICT_METRICS.get(v.id)
            if fam_key and fam_key[0] == name:
                fam.verdicts.setdefault(fam_key[1], []).append(v)
        out.append(fam)
    return out


class Header(list):
    """The comparison's column names (``family``, ``metric``, then one per run) that also carry
    the runs (``runs``), so the page can link their reports and say which values each run's
    family gets by construction (``by_construction[row] = {column: why}``)."""

    runs: list
    by_construction: dict


def compare_table(runs, cards) -> tuple[Header, list[list[object]], list[int | None]]:
    """Header, body rows (family, key, value per run) and the index of the best run per row.

    A row is ranked only when its value is a score with a better direction; a run whose family gets
    the value by construction (a linear decoder's path ratio of 1) is never the best."""
    keys: list[tuple[str, str]] = []
    for card in cards:
        for fam, key, _ in rows(card):
            if (fam, key) not in keys:
                keys.append((fam, key))
    values = [{(f, k): v for f, k, v in rows(card)} for card in cards]
    models = [getattr(r, "model_name", "") for r in runs]
    body, best, built = [], [], {}
    for r, (fam, key) in enumerate(keys):
        cells = [v.get((fam, key)) for v in values]
        body.append([fam, key, *cells])
        sign = direction(key)
        why = {i: w for i, m in enumerate(models) if (w := by_construction(m, key))}
        if why:
            built[r] = why
        nums = [
            (i, x)
            for i, x in enumerate(cells)
            if isinstance(x, int | float) and not isinstance(x, bool) and i not in why
        ]
        best.append(max(nums, key=lambda t: sign * t[1])[0] if sign and len(nums) > 1 else None)
    header = Header(["family", "metric", *[r.name for r in runs]])
    header.runs = list(runs)
    header.by_construction = built
    return header, body, best


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
