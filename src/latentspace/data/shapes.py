"""``shapes``: a dSprites-like generator of binary images with known generative factors.

dSprites (Matthey et al., 2017) renders 3 shapes x 6 scales x 40 orientations x 32 x-positions x
32 y-positions at 64x64. We draw the same factor grid at random from a seed and rasterise each image
vectorised in numpy, at any size and count. Like dSprites, orientation is ambiguous for the square
(90-degree symmetry) and the ellipse (180-degree symmetry).
"""

from __future__ import annotations

import numpy as np

SHAPE_NAMES = ["square", "ellipse", "heart"]
FACTOR_NAMES = ["shape", "scale", "rotation", "x", "y"]
SCALES = np.linspace(0.5, 1.0, 6)
ROTATIONS = np.linspace(0.0, 2 * np.pi, 40, endpoint=False)
POSITIONS = np.linspace(0.0, 1.0, 32)

_CHUNK = 512


def sample_factors(n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` factor rows (shape code, scale, rotation in radians, x, y in [0, 1])."""
    return np.column_stack(
        [
            rng.integers(0, len(SHAPE_NAMES), n).astype(np.float64),
            SCALES[rng.integers(0, len(SCALES), n)],
            ROTATIONS[rng.integers(0, len(ROTATIONS), n)],
            POSITIONS[rng.integers(0, len(POSITIONS), n)],
            POSITIONS[rng.integers(0, len(POSITIONS), n)],
        ]
    )


def render(factors: np.ndarray, size: int) -> np.ndarray:
    """Rasterise factor rows into binary images, shape (n, size * size), float32 in {0, 1}."""
    out = np.empty((len(factors), size * size), dtype=np.float32)
    centres = (np.arange(size) + 0.5) / size  # pixel centres in [0, 1]
    gy, gx = np.meshgrid(centres, centres, indexing="ij")
    gx, gy = gx.ravel()[None, :], gy.ravel()[None, :]  # (1, size*size)
    for start in range(0, len(factors), _CHUNK):
        f = factors[start : start + _CHUNK]
        shape, scale, rot = f[:, 0:1], f[:, 1:2], f[:, 2:3]
        cx, cy = 0.25 + 0.5 * f[:, 3:4], 0.25 + 0.5 * f[:, 4:5]  # keep every shape inside the frame
        radius = 0.14 * scale
        dx, dy = (gx - cx) / radius, (gy - cy) / radius  # (m, size*size), shape-local units
        cos, sin = np.cos(rot), np.sin(rot)
        u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # rotate the frame by -rotation
        square = np.maximum(np.abs(u), np.abs(v)) <= 1.0
        ellipse = u**2 + (v / 0.55) ** 2 <= 1.0
        hx, hy = 0.85 * u, -0.85 * v + 0.2  # heart curve (x^2 + y^2 - 1)^3 <= x^2 y^3, y up
        heart = (hx**2 + hy**2 - 1.0) ** 3 - hx**2 * hy**3 <= 0.0
        img = np.where(shape == 0, square, np.where(shape == 1, ellipse, heart))
        out[start : start + len(f)] = img
    return out
