"""CLI commands that steer a fitted run: sample, reconstruct, interpolate, traverse, attribute,
neighbours. Each writes a labelled PNG (plus a CSV of the numbers for vector data).

A run without a decoder (imported vectors; an imported encoder alone) shows real items where a
model would decode: ``interpolate`` lists the item nearest each step of the latent path,
``attribute`` the item nearest each edited latent (an analogy search), ``neighbours`` draws the
items as the run keeps them (images, texts or data rows). ``sample``, ``reconstruct`` and
``traverse`` make new items and are refused there, in one line that says what is missing.

A figure is bounded: at most ``MAX_FIGURE_ITEMS`` items, ``MAX_FIGURE_COLUMNS`` in a row (10,000
8x8 digits draw in about 8 s; a strip of 10,000 steps took a minute and 1.6 GB), and the operation
itself is bounded in memory by :func:`latentspace.ops.check_output_rows`."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from ..errors import InputError
from .app import MAX_SEED, OverwriteOpt, SeedOpt, app, console, in_range, say, stage

RunArg = Annotated[Path, typer.Argument(help="Run folder made by `fit`.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")]

MAX_FIGURE_ITEMS = 10_000  # items in one figure (a grid of 100 x 100)
MAX_FIGURE_COLUMNS = 1_000  # items in one row of a figure (path steps, strengths, neighbours)
_COLUMNS = f" (one figure shows at most {MAX_FIGURE_COLUMNS:,} columns)"


class _Ctx:
    """A verified run; its model, data and latents are loaded on first use, once per command."""

    def __init__(self, path: Path):
        from ..runfolder import Run

        self.run = Run(path)

    @cached_property
    def model(self):
        return self.run.load_model()

    @cached_property
    def data(self):
        return self.run.load_dataset()

    @cached_property
    def Z(self) -> np.ndarray:  # noqa: N802 - the latents' usual name
        return self.run.latent_matrix()

    def item(self, i: int) -> int:
        n = self.run.n_items
        if not 0 <= i < n:
            raise InputError(f"item {i} is out of range: this run's data has items 0..{n - 1}")
        return i

    def describe(self, i: int) -> str:
        return self.run.item_name(i)

    def check_out(self, out: Path, overwrite: bool) -> None:
        """Refuse the figure's files before any work: the PNG, and for vector data the CSV that
        :func:`~latentspace.report.figures.write_figure` writes beside it."""
        from ..stages.targets import check_target

        check_target(out, overwrite, suffixes=(".png",))
        shape = self.run.config["dataset"].get("sample_shape")
        if not shape or len(shape) != 3:
            check_target(out.with_suffix(".csv"), overwrite)

    def check_rows(self, option: str, rows: int) -> None:
        """The operation's memory bound, checked from the config before the model is loaded."""
        from .. import ops

        cfg = self.run.config
        ops.check_output_rows(rows, cfg["latent_dim"], cfg["dataset"]["d"], option)

    def figure(self, out: Path, items: np.ndarray, **kw) -> list[Path]:
        from ..report.figures import write_figure

        return write_figure(
            out,
            items,
            sample_shape=self.data.sample_shape,
            feature_names=self.data.feature_names,
            value_range=self.data.value_range(),
            **kw,
        )

    @cached_property
    def items(self):
        from ..runfolder.items import RunItems

        return RunItems(self.run)

    @property
    def has_decoder(self) -> bool:
        return bool(getattr(self.model, "has_decoder", True))

    def need_decoder(self, command: str, what: str) -> None:
        """Refuse a command that decodes, on a run without a decoder: one line naming what is
        missing (exit code 2)."""
        if self.has_decoder:
            return
        held = " (it holds imported vectors)" if self.run.model_name == "embeddings" else ""
        raise InputError(
            f"{self.run.name} has no decoder{held}: `latentspace {command}` {what};"
            " `neighbours`, `interpolate` and `attribute` show the nearest real items instead"
        )

    def need_source_data(self, command: str) -> None:
        if not self.run.has_source_data:
            raise InputError(
                f"{self.run.name} was imported without its source data: `latentspace {command}` compares"
                " items with their reconstructions and has nothing to compare with (pass --data to"
                " latentspace import)"
            )

    def items_figure(self, out: Path, rows, captions: list[str], title: str) -> list[Path]:
        """Real items (rows of the run) as the run shows them: its data rows for data items (as a
        decoded figure is drawn), else images or texts (a text-only card for items of kind none)."""
        rows = [int(i) for i in rows]
        if self.items.kind == "data":
            return self.figure(out, np.asarray(self.data.X[rows])[None], title=title, col_labels=captions)
        from ..report.figures import write_items_figure

        pixels = self.items.pixels(rows) if self.items.shows_images else None
        cells = []
        for k, i in enumerate(rows):
            text = self.items.text(i)
            cell = {"caption": captions[k], "text": text if text is not None else self.items.name(i)}
            if pixels is not None:
                cell["image"] = pixels[k]
            cells.append(cell)
        return write_items_figure(out, cells, title=title)

    def check_items_out(self, out: Path, overwrite: bool) -> None:
        """As :meth:`check_out`, for a figure of real items (a CSV beside it only for data rows
        that are not images)."""
        from ..stages.targets import check_target

        if self.items.kind == "data":
            self.check_out(out, overwrite)
        else:
            check_target(out, overwrite, suffixes=(".png",))

    def columns(self) -> dict[str, np.ndarray]:
        table = self.run.latents()
        return {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}


