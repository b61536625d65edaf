"""The fit stage: train a model on the training split and write a run folder (with resume).

Two defaults guard against the worst results on small or tabular data: a neural model trains at
least MIN_STEPS optimiser steps (models/config.py) unless its epochs are given, and ``scale="auto"``
standardises tabular data whose feature scales differ (data/scaling.py). The run's config ``info``
records what was chosen and measured (the scaling, the feature scales, the test MSE against that of
predicting the mean item), from which its verdicts (interpret/verdicts.py) are written to
verdicts.json with the run.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_json
from ..data import Dataset, load
from ..data.source import rows_of
from ..data.splits import split_mask
from ..errors import InputError, LatentspaceError, RunIntegrityError
from ..models.registry import create_model, is_imported
from ..runfolder import save_run
from .targets import check_target

log = logging.getLogger(__name__)


def checkpoint_dir(out: str | Path) -> Path:
    """Where a run's training checkpoints live until the run is complete: ``.<name>.checkpoints``."""
    out = Path(out)
    return out.parent / f".{out.name}.checkpoints"


def _resume_guard(ckpt: Path, fingerprint: dict, resume: bool) -> bool:
    """Record what is being trained; on resume refuse a different model, data or seed. True when
    this call created the checkpoint folder (a fresh start on the main process)."""
    record = ckpt / "fit.json"
    if resume:
        if not record.is_file():
            raise InputError(f"nothing to resume: no interrupted training at {ckpt}")
        from ..runfolder.schema import read_json_file

        before = read_json_file(record)  # bounded in size and depth: the folder is untrusted
        if not isinstance(before, dict):
            raise RunIntegrityError(f"{record} must hold a JSON object; start again without --resume")
        changed = sorted(k for k in set(before) | set(fingerprint) if before.get(k) != fingerprint.get(k))
        if changed:
            raise InputError(
                f"cannot resume: {', '.join(changed)} differ from the interrupted run in {ckpt};"
                " resume with the same command line, or start again without --resume"
            )
        return False
    from ..train.device import is_main_process

    if not is_main_process():  # under torchrun rank 0 alone prepares (and later writes) the folder:
        return False  # two ranks each replacing it deleted each other's files (a flaky failure)
    if ckpt.exists():
        shutil.rmtree(ckpt)  # a fresh start replaces an abandoned attempt
    ckpt.mkdir(parents=True)
    atomic_write_json(record, fingerprint)
    return True


@contextmanager
def _kept_only_to_resume(ckpt: Path, created: bool) -> Iterator[None]:
    """Remove the checkpoints of a fresh fit that fails, unless ``--resume`` could finish it.

    A refused or diverging fit (:class:`LatentspaceError`) would fail again with the same command,
    so nothing of it is left. A failure of the machine (disk, memory) after an epoch was saved keeps
    the checkpoints, and says so; Ctrl-C or a kill keeps them always (KeyboardInterrupt is not an
    Exception; a killed process runs no code). A resumed fit's checkpoints belong to the earlier
    attempt and are always kept."""
    from ..train import TrainingDiverged
    from ..train.checkpoint import LAST

    try:
        yield
    except LatentspaceError as exc:
        if created:
            shutil.rmtree(ckpt, ignore_errors=True)
            if isinstance(exc, TrainingDiverged):
                raise exc.without_checkpoint() from None
        raise
    except Exception:
        if created and (ckpt / "train" / LAST).is_file():
            log.warning("the training so far is kept in %s: the same command with --resume goes on", ckpt)
        elif created:
            shutil.rmtree(ckpt, ignore_errors=True)
        raise


def fit(
    data: Dataset | str,
    model: str = "pca",
    *,
    latent_dim: int | None = None,
    out: str | Path | None = None,
    seed: int = 0,
    test_fraction: float | None = None,
    overwrite: bool = False,
    resume: bool = False,
    scale: str = "auto",
    **params,
):
    """Fit ``model`` (a registry name) on the training split of ``data``.

    With ``out``, writes a run folder (model, latents of every row, config, training history,
    verdicts) and returns the :class:`~latentspace.runfolder.Run`; otherwise returns the fitted
    model. Neural models checkpoint every epoch; ``resume=True`` continues an interrupted ``fit``
    with the same arguments and ends where an uninterrupted one would.

    ``scale``: "auto" (standardise tabular data whose feature standard deviations differ more than
    data.scaling.AUTO_RATIO-fold, unless every value lies in [0, 1]; leave images alone), "standard"
    or "none"; the scaling is kept in
    the model and undone on decode. A neural model given no ``epochs`` (nor ``min_steps``) trains at
    least MIN_STEPS optimiser steps; given ``epochs``, exactly those.
    """
    from ..data.scaling import feature_stats, resolve_stats

    if out is not None:
        check_target(out, overwrite, kind="run")  # fail before the long work, not after it
    if is_imported(model):
        raise InputError(
            f"model {model!r} holds a latent space made elsewhere and is not trained by fit;"
            " bring it in with `latentspace import` (or latentspace.import_embeddings / wrap)"
        )
    ds = load(data) if isinstance(data, str | Path) else data
    scale = params.pop("scale", scale)  # -p scale=... is --scale
    test_mask, split = split_mask(ds, test_fraction, seed)
    train = ds.X if not test_mask.any() else rows_of(ds.X, ~test_mask)  # on-disk data stays there
    stats = feature_stats(train)
    choice = resolve_stats(scale, stats, is_image=ds.is_image)
    estimator = create_model(model, latent_dim=latent_dim, **params)
    own = estimator.get_params()
    if "random_state" in own and own["random_state"] is None:
        estimator.set_params(random_state=seed)
    if "sample_shape" in own and own["sample_shape"] is None and ds.is_image:
        estimator.set_params(sample_shape=tuple(ds.sample_shape))
    if "min_steps" in own and "epochs" not in params and "min_steps" not in params:
        from ..models.config import MIN_STEPS

        estimator.set_params(min_steps=MIN_STEPS)
    if "scale" in own:
        estimator.set_params(scale=choice.scale)
    elif choice.requested == "standard":
        raise InputError(f"--scale standard: model {model!r} takes no scaling (it has no scale parameter)")
    if choice.scale == "standard" or choice.requested != "auto":
        log.info("scale %s: %s", choice.scale, choice.reason(ds.feature_names))
    log.info("fitting %s on %d of %d rows of %s", model, len(train), ds.n, ds.name)
    if getattr(estimator, "trains_in_epochs", False) and out is not None:
        ckpt = checkpoint_dir(out)
        fingerprint = {
            "model": model,
            "params": json.loads(json.dumps(estimator.get_params())),
            "data": ds.fingerprint(),
            "seed": seed,
            "split": split,
        }
        created = _resume_guard(ckpt, fingerprint, resume)
        with _kept_only_to_resume(ckpt, created):
            estimator.fit(train, checkpoint_dir=ckpt / "train", resume=resume)
            return _save(estimator, ds, out, seed, split, test_mask, overwrite, ckpt, stats, choice)
    if resume:
        raise InputError(f"--resume applies to neural models; {model!r} trains in one step")
    estimator.fit(train)
    if out is None:
        return estimator
    return _save(estimator, ds, out, seed, split, test_mask, overwrite, None, stats, choice)


