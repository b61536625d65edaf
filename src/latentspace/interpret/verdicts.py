"""Verdicts: guardrails that speak up when a run's result should not be trusted.

Each verdict is one sentence with the number that triggered it and what to do, a stable ``id``, a
severity ("warning": the result is likely wrong or misleading; "note": worth knowing) and the value
and limit it compares. They are computed from what a run keeps (config.json's ``info``, written by
the fit stage; history.json; metrics.json; the quality of its stored maps), never by training or
measuring again, so they are cheap and the same for anyone who opens the run:

========================  =======================================================================
id                        fires when
========================  =======================================================================
``mean-image``            the test reconstruction MSE is above MEAN_IMAGE_RATIO (0.8) times the MSE
                          of predicting the training mean for every item
``inactive-units``        latent units whose mean KL(q(z_j|x) || N(0, 1)) is below 0.01 nats (a
                          warning when every unit is: posterior collapse; a note otherwise)
``few-steps``             training took fewer than TOO_FEW_STEPS (1,000) optimiser steps
``feature-scales``        tabular features' standard deviations differ more than SCALE_RATIO (100)
                          fold (values not all in [0, 1]) and the model saw them unscaled
``low-trustworthiness``   a stored map's trustworthiness is below LOW_TRUST (0.7): distances on it
                          do not reflect the latent space's
``probe-worse``           the best probe on the latents reads the labels more than PROBE_MARGIN
                          (0.05) worse than the best probe on the raw data
``gan-collapsed``,        a GAN's own findings (models/gan.py ``findings``): a collapsed generator,
``gan-inversion``         an encoder that inverts it worse than the mean image
========================  =======================================================================

:func:`from_run` computes a run's verdicts; :func:`refresh` also stores them in its verdicts.json
(``{"schema_version": 1, "verdicts": [{"id", "severity", "text", "value", "limit", "source"}]}``,
checked by runfolder/checks.py like every run file). The fit stage writes the file with the run;
the CLI refreshes it after ``evaluate`` and ``map`` and prints one line per verdict; the report
shows them in its verdict box.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

VERDICTS_FILE = "verdicts.json"
SCHEMA_VERSION = 1
WARNING, NOTE = "warning", "note"

MEAN_IMAGE_RATIO = 0.8  # test MSE above this share of the mean-item MSE: reconstructions near the mean
TOO_FEW_STEPS = 1000  # optimiser steps below which a network has not learned small data (see below)
SCALE_RATIO = 100.0  # largest over smallest feature std above which unscaled features mislead
LOW_TRUST = 0.7  # trustworthiness below which a map's distances are not the latent space's
PROBE_MARGIN = 0.05  # accuracy lost by the latents against the raw data before it is said
# TOO_FEW_STEPS: a VAE (latent 8) on scikit-learn's digits reconstructs at 0.66-0.77 of the mean
# item's MSE after 100 steps, 0.44-0.49 after 300, 0.34-0.39 after 1,000 and 0.31-0.35 after 2,000
# (300 and 1,617 training rows); below 1,000 steps the error is still falling fast.


@dataclass(frozen=True)
class Verdict:
    """One verdict: a stable ``id``, ``severity`` (warning or note), one sentence ``text`` with its
    number and what to do, the ``value`` measured and the ``limit`` it crossed, and ``source``: the
    stage whose record it comes from (fit, evaluate, map-<method>[-3d], or the model)."""

    id: str
    severity: str
    text: str
    value: float | None = None
    limit: float | None = None
    source: str = ""
    units: list[int] = field(default_factory=list)  # inactive-units: which latent units

    def to_json(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if v is not None and v != [] and v != ""}
        return out

    def line(self) -> str:
        """``warning few-steps: <text>``, as the CLI prints it."""
        return f"{self.severity} {self.id}: {self.text}"


# --- the checks: plain numbers in, a verdict or None out ------------------------------------------
def mean_image(mse: float, mse_mean: float, source: str = "evaluate") -> Verdict | None:
    """Reconstructions close to the mean item: test MSE above MEAN_IMAGE_RATIO of the mean's MSE."""
    if not _finite(mse, mse_mean) or mse_mean <= 0:
        return None
    ratio = mse / mse_mean
    if ratio <= MEAN_IMAGE_RATIO:
        return None
    return Verdict(
        "mean-image",
        WARNING,
        f"Reconstructions are close to the mean item: their test MSE ({mse:.4g}) is {ratio:.0%} of the"
        f" {mse_mean:.4g} of predicting the training mean for every item (a verdict above"
        f" {MEAN_IMAGE_RATIO:.0%}); train for more steps, lower beta or raise latent_dim.",
        value=round(ratio, 6),
        limit=MEAN_IMAGE_RATIO,
        source=source,
    )


