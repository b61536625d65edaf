"""Figures and pages for people: PNG figures of decoded items (figures.py), the self-contained
report.html of a run (html.py, assembled from page.py, mapview.py, decoded.py, directions.py,
interpretview.py, realitems.py, cardview.py, colors.py) and the comparison page (compare.py)."""

from .figures import grid_csv, grid_figure, mosaic, write_figure

__all__ = ["grid_csv", "grid_figure", "mosaic", "write_figure"]
