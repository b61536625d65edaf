"""The import stage for networks trained elsewhere: a user's ONNX encoder (and decoder) run over the
data into a run folder, as ``fit`` would write one for a model trained here."""

from __future__ import annotations

import logging
from pathlib import Path

from ..data import Dataset, load
from ..data.source import rows_of
from ..data.splits import split_mask
from ..models.onnx import OnnxModel
from ..runfolder import Run, save_run
from .targets import check_target

log = logging.getLogger(__name__)


def import_model(
    data: Dataset | str | Path,
    *,
    out: str | Path,
    encoder,
    decoder=None,
    prior: str = "fitted",
    label_col: str | None = None,
    test_fraction: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Run:
    """Write a run folder for a user's ONNX ``encoder`` (and ``decoder``), paths or bytes.

    The networks are checked alone, against each other and against ``data``; ``prior`` ("fitted":
    a Gaussian fitted to the latents of the training split, or "standard": N(0, I)) is what
    sampling draws from. Every row is encoded into the run's latents, and the ONNX files are kept
    in the run (``encoder.onnx``, ``decoder.onnx``) under its checksums. Raises
    :class:`~latentspace.errors.InputError` with one line naming the file and what is wrong.
    """
    check_target(out, overwrite, kind="run")  # fail before the work, not after it
    model = OnnxModel.from_files(encoder, decoder, prior=prior, random_state=seed)
    ds = load(data, label_col=label_col) if isinstance(data, str | Path) else data
    test_mask, split = split_mask(ds, test_fraction, seed)
    train = ds.X if not test_mask.any() else rows_of(ds.X, ~test_mask)
    log.info("importing %s on %d of %d rows of %s", model.info()["encoder"], len(train), ds.n, ds.name)
    model.fit(train)
    Z = model.encode(ds.X)
    return save_run(out, model, ds, seed=seed, split=split, test_mask=test_mask, Z=Z, overwrite=overwrite)
