"""latentspace in a notebook: :func:`show` draws a run's map inline, as the explorer does.

>>> import latentspace as ls
>>> w = ls.show("runs/vae16")          # doctest: +SKIP
>>> w                                   # doctest: +SKIP
>>> w.selection                         # the rows lassoed in the map  # doctest: +SKIP

Needs ``anywidget`` (``pip install 'latentspace[notebook]'``); importing this module does not.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["show"]


def show(
    run,
    metadata=None,
    model=None,
    *,
    items=None,
    data=None,
    label_col: str | None = None,
    text_col: str | None = None,
    map: str | None = None,  # noqa: A002 - the name the CLI uses (`--map`)
    color_by: str | None = None,
    height: int = 460,
    seed: int = 0,
):
    """The map of a run (or of vectors) as a notebook widget.

    Hover an item to see it (its thumbnail where the run has images, its label and metadata), colour
    by the label, any metadata column, a map layer or a latent dimension, search and filter as in the
    explorer, click a point to see it with its reconstruction and neighbours, click empty space to
    decode what the model makes there (a run without a decoder: the nearest real items), and lasso
    a group (the lasso button, or shift-drag): its rows are ``widget.selection``.

    Parameters
    ----------
    run : Run, str or Path, or array-like of shape (n, k)
        A run folder (``ls.fit``'s result or its path), or vectors held in Python (numpy, torch,
        pandas, polars, pyarrow), imported into a temporary run as ``ls.from_embeddings`` would.
    metadata : table, optional
        With vectors: one row per vector (pandas, polars, pyarrow or a dict of columns).
    model : fitted model, optional
        With vectors: a model on the latentspace contract whose ``decode`` turns a map click into
        an item (its ``latent_dim`` must match the vectors).
    items, data, label_col, text_col :
        With vectors: as in ``ls.from_embeddings`` (images for the rows, the source data, the label
        column, a text column).
    map : str, optional
        The map method to show ("umap", "tsne", "pca"); a run's best stored map by default. With
        vectors, a map other than "pca" is fitted first.
    color_by : str, optional
        A column key to colour by at first: "label", "meta:<name>", "error", "latent:<dim>".
    height : int
        The map's height in pixels.

    Returns
    -------
    LatentMapWidget
        Display it (the last value of a cell); ``selection`` holds the selected rows.
    """
    from .source import MapSource
    from .widget import LatentMapWidget  # raises MissingDependencyError without anywidget

    if not 120 <= int(height) <= 2000:
        from ..errors import InputError

        raise InputError(f"height must be between 120 and 2000 pixels; got {height}")
    if isinstance(run, str | Path) or hasattr(run, "config"):
        extra = {"metadata": metadata, "model": model, "items": items, "data": data}
        given = [k for k, v in extra.items() if v is not None]
        given += [k for k, v in (("label_col", label_col), ("text_col", text_col)) if v is not None]
        if given:
            from ..errors import InputError

            raise InputError(
                f"{', '.join(given)}: only with vectors; a run folder brings its own"
                " (import vectors with ls.from_embeddings to keep them)"
            )
        source = MapSource.from_run(run, map)
    else:
        source = MapSource.from_arrays(
            run, metadata, model, items=items, data=data, label_col=label_col, text_col=text_col,
            map_method=map, seed=seed,
        )  # fmt: skip
    return LatentMapWidget(source, height=int(height), color_by=color_by)