def inactive_units(kl_per_dim, threshold: float, source: str = "fit") -> Verdict | None:
    """Latent units whose mean KL is below ``threshold`` nats (a VAE's posterior collapse)."""
    kl = [float(v) for v in kl_per_dim]
    dead = [j for j, v in enumerate(kl) if v < threshold]
    if not dead or not kl:
        return None
    k = len(kl)
    which = _unit_list(dead)
    if len(dead) == k:
        text = (
            f"All {k} latent units are inactive (each one's KL to the prior is below {threshold:g} nats,"
            f" the largest {max(kl):.2g}): the posterior collapsed and the latents say nothing about the"
            " items; lower beta, set kl_warmup, or train for more steps."
        )
    else:
        text = (
            f"{len(dead)} of {k} latent units are inactive (KL to the prior below {threshold:g} nats:"
            f" {which}) and carry nothing about the items; the other {k - len(dead)} hold what the"
            f" latent says, so latent_dim {k - len(dead)} would do (or lower beta to use more)."
        )
    return Verdict(
        "inactive-units",
        WARNING if len(dead) == k else NOTE,
        text,
        value=len(dead),
        limit=threshold,
        source=source,
        units=dead,
    )


def few_steps(steps: int, per_epoch: int | None, min_steps: int, source: str = "fit") -> Verdict | None:
    """Training that took fewer than TOO_FEW_STEPS optimiser steps."""
    if not _finite(steps) or steps >= TOO_FEW_STEPS:
        return None
    how = ""
    if per_epoch:
        epochs = max(1, round(steps / per_epoch))
        how = f" ({epochs:,} epoch{'s' if epochs != 1 else ''} of {per_epoch:,} batches)"
    need = f"raise --epochs to {math.ceil(min_steps / per_epoch):,}" if per_epoch else "raise --epochs"
    return Verdict(
        "few-steps",
        WARNING,
        f"Training took {int(steps):,} optimiser steps{how}, fewer than the {TOO_FEW_STEPS:,} a network"
        f" needs to learn these data; leave --epochs out (fit then trains at least {min_steps:,} steps)"
        f" or {need}.",
        value=int(steps),
        limit=TOO_FEW_STEPS,
        source=source,
    )


def feature_scales(ratio: float, largest: str, smallest: str, scale: str | None) -> Verdict | None:
    """Tabular features whose standard deviations differ more than SCALE_RATIO-fold, not standardised."""
    if scale == "standard" or not _finite(ratio) or ratio <= SCALE_RATIO:
        return None
    return Verdict(
        "feature-scales",
        WARNING,
        f"The features differ widely in scale (the standard deviation of {largest} is {ratio:,.0f} times"
        f" that of {smallest}) and the model saw them unscaled, so the largest dominate its loss, its"
        " components and every distance; fit again with --scale standard (or --scale auto, the default).",
        value=round(ratio, 3),
        limit=SCALE_RATIO,
        source="fit",
    )


def map_trust(quality: dict, method: str, dims: int) -> Verdict | None:
    """A stored map whose trustworthiness is below LOW_TRUST."""
    t, k = quality.get("trustworthiness"), quality.get("k")
    if not _finite(t) or t >= LOW_TRUST:
        return None
    at = f" at k={k}" if isinstance(k, int) else ""
    name = f"{method}{'' if dims == 2 else f' {dims}-D'} map"
    return Verdict(
        "low-trustworthiness",
        WARNING,
        f"The {name} keeps the latent space's neighbourhoods poorly (trustworthiness {t:.2f}{at}, below"
        f" {LOW_TRUST:g}): do not read distances on this map; ask for neighbours in the latent space"
        " (latentspace neighbours) or try another map method.",
        value=round(float(t), 6),
        limit=LOW_TRUST,
        source=f"map-{method}" + ("" if dims == 2 else f"-{dims}d"),
    )


def probe_worse(values: dict) -> Verdict | None:
    """The latents read the labels more than PROBE_MARGIN worse than the raw data (the better of the
    linear and kNN probes on each side)."""
    latent = {k: values.get(k) for k in ("linear_probe_latent", "knn_latent") if _finite(values.get(k))}
    raw = {k: values.get(k) for k in ("linear_probe_raw", "knn_raw") if _finite(values.get(k))}
    if not latent or not raw:
        return None
    best_latent = max(latent, key=latent.get)
    best_raw = max(raw, key=raw.get)
    gap = raw[best_raw] - latent[best_latent]
    if gap <= PROBE_MARGIN:
        return None
    kind = {
        "linear_probe_latent": "linear",
        "knn_latent": "kNN",
        "linear_probe_raw": "linear",
        "knn_raw": "kNN",
    }
    return Verdict(
        "probe-worse",
        WARNING,
        "The labels are read worse from the latents than from the raw data (best probe"
        f" {latent[best_latent]:.2f}, {kind[best_latent]}, against {raw[best_raw]:.2f},"
        f" {kind[best_raw]}): the latent space lost what tells the classes apart; raise latent_dim"
        " or train for more steps.",
        value=round(gap, 6),
        limit=PROBE_MARGIN,
        source="evaluate",
    )


