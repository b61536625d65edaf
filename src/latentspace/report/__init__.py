"""Figures (PNG) and, later, the self-contained HTML report."""

from .figures import grid_csv, grid_figure, mosaic, write_figure

__all__ = ["grid_csv", "grid_figure", "mosaic", "write_figure"]