MSE_ROWS = 5000  # held-out rows reconstructed at fit time for the mean-item verdict (evaluate: all)


def fit_measures(estimator, ds: Dataset, Z, test_mask, stats, choice) -> dict:
    """What the fit stage records beside the model's own ``info``: the scaling asked for, how the
    features' scales differ (tabular data), and the held-out reconstruction MSE (at most MSE_ROWS
    rows) against the MSE of predicting the training mean for every held-out item (all of them)."""
    from ..data.scaling import feature_stats

    out: dict = {"scale_requested": choice.requested}
    if choice.ratio is not None:
        out["feature_std_ratio"] = round(choice.ratio, 6)
        out["values_in_unit_interval"] = choice.unit_interval
        if choice.largest >= 0:
            out["feature_std_largest"], out["feature_std_smallest"] = choice.largest, choice.smallest
    held = test_mask if test_mask.any() else np.ones(ds.n, dtype=bool)
    h = feature_stats(rows_of(ds.X, held) if not held.all() else ds.X)
    out["mse_mean_item"] = float(np.mean(h.std**2 + (h.mean - stats.mean) ** 2))
    if getattr(estimator, "has_decoder", True):
        rows = np.flatnonzero(held)
        if len(rows) > MSE_ROWS:
            rows = np.sort(np.random.default_rng(0).choice(rows, MSE_ROWS, replace=False))
        X = np.asarray(ds.X[rows], dtype=np.float64)
        out["test_mse"] = float(np.mean((estimator.decode(Z[rows]).astype(np.float64) - X) ** 2))
        out["test_mse_rows"] = int(len(rows))
    return out


def _save(
    estimator,
    ds: Dataset,
    out,
    seed: int,
    split: dict,
    test_mask,
    overwrite: bool,
    ckpt: Path | None,
    stats,
    choice,
):
    """Write the run folder of a fitted estimator (rank 0 alone under torchrun: others get None),
    with what the fit stage measured in its ``info`` and its verdicts in verdicts.json."""
    from ..interpret import verdicts
    from ..train.device import is_main_process

    if not is_main_process():
        return None
    Z = estimator.encode(ds.X)
    info = {**estimator._for_saving().info(), **fit_measures(estimator, ds, Z, test_mask, stats, choice)}
    found = verdicts.collect(
        info, feature_names=ds.feature_names, is_image=ds.is_image, model=estimator.model_name
    )
    extra = {verdicts.VERDICTS_FILE: verdicts.dumps(found)}
    if getattr(estimator, "history_", None) is not None:
        extra["history.json"] = (json.dumps(estimator.history_, indent=1) + "\n").encode()
    return save_run(
        out,
        estimator,
        ds,
        seed=seed,
        split=split,
        test_mask=test_mask,
        Z=Z,
        overwrite=overwrite,
        extra_files=extra,
        checkpoints=ckpt,
        extra_config={"info": info},
    )


def info_summary(info: dict) -> str:
    """One line of what a fit learned (explained variance, or the last validation figures), how
    its data were scaled and, when small data raised them, the epochs trained."""
    parts = []
    if "explained_variance_total" in info:
        parts.append(f"explained variance {info['explained_variance_total']:.1%}")
    keys = ("arch", "likelihood", "epochs_run")
    for key, value in info.items():
        if key.startswith("val_") or key in keys:
            parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    if "epochs_raised_from" in info:
        parts.append(
            f"(epochs raised from {info['epochs_raised_from']} to {info.get('epochs_planned')} to reach"
            f" min_steps {info.get('min_steps', 0):,} optimiser steps)"
        )
    if info.get("scale") == "standard":
        parts.append("features standardised (--scale standard; decoded in the data's units)")
    return "  ".join(parts)