# --- a run's verdicts -------------------------------------------------------------------------------
def collect(
    info: dict,
    *,
    feature_names=None,
    is_image: bool = False,
    model: str = "",
    card: dict | None = None,
    maps: list[tuple[str, int, dict]] = (),
) -> list[Verdict]:
    """Every verdict on what a run records: its ``info`` (config.json), its report card (metrics.json,
    optional) and the quality of its stored maps (``(method, dims, quality)``). Warnings first."""
    out: list[Verdict | None] = []
    results = (card or {}).get("results", {})

    rec = results.get("reconstruction", {}).get("values", {})
    if _finite(rec.get("mse")) and _finite(info.get("mse_mean_item")):
        out.append(mean_image(rec["mse"], info["mse_mean_item"], "evaluate"))
    elif _finite(info.get("test_mse")) and _finite(info.get("mse_mean_item")):
        out.append(mean_image(info["test_mse"], info["mse_mean_item"], "fit"))

    kl = info.get("kl_per_dim")
    if isinstance(kl, list) and kl:
        from ..models.vae import INACTIVE_KL

        out.append(inactive_units(kl, INACTIVE_KL))

    steps = info.get("optimiser_steps")
    if isinstance(steps, int) and steps < TOO_FEW_STEPS:
        from ..models.config import MIN_STEPS

        per = info.get("steps_per_epoch")
        out.append(few_steps(steps, per if isinstance(per, int) and per > 0 else None, MIN_STEPS))

    ratio = info.get("feature_std_ratio")
    if not is_image and _finite(ratio) and not info.get("values_in_unit_interval"):
        largest = _feature(info.get("feature_std_largest"), feature_names)
        smallest = _feature(info.get("feature_std_smallest"), feature_names)
        out.append(feature_scales(ratio, largest, smallest, info.get("scale")))

    for method, dims, quality in maps:
        out.append(map_trust(quality, method, dims))

    probes = results.get("probes", {}).get("values", {})
    if probes:
        out.append(probe_worse(probes))

    if model == "gan":
        from ..models.gan import findings

        for f in findings(info):
            out.append(Verdict(f["id"], WARNING, _sentence(f["text"]), f["value"], f["limit"], source="gan"))
    found = [v for v in out if v is not None]
    return sorted(found, key=lambda v: v.severity != WARNING)


def model_failed(verdicts: list[Verdict]) -> bool:
    """Whether the verdicts say the model itself failed (its reconstructions are the mean item, its
    posterior collapsed entirely, its generator collapsed or its encoder does not invert it), rather
    than that some result needs care."""
    return any(
        v.id in ("mean-image", "gan-collapsed", "gan-inversion")
        or (v.id == "inactive-units" and v.severity == WARNING)
        for v in verdicts
    )


def from_run(run) -> list[Verdict]:
    """The verdicts on ``run`` from what it keeps (config, metrics.json, stored maps)."""
    from ..maps.store import read_map_table, stored_maps

    cfg = run.config
    ds = cfg["dataset"]
    maps = []
    for method, dims in stored_maps(run):
        _, meta = read_map_table(run, method, dims)
        maps.append((method, dims, meta.get("quality") or {}))
    return collect(
        cfg.get("info", {}),
        feature_names=ds.get("feature_names"),
        is_image=bool(ds.get("sample_shape")),
        model=cfg["model"]["name"],
        card=run.read_json("metrics.json"),
        maps=maps,
    )


def to_json(verdicts: list[Verdict]) -> dict:
    return {"schema_version": SCHEMA_VERSION, "verdicts": [v.to_json() for v in verdicts]}


def dumps(verdicts: list[Verdict]) -> bytes:
    """verdicts.json's bytes."""
    return (json.dumps(to_json(verdicts), indent=1, sort_keys=True) + "\n").encode()


def refresh(run) -> list[Verdict]:
    """Compute the verdicts on ``run`` and store them in its verdicts.json (when they changed)."""
    found = from_run(run)
    data = dumps(found)
    if VERDICTS_FILE not in run.config["files"] or run.read_file(VERDICTS_FILE) != data:
        run.write_file(VERDICTS_FILE, data)
    return found


def stored(run) -> list[Verdict]:
    """The verdicts kept in ``run``'s verdicts.json (checked against its schema; [] when none)."""
    data = run.read_json(VERDICTS_FILE)
    if not data:
        return []
    return [
        Verdict(
            v["id"],
            v["severity"],
            v["text"],
            v.get("value"),
            v.get("limit"),
            v.get("source", ""),
            list(v.get("units", [])),
        )
        for v in data["verdicts"]
    ]


# --- helpers ----------------------------------------------------------------------------------------
def _finite(*values) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def _unit_list(units: list[int], most: int = 8) -> str:
    shown = ", ".join(f"z_{j}" for j in units[:most])
    return shown + (f" and {len(units) - most} more" if len(units) > most else "")


def _feature(j, names) -> str:
    if isinstance(j, int) and names and 0 <= j < len(names):
        return str(names[j])
    return f"feature {j}" if isinstance(j, int) else "one feature"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."
