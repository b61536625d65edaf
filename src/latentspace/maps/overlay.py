"""Density contours and cluster captions of a 2-D map: where the points crowd, and what each crowd
mostly is.

The map's points are counted on a square grid (``GRID`` cells along the longer side of the box that
holds all but the outermost 0.5% of them on each side) and smoothed with a Gaussian (Scott's rule,
1 to 4 cells). Contours are drawn at the densities that enclose the densest ``MASSES`` shares of
the points (highest-density regions: 50%, 80%, 95%). The regions are found by thresholding the
density at rising levels (``SPLIT_MASSES``, from the densest 90% down to the densest 20%) and
labelling connected cells: a region is replaced by its parts at a higher level as long as at least
two parts each hold ``MIN_SHARE`` of the points (so touching clusters separate at their cores,
and a single cluster stays one region). Each region is captioned, per caption column (the label,
categorical metadata), with the most common value among the points in its cells and that value's
share, placed at the region's densest cell.

Everything is plain JSON in map coordinates (:func:`density_overlay`), computed once per map.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

GRID = 128
MASSES = (0.5, 0.8, 0.95)
SPLIT_MASSES = tuple(round(0.9 - 0.05 * i, 2) for i in range(15))  # 0.9, 0.85, ..., 0.2
MIN_SHARE = 0.01  # regions holding fewer of the points are not captioned
_CLIP = 0.005  # the box leaves out this share of the points on each side (far outliers)


def _box(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.quantile(P, _CLIP, axis=0) if len(P) >= 200 else P.min(0)
    hi = np.quantile(P, 1 - _CLIP, axis=0) if len(P) >= 200 else P.max(0)
    span = np.maximum(hi - lo, 1e-9)
    pad = 0.08 * span.max()
    return lo - pad, hi + pad


def density_grid(P: np.ndarray, grid: int = GRID) -> dict:
    """The smoothed counts of the points ``P`` (n, 2) on a square grid: ``density`` (ny, nx),
    cell centres ``xc`` (nx,), ``yc`` (ny,), the box origin and cell size, the smoothing in cells,
    and each point's cell (``ix``, ``iy``; -1 outside the box)."""
    from scipy.ndimage import gaussian_filter

    P = np.asarray(P, np.float64)
    lo, hi = _box(P)
    cell = float((hi - lo).max()) / grid
    nx, ny = (int(math.ceil((hi[j] - lo[j]) / cell)) for j in (0, 1))
    ix = np.floor((P[:, 0] - lo[0]) / cell).astype(np.int64)
    iy = np.floor((P[:, 1] - lo[1]) / cell).astype(np.int64)
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    counts = np.bincount(iy[inside] * nx + ix[inside], minlength=nx * ny).reshape(ny, nx).astype(np.float64)
    kept = P[inside]
    std = kept.std(0) if len(kept) > 1 else np.ones(2)
    scott = float(np.min(std[std > 0])) if (std > 0).any() else cell
    sigma = float(np.clip(1.06 * scott * max(len(kept), 1) ** (-1 / 6) / cell, 1.0, 4.0))
    density = gaussian_filter(counts, sigma, mode="constant")
    ix[~inside], iy[~inside] = -1, -1
    return {
        "density": density,
        "xc": lo[0] + (np.arange(nx) + 0.5) * cell,
        "yc": lo[1] + (np.arange(ny) + 0.5) * cell,
        "x0": float(lo[0]),
        "y0": float(lo[1]),
        "cell": cell,
        "sigma": sigma,
        "ix": ix,
        "iy": iy,
    }


def mass_levels(density: np.ndarray, masses=MASSES) -> list[float]:
    """The densities whose super-level sets hold the given shares of the total (highest-density
    regions): for 0.5, the density above which the densest half of the mass lies."""
    d = np.sort(density.ravel())[::-1]
    cum = np.cumsum(d)
    total = cum[-1] if len(cum) else 0.0
    if total <= 0:
        return [0.0 for _ in masses]
    return [float(d[min(int(np.searchsorted(cum, p * total)), len(d) - 1)]) for p in masses]


def _lines(g: dict, level: float, digits: int) -> list[list[list[float]]]:
    import contourpy

    gen = contourpy.contour_generator(g["xc"], g["yc"], g["density"], line_type="Separate")
    return [np.round(seg, digits).tolist() for seg in gen.lines(level) if len(seg) >= 2]


