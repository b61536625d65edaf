"""Local sensitivity of the decoder, the article's second challenge ("a small move can change a
lot"), measured per item with the map layer's estimator (:func:`latentspace.maps.layers.decoder_layers`:
the RMS change of the decoded output over a few orthonormal random unit directions, per unit of
latent move, at a step of 1% of the latents' median spread) on a seeded sample of rows, summarised
as the median and spread, the most and least sensitive items, the median per label class, and one
small move the report can draw before and after.
"""

from __future__ import annotations

import numpy as np

from ..maps.layers import DIRECTIONS, decoder_layers, directions, latent_step

EXTREMES = 8  # most and least sensitive items listed
MOVE = 0.5  # the move drawn before/after, in units of the latents' median spread per dimension
MAX_CLASSES = 50  # label classes given their own median


def _round(x: float) -> float:
    return float(f"{float(x):.6g}")


def sensitivity(
    decode,
    Z: np.ndarray,
    rows: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    class_names: list[str] | None = None,
    seed: int = 0,
) -> dict:
    """The sensitivity record of ``rows`` of the latents ``Z`` (n, L): per-item values summarised.

    ``decode``: latents (b, L) float32 -> outputs; ``labels``: class codes of every row (n,), for
    the median per class."""
    Z = np.asarray(Z, np.float32)
    rows = np.asarray(rows, np.int64)
    step = latent_step(Z)
    _, sens, info = decoder_layers(decode, Z[rows], None, count=DIRECTIONS, step=step, seed=seed)
    sens = np.asarray(sens, np.float64)
    order = np.lexsort((rows, sens))  # ascending, ties by row id
    k = min(EXTREMES, len(rows))
    out = {
        "rows": int(len(rows)),
        "directions": int(info["directions"]),
        "step": _round(step),
        "seed": int(seed),
        "median": _round(np.median(sens)),
        "p10": _round(np.quantile(sens, 0.1)),
        "p90": _round(np.quantile(sens, 0.9)),
        "min": _round(sens.min()),
        "max": _round(sens.max()),
        "most": [{"row": int(rows[i]), "value": _round(sens[i])} for i in order[::-1][:k]],
        "least": [{"row": int(rows[i]), "value": _round(sens[i])} for i in order[:k]],
    }
    if labels is not None:
        codes = np.asarray(labels)[rows]
        uniq = np.unique(codes)
        if len(uniq) <= MAX_CLASSES:
            out["by_label"] = [
                {
                    "label": class_names[int(c)] if class_names is not None else str(c),
                    "median": _round(np.median(sens[codes == c])),
                    "rows": int((codes == c).sum()),
                }
                for c in uniq
            ]
    spread = float(np.median(Z.astype(np.float64).std(0))) if len(Z) > 1 else 1.0
    out["move"] = {
        "size": _round(MOVE * (spread if spread > 0 else 1.0)),
        "direction": [_round(v) for v in directions(Z.shape[1], 1, seed)[0]],
    }
    return out


def moved_latents(record: dict, Z: np.ndarray, rows) -> tuple[np.ndarray, np.ndarray]:
    """The report's before/after pair for ``rows``: their latents and the latents after the
    record's small move, each (len(rows), L) float32."""
    before = np.asarray(Z, np.float32)[np.asarray(rows, np.int64)]
    move = np.asarray(record["move"]["direction"], np.float32) * np.float32(record["move"]["size"])
    return before, before + move[None, :]
