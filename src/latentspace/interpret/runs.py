"""A run's interpretation: :func:`interpret_run` reads a run folder (latents, label, factor and
metadata columns, the model), builds the interpret.json document
(:func:`~latentspace.interpret.interpretation.interpret_latents`) and keeps it in the run.

It orders the dimensions by importance (KL per dimension on held-out rows for a model with a
Gaussian posterior, variance otherwise), names each dimension and each leading principal direction
by the column it is most tied to, and, for a model with a decoder, records traversals along the
most important directions and the decoder's local sensitivity per item. The same seed gives the
same file, byte for byte. ``latentspace.interpret(run)``, the stage
:func:`latentspace.stages.interpret.interpret` and ``latentspace interpret RUN`` all call it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from .columns import run_columns
from .interpretation import FILE, MAX_PCS, Interpretation, interpret_latents
from .named import kl_per_dimension

MAX_ROWS = 20_000  # rows compared with the columns (a seeded sample beyond)
MAX_KL_ROWS = 5_000  # held-out rows encoded for the KL per dimension
MAX_SENSITIVITY_ROWS = 5_000  # rows whose decoder sensitivity is measured
MAX_TRAVERSE = 64
MAX_ITEMS = 16
MAX_STEPS = 33


def _bounded(name: str, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise InputError(f"{name} must be a number from {lo:,} to {hi:,}; got {value!r}")
    return value


def _choice(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    """``k`` rows of ``pool`` drawn without replacement (all of them when it has at most ``k``), sorted."""
    pool = np.asarray(pool, np.int64)
    if len(pool) <= k:
        return pool
    return np.sort(rng.choice(pool, k, replace=False))


def interpret_run(
    run,
    *,
    seed: int = 0,
    pcs: int = 8,
    rows: int = MAX_ROWS,
    traverse: int = 8,
    items: int = 3,
    steps: int = 7,
    span: float = 2.0,
    sensitivity_rows: int = MAX_SENSITIVITY_ROWS,
    write: bool = True,
) -> Interpretation:
    """Interpret the latent space of ``run`` (a Run or its folder) and, with ``write``, keep the
    result in its interpret.json.

    ``pcs``: leading principal directions named beside the dimensions; ``rows``: rows compared with
    the columns (a seeded sample when the run has more); ``traverse``: directions traversed (the
    most important active dimensions, and principal directions for up to half of them), around
    ``items`` rows at ``steps`` offsets from -``span`` to +``span`` standard deviations;
    ``sensitivity_rows``: rows whose decoder sensitivity is measured."""
    from ..runfolder import Run

    run = run if isinstance(run, Run) else Run(Path(run))
    _bounded("seed", seed, 0, 2**32 - 1)
    _bounded("pcs", pcs, 0, MAX_PCS)
    _bounded("rows", rows, 100, 10_000_000)
    _bounded("traverse", traverse, 0, MAX_TRAVERSE)
    _bounded("items", items, 1, MAX_ITEMS)
    _bounded("steps", steps, 2, MAX_STEPS)
    _bounded("span", span, 1e-3, 10.0)
    _bounded("sensitivity_rows", sensitivity_rows, 1, 1_000_000)
    table = run.latents()
    Z = run.latent_matrix()
    n = len(Z)
    rng = np.random.default_rng(seed)
    sample = _choice(rng, np.arange(n), int(rows))
    columns, skipped = run_columns(table.take(sample), run.config)
    if "split" in table.column_names:
        test = np.asarray(table["split"].to_numpy(zero_copy_only=False) == "test")
    else:
        test = np.zeros(n, bool)
    held_out = np.flatnonzero(test) if test.any() else np.arange(n)
    model = run.load_model()
    kl = kl_rows = None
    if hasattr(model, "encode_posterior") and getattr(model, "has_encoder", True) and run.has_source_data:
        kl_rows = _choice(rng, held_out, MAX_KL_ROWS)
        X = run.load_dataset().X
        mu, logvar = model.encode_posterior(np.asarray(X[kl_rows], np.float32))
        kl = kl_per_dimension(mu, logvar)
    has_decoder = bool(getattr(model, "has_decoder", True))
    labels = class_names = None
    if "label" in table.column_names:
        labels = np.asarray(table["label"].to_numpy(zero_copy_only=False), np.int64)
        names = run.config["dataset"].get("label_names")
        if names is not None and labels.min() >= 0 and labels.max() < len(names):
            class_names = [str(v) for v in names]
        else:  # codes without names: shown as numbers
            uniq, labels = np.unique(labels, return_inverse=True)
            class_names = [str(v) for v in uniq]
    note = None
    if not has_decoder:
        what = (
            "imported vectors" if run.model_name == "embeddings" else f"its {run.model_name} model has none"
        )
        note = f"no decoder in this run ({what}): no traversal or sensitivity, only names and ties"
    doc = interpret_latents(
        Z,
        columns,
        skipped_columns=skipped,
        rows=sample,
        kl=kl,
        kl_rows=None if kl_rows is None else len(kl_rows),
        kl_split="test" if test.any() else "all",
        pcs=int(pcs),
        decode=model.decode if has_decoder else None,
        no_decoder=note or "",
        traverse=int(traverse),
        items=[int(i) for i in _choice(rng, held_out, int(items))],
        steps=int(steps),
        span=float(span),
        sensitivity_rows=_choice(rng, sample, int(sensitivity_rows)),
        labels=labels,
        class_names=class_names,
        seed=int(seed),
    )
    path = None
    if write:
        path = run.write_file(FILE, dumps(doc))
    return Interpretation(doc, path)


def dumps(doc: dict) -> bytes:
    """interpret.json's bytes: sorted keys, one space of indent (small, stable)."""
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode()
