"""The stages as library calls: fit a model into a run folder, encode data with a run."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .data import Dataset, load
from .data.splits import split_mask
from .models.registry import create_model
from .runfolder import Run, check_destination, save_run

log = logging.getLogger(__name__)


def fit(
    data: Dataset | str,
    model: str = "pca",
    *,
    latent_dim: int | None = None,
    out: str | Path | None = None,
    seed: int = 0,
    test_fraction: float | None = None,
    overwrite: bool = False,
    **params,
):
    """Fit ``model`` (a registry name) on the training split of ``data``.

    With ``out``, writes a run folder (model, latents of every row, config) and returns the
    :class:`~latentspace.runfolder.Run`; otherwise returns the fitted model.
    """
    if out is not None:
        check_destination(out, overwrite)  # fail before the long work, not after it
    ds = load(data) if isinstance(data, str | Path) else data
    estimator = create_model(model, latent_dim=latent_dim, **params)
    if "random_state" in estimator.get_params() and estimator.random_state is None:
        estimator.set_params(random_state=seed)
    test_mask, split = split_mask(ds, test_fraction, seed)
    train = ds.X if not test_mask.any() else ds.X[~test_mask]
    log.info("fitting %s on %d of %d rows of %s", model, len(train), ds.n, ds.name)
    estimator.fit(train)
    if out is None:
        return estimator
    Z = estimator.encode(ds.X)
    return save_run(
        out, estimator, ds, seed=seed, split=split, test_mask=test_mask, Z=Z, overwrite=overwrite
    )


def encode(run: Run | str | Path, data: Dataset | str, out: str | Path | None = None):
    """Encode ``data`` with the model of ``run``; write Parquet to ``out`` or return Z."""
    from .runfolder.atomic import atomic_write_parquet
    from .runfolder.folder import latents_table

    run = run if isinstance(run, Run) else Run(run)
    ds = load(data) if isinstance(data, str | Path) else data
    Z = run.load_model().encode(ds.X)
    if out is None:
        return Z
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(out, latents_table(np.asarray(Z), ds, None))
    return out