def _regions(g: dict, n: int, min_share: float, split_masses) -> tuple[np.ndarray, list[np.ndarray]]:
    """(the region of each point, 0 for none; the cells of each region) by splitting dense
    components at rising levels while at least two parts hold ``min_share`` of the points."""
    from scipy.ndimage import label as components

    density = g["density"]
    inside = g["ix"] >= 0
    flat_cell = np.full(n, -1, np.int64)
    flat_cell[inside] = g["iy"][inside] * density.shape[1] + g["ix"][inside]
    per_cell = np.bincount(flat_cell[inside], minlength=density.size)  # points per grid cell
    cuts = mass_levels(density, split_masses)
    least = max(1.0, min_share * n)
    eight = np.ones((3, 3), bool)

    def parts(mask: np.ndarray, level: int) -> list[np.ndarray]:
        lab, count = components(mask & (density >= cuts[level]), structure=eight)
        out = [lab == c for c in range(1, count + 1)]
        return [m for m in out if per_cell[m.ravel()].sum() >= least]

    def split(mask: np.ndarray, level: int) -> list[np.ndarray]:
        for deeper in range(level + 1, len(cuts)):
            kids = parts(mask, deeper)
            if len(kids) >= 2:
                return [r for kid in kids for r in split(kid, deeper)]
            if not kids:
                break
        return [mask]

    found = [r for top in parts(np.ones_like(density, bool), 0) for r in split(top, 0)]
    found.sort(key=lambda m: -int(per_cell[m.ravel()].sum()))
    region_of = np.zeros(n, np.int64)
    for i, mask in enumerate(found, start=1):
        hit = inside.copy()
        hit[inside] = mask.ravel()[flat_cell[inside]]
        region_of[hit] = i
    return region_of, found


def density_overlay(
    embedding: np.ndarray,
    captions: dict[str, tuple[np.ndarray, list[str]]] | None = None,
    *,
    grid: int = GRID,
    masses=MASSES,
    min_share: float = MIN_SHARE,
    split_masses=SPLIT_MASSES,
) -> dict:
    """Contours and captioned regions of a 2-D map, as JSON.

    ``captions``: column name -> (codes (n,) ints in 0..len(names)-1, names), e.g. the labels and
    each categorical metadata column; a region's caption in a column is its most common name there
    with that name's share of the region's points. Returns ``{"available", "dims", "grid",
    "contours": [{"mass", "level", "lines": [[[x, y], ...], ...]}], "regions": [{"id", "x", "y",
    "points", "share", "captions": {column: {"value", "share", "count"}}}], "caption_by",
    "explain"}``; regions are listed largest first. A map of other than 2 dimensions gets
    ``{"available": false, "reason", "dims"}``."""
    P = np.asarray(embedding)
    if P.ndim != 2 or P.shape[1] != 2:
        return {
            "available": False,
            "reason": "density contours are drawn on 2-D maps",
            "dims": int(P.shape[-1]),
        }
    n = len(P)
    if n < 3:
        raise InputError(f"density contours need at least 3 points; got {n}")
    g = density_grid(P, grid)
    levels = mass_levels(g["density"], masses)
    digits = max(3, int(-math.floor(math.log10(g["cell"]))) + 3)
    contours = [
        {"mass": float(p), "level": lv, "lines": _lines(g, lv, digits)}
        for p, lv in zip(masses, levels, strict=True)
    ]
    region_of, masks = _regions(g, n, min_share, split_masses)
    regions = []
    for i, mask in enumerate(masks, start=1):
        members = region_of == i
        peak = np.where(mask, g["density"], -1.0)
        py, px = np.unravel_index(int(np.argmax(peak)), peak.shape)
        caps = {}
        for column, (codes, names) in (captions or {}).items():
            c = np.asarray(codes)[members]
            c = c[(c >= 0) & (c < len(names))].astype(np.int64)
            if not len(c):
                continue
            votes = np.bincount(c, minlength=len(names))
            best = int(np.argmax(votes))
            caps[column] = {
                "value": str(names[best]),
                "share": float(votes[best] / len(c)),
                "count": int(votes[best]),
            }
        count = int(members.sum())
        regions.append(
            {
                "id": i,
                "x": round(float(g["xc"][px]), digits),
                "y": round(float(g["yc"][py]), digits),
                "points": count,
                "share": count / n,
                "captions": caps,
            }
        )
    shown = ", ".join(f"{p:.0%}" for p in masses)
    return {
        "available": True,
        "dims": 2,
        "grid": {
            "x0": g["x0"],
            "y0": g["y0"],
            "cell": g["cell"],
            "nx": len(g["xc"]),
            "ny": len(g["yc"]),
            "sigma_cells": g["sigma"],
        },
        "contours": contours,
        "regions": regions,
        "caption_by": list(captions or {}),
        "explain": f"Contours enclose the densest {shown} of the points. Dense regions (each holding at"
        f" least {min_share:.0%} of the points) are captioned with their most common value and its share"
        " of the region's points.",
    }