def _done(paths: list[Path]) -> None:
    say(("wrote", "green"), " " + ", ".join(str(p) for p in paths))


def _grid_shape(n: int) -> tuple[int, int]:
    cols = int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / cols)), cols


@app.command()
def sample(
    run: RunArg,
    out: OutOpt,
    n: Annotated[int, typer.Option("-n", help=f"How many (at most {MAX_FIGURE_ITEMS:,}).")] = 64,
    seed: SeedOpt = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Draw new items from the model's prior and save them as a grid."""
    from .. import ops

    with stage():
        in_range("-n", n, 1, MAX_FIGURE_ITEMS, " (the items one figure shows)")
        in_range("--seed", seed, 0, MAX_SEED)
        ctx = _Ctx(run)
        ctx.need_decoder("sample", "decodes new items from the prior")
        ctx.check_out(out, overwrite)
        ctx.check_rows("-n", n)
        X = ops.sample(ctx.model, n, seed).X
        rows, cols = _grid_shape(n)
        items = np.concatenate([X, np.full((rows * cols - n, X.shape[1]), np.nan)]).reshape(rows, cols, -1)
        items = np.nan_to_num(items, nan=float(np.min(X)))
        paths = ctx.figure(out, items, title=f"{n} samples from the prior of {ctx.run.name} (seed {seed})")
    _done(paths)


@app.command()
def reconstruct(
    run: RunArg,
    out: OutOpt,
    n: Annotated[int, typer.Option("-n", help=f"How many items (at most {MAX_FIGURE_COLUMNS:,}).")] = 16,
    split: Annotated[str, typer.Option(help="train | test | all")] = "test",
    seed: SeedOpt = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Originals (top row) beside their reconstructions (bottom row), from the held-out split."""
    with stage():
        in_range("-n", n, 1, MAX_FIGURE_COLUMNS, _COLUMNS)
        in_range("--seed", seed, 0, MAX_SEED)
        ctx = _Ctx(run)
        ctx.need_decoder("reconstruct", "decodes the items' latents")
        ctx.need_source_data("reconstruct")
        ctx.check_out(out, overwrite)
        cols = ctx.columns()
        pool = (
            np.flatnonzero(cols["split"] == split)
            if split != "all" and "split" in cols
            else np.arange(ctx.data.n)
        )
        if len(pool) == 0:
            raise InputError(f"split {split!r} has no rows; use train, test or all")
        rows = np.sort(np.random.default_rng(seed).choice(pool, size=min(n, len(pool)), replace=False))
        X = np.asarray(ctx.data.X[rows])
        # a model without an encoder decodes the run's own latents of these rows
        R = ctx.model.decode(ctx.model.encode(X) if getattr(ctx.model, "has_encoder", True) else ctx.Z[rows])
        mse = float(np.mean((R - X) ** 2))
        paths = ctx.figure(
            out,
            np.stack([X, R]),
            title=f"{ctx.run.name}: originals and reconstructions ({split} items, MSE {mse:.4g})",
            row_labels=["original", "reconstruction"],
            col_labels=[ctx.describe(int(i)) for i in rows],
        )
    _done(paths)


@app.command()
def interpolate(
    run: RunArg,
    out: OutOpt,
    from_: Annotated[int, typer.Option("--from", help="Index of the first item.")],
    to: Annotated[int, typer.Option("--to", help="Index of the last item.")],
    steps: Annotated[int, typer.Option(help="Points on the path, endpoints included.")] = 10,
    method: Annotated[str, typer.Option(help="lerp | slerp")] = "lerp",
    overwrite: OverwriteOpt = False,
) -> None:
    """Decode a straight (lerp) or spherical (slerp) path between two items' latents; a run without
    a decoder shows the real item nearest each step of the path."""
    from .. import ops

    with stage():
        in_range("--steps", steps, 2, MAX_FIGURE_COLUMNS, _COLUMNS)
        ctx = _Ctx(run)
        if not ctx.has_decoder:
            ctx.check_items_out(out, overwrite)
            a, b = ctx.item(from_), ctx.item(to)
            Zp, t = ops.latent_path(ctx.Z[a], ctx.Z[b], steps, method)
            idx, dist = _nearest(ctx.Z, Zp)
            paths = ctx.items_figure(
                out,
                idx,
                [f"t={v:.2f} #{j}" for v, j in zip(t, idx, strict=True)],
                f"{ctx.run.name}: real items nearest the {method} path from {ctx.describe(a)} to"
                f" {ctx.describe(b)} (no decoder)",
            )
            _nearest_table(
                ctx,
                f"the real item nearest each step from {ctx.describe(a)} to {ctx.describe(b)}",
                "t",
                t,
                idx,
                dist,
            )
            _done(paths)
            return
        ctx.check_out(out, overwrite)
        ctx.check_rows("--steps", steps)
        a, b = ctx.item(from_), ctx.item(to)
        path = ops.interpolate(ctx.model, ctx.Z[a], ctx.Z[b], steps, method, space="latent")
        paths = ctx.figure(
            out,
            path.X[None],
            title=f"{ctx.run.name}: {method} from {ctx.describe(a)} to {ctx.describe(b)}",
            col_labels=[f"t={t:.2f}" for t in path.t],
            row_labels=[method],
            col_title="position along the path",
        )
    _done(paths)


@app.command()
def traverse(
    run: RunArg,
    out: OutOpt,
    item: Annotated[int, typer.Option(help="Index of the item whose latent is moved.")],
    dims: Annotated[str, typer.Option(help="Dimensions, e.g. 0-7 or 0,3,5 (default: up to 10).")] = "",
    span: Annotated[float, typer.Option(help="How far, in standard deviations of each dimension.")] = 2.0,
    steps: Annotated[int, typer.Option(help="Values per dimension.")] = 7,
    overwrite: OverwriteOpt = False,
) -> None:
    """Move one latent dimension at a time (one row each) and decode."""
    from .. import ops

    with stage():
        ctx = _Ctx(run)
        ctx.need_decoder("traverse", "decodes the item's latent moved along each dimension")
        ctx.check_out(out, overwrite)
        latent_dim = ctx.run.config["latent_dim"]
        chosen = ops.parse_dims(dims or f"0-{min(latent_dim, 10) - 1}", latent_dim)
        most = min(MAX_FIGURE_COLUMNS, max(2, MAX_FIGURE_ITEMS // len(chosen)))
        shows = f"one figure shows {MAX_FIGURE_ITEMS:,} items, {MAX_FIGURE_COLUMNS:,} a row"
        in_range("--steps", steps, 2, most, f" for {len(chosen)} dimensions ({shows})")
        ctx.check_rows("--steps", len(chosen) * steps)
        i = ctx.item(item)
        tr = ops.traverse(ctx.model, ctx.Z[i], chosen, span, steps, reference=ctx.Z)
        paths = ctx.figure(
            out,
            tr.X,
            title=f"{ctx.run.name}: traversal of {ctx.describe(i)}",
            row_labels=[f"z_{d}" for d in tr.dims],
            col_labels=[f"{o:+.1f}σ" for o in tr.offsets],
            row_title="latent dimension",
            col_title="offset from the item's value",
        )
    _done(paths)


def parse_alphas(spec: str, most: int = MAX_FIGURE_COLUMNS) -> np.ndarray:
    """``-2:2:5`` (start:stop:count) or ``-1,0,1``; at most ``most`` values (counted before any
    array is made)."""
    try:
        if ":" in spec:
            lo, hi, count = spec.split(":")
            start, stop, count = float(lo), float(hi), int(count)
        else:
            values = [float(v) for v in spec.split(",")]
            start, stop, count = None, None, len(values)
    except ValueError:
        raise InputError(
            f"--alphas must be START:STOP:COUNT (e.g. -2:2:5) or a list like -1,0,1; got {spec!r}"
        ) from None
    in_range("the count of --alphas", count, 1, most, _COLUMNS)
    alphas = np.linspace(start, stop, count) if start is not None else np.array(values)
    if not np.all(np.isfinite(alphas)):
        raise InputError(f"--alphas gives no usable values: {spec!r}")
    return alphas


@app.command()
def attribute(
    run: RunArg,
    out: OutOpt,
    where: Annotated[str, typer.Option(help='Group A, e.g. "label==3" or "factor_scale>=0.9".')],
    item: Annotated[int, typer.Option(help="Index of the item to edit.")],
    vs: Annotated[str, typer.Option(help="Group B (default: every other row).")] = "",
    alphas: Annotated[str, typer.Option(help="Strengths START:STOP:COUNT or a list.")] = "-2:2:5",
    method: Annotated[
        str, typer.Option(help="mean (difference of means) | linear (classifier normal)")
    ] = "mean",
    overwrite: OverwriteOpt = False,
) -> None:
    """Find the latent direction from group B to group A and apply it to an item; a run without a
    decoder shows the real item nearest each edited latent (an analogy search)."""
    from .. import ops
    from ..select import select_rows

    with stage():
        strengths = parse_alphas(alphas)
        ctx = _Ctx(run)
        if ctx.has_decoder:
            ctx.check_out(out, overwrite)
            ctx.check_rows("--alphas", len(strengths))
        else:
            ctx.check_items_out(out, overwrite)
        i = ctx.item(item)
        cols = ctx.columns()
        a = select_rows(cols, where, ctx.data.label_names)
        b = select_rows(cols, vs, ctx.data.label_names) if vs else ~a
        if not b.any():
            raise InputError(f"group B (everything not in {where!r}) is empty")
        vector = ops.attribute_vector(ctx.model, None, a, b, method, Z=ctx.Z)
        title = f"{ctx.run.name}: {ctx.describe(i)} moved along ({where}) - ({vs or 'rest'})"
        if not ctx.has_decoder:
            Zs = ops.apply(ctx.Z[i], vector, strengths.astype(np.float32))
            idx, dist = _nearest(ctx.Z, Zs)
            paths = ctx.items_figure(
                out,
                idx,
                [f"α={v:+.2f} #{j}" for v, j in zip(strengths, idx, strict=True)],
                title + ": nearest real items (no decoder)",
            )
            console.print(f"group A: {int(a.sum()):,} rows, group B: {int(b.sum()):,} rows")
            _nearest_table(
                ctx, f"the real item nearest {ctx.describe(i)} + α·vector", "α", strengths, idx, dist
            )
            _done(paths)
            return
        path = ops.edit(ctx.model, ctx.Z[i], vector, strengths)
        paths = ctx.figure(
            out,
            path.X[None],
            title=title,
            col_labels=[f"α={t:+.2f}" for t in path.t],
            row_labels=[method],
            col_title=f"strength (|vector| = {np.linalg.norm(vector):.3g})",
        )
    console.print(f"group A: {int(a.sum()):,} rows, group B: {int(b.sum()):,} rows")
    _done(paths)


@app.command()
def neighbours(
    run: RunArg,
    item: Annotated[int, typer.Option(help="Index of the query item.")],
    k: Annotated[int, typer.Option("-k", help="How many neighbours.")] = 8,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Optional PNG of the neighbours.")] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """The k nearest items to an item in latent space (exact; ties to the lower row)."""
    from .. import ops

    with stage():
        ctx = _Ctx(run)
        if out is not None:
            in_range("-k", k, 1, MAX_FIGURE_COLUMNS - 1, _COLUMNS)
            ctx.check_items_out(out, overwrite)
        i = ctx.item(item)
        idx, dist = ops.neighbours(None, None, i, k, Z=ctx.Z)  # the latents suffice: no model
        paths = []
        if out is not None:  # the items as the run shows them: data rows, images or texts
            paths = ctx.items_figure(
                out,
                np.r_[i, idx],
                ["query"] + [f"{ctx.describe(int(j))}\nd={d:.3g}" for j, d in zip(idx, dist, strict=True)],
                f"{ctx.run.name}: {k} nearest neighbours of {ctx.describe(i)}",
            )
    table = Table(title=f"{k} nearest neighbours of {ctx.describe(i)} in latent space")
    for col in ("rank", "item", "distance"):
        table.add_column(col)
    for r, (j, d) in enumerate(zip(idx, dist, strict=True), 1):
        table.add_row(str(r), ctx.describe(int(j)), f"{d:.4g}")
    console.print(table)
    if paths:
        _done(paths)


def _nearest(Z: np.ndarray, Zq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The row of ``Z`` nearest each latent of ``Zq`` (exact; ties to the lower row) and its distance."""
    from ..knn import nearest

    idx, dist = nearest(Z, np.asarray(Zq, np.float32), 1)
    return idx[:, 0], dist[:, 0]


def _nearest_table(ctx: _Ctx, title: str, what: str, values, idx, dist) -> None:
    table = Table(title=title)
    for col in (what, "item", "distance"):
        table.add_column(col)
    for v, j, d in zip(values, idx, dist, strict=True):
        table.add_row(f"{v:+.2f}" if what == "α" else f"{v:.2f}", ctx.describe(int(j)), f"{d:.4g}")
    console.print(table)
