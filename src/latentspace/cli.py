"""The ``latentspace`` command: one sub-command per stage of the pipeline.

Only this module prints. Library code reports progress through :mod:`latentspace.progress` and
raises :class:`~latentspace.errors.LatentspaceError`; here those become progress bars and one-line
errors with exit code 2.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import InputError, LatentspaceError
from .progress import progress_hook

app = typer.Typer(
    name="latentspace",
    help="Learn, measure, map and steer the latent space of a dataset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
        force=True,
    )


@contextmanager
def _stage() -> Iterator[None]:
    """Turn expected errors into one red line and exit code 2; show progress bars meanwhile."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=err_console,
        transient=True,
    )
    tasks: dict[str, int] = {}

    def hook(task: str, done: int, total: int, info: str) -> None:
        if task not in tasks:
            tasks[task] = progress.add_task(task, total=total, info="")
        progress.update(tasks[task], completed=done, total=total, info=info)

    try:
        with progress, progress_hook(hook):
            yield
    except KeyboardInterrupt:
        err_console.print(
            "[bold yellow]interrupted.[/] A neural fit continues from its last epoch with the"
            " same command and --resume."
        )
        raise typer.Exit(130) from None
    except (LatentspaceError, ValueError, OSError) as exc:
        msg = str(exc).strip() or type(exc).__name__
        err_console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@contextmanager
def _spinner(text: str) -> Iterator[None]:
    with err_console.status(text):
        yield


def _parse_data_args(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--data-arg expects KEY=VALUE (e.g. n=20000); got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _parse_params(items: list[str] | None) -> dict[str, object]:
    """``KEY=VALUE`` pairs; values are read as JSON (numbers, true/false, null, lists) or kept as text."""
    out: dict[str, object] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param expects KEY=VALUE (e.g. beta=4 or hidden=[512,256]); got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out


def _load(data: str, label_col: str | None, data_args: list[str] | None):
    from .data import load

    with _spinner(f"loading {data}"):
        return load(data, label_col=label_col, **_parse_data_args(data_args))


DataOpt = Annotated[
    str, typer.Option("--data", "-d", help="Built-in name (see `datasets`) or a file/folder path.")
]
LabelOpt = Annotated[
    str | None, typer.Option("--label-col", help="Table column (or .npz array) holding labels.")
]
DataArgOpt = Annotated[
    list[str] | None,
    typer.Option("--data-arg", help="KEY=VALUE for a built-in, e.g. --data-arg n=20000."),
]
DaskOpt = Annotated[
    str | None,
    typer.Option(
        "--dask",
        help="Split the work into partitions on a Dask cluster: a scheduler address"
        " (tcp://host:8786) or 'local' for one worker process per core on this machine.",
    ),
]


@app.command()
def datasets() -> None:
    """List the built-in datasets and the file formats latentspace reads."""
    from .data.builtin import BUILTINS
    from .data.files import SUPPORTED

    table = Table(title="Built-in datasets (all offline)")
    for col in ("name", "rows x features", "what", "status"):
        table.add_column(col)
    for info in BUILTINS.values():
        status = "ready" if info.available() else f"[yellow]missing: {info.missing_hint}"
        table.add_row(info.name, info.size, info.summary, status)
    console.print(table)
    console.print(f"Files: {SUPPORTED}.  Use --data PATH [--label-col NAME].")


@app.command()
def models() -> None:
    """List the registered models."""
    from .models.registry import available_models, get_model_class

    table = Table(title="Models (set any parameter with -p KEY=VALUE)", show_lines=True)
    table.add_column("name", style="bold")
    table.add_column("what")
    table.add_column("parameters (defaults)")
    for name in available_models():
        cls = get_model_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        params = ", ".join(f"{k}={v!r}" for k, v in cls().get_params().items())
        table.add_row(name, doc, params)
    console.print(table)


@app.command()
def fit(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder to create, e.g. runs/pca16.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Registry name (see `models`).")] = "pca",
    latent_dim: Annotated[int, typer.Option("--latent-dim", "-k", help="Size of the latent.")] = 16,
    seed: Annotated[int, typer.Option(help="Seed for the split and the model.")] = 0,
    test_fraction: Annotated[
        float | None,
        typer.Option(help="Held-out share; default: the dataset's own split, else 0.1."),
    ] = None,
    label_col: LabelOpt = None,
    data_arg: DataArgOpt = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (neural models).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (neural models).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (neural models).")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda (neural models).")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Any model parameter as KEY=VALUE (JSON values), e.g. -p beta=4."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted fit of the same command.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
) -> None:
    """Fit a model on the training split and write a run folder (model, latents, config)."""
    from . import pipeline
    from .runfolder import check_destination

    with _stage():
        if not resume:
            check_destination(out, overwrite)
        params = _parse_params(param)
        for key, value in (
            ("epochs", epochs),
            ("batch_size", batch_size),
            ("lr", lr),
            ("device", device),
            ("threads", threads),
        ):
            if value is not None:
                params[key] = value
        ds = _load(data, label_col, data_arg)
        t0 = time.perf_counter()
        run = pipeline.fit(
            ds,
            model,
            latent_dim=latent_dim,
            out=out,
            seed=seed,
            test_fraction=test_fraction,
            overwrite=overwrite,
            resume=resume,
            **params,
        )
        elapsed = time.perf_counter() - t0
    if run is None:  # a rank other than 0 of `torchrun ... -m latentspace fit`: rank 0 reports
        return
    split = run.config["split"]
    console.print(
        f"[green]fitted[/] {model} (latent {latent_dim}) on {split['n_train']:,} rows of"
        f" {ds.name} in {elapsed:.1f} s -> [bold]{run.path}[/]"
    )
    _print_info_summary(run.config["info"])


def _print_info_summary(info: dict) -> None:
    if "explained_variance_total" in info:
        console.print(f"explained variance: {info['explained_variance_total']:.1%}")
    keys = ("arch", "likelihood", "epochs_run")
    shown = {k: v for k, v in info.items() if k.startswith("val_") or k in keys}
    if shown:
        parts = (f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
        console.print("  ".join(parts))


@app.command()
def encode(
    run: Annotated[Path, typer.Argument(help="Run folder made by `fit`.")],
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Parquet file to write.")],
    label_col: LabelOpt = None,
    data_arg: DataArgOpt = None,
    dask: DaskOpt = None,
) -> None:
    """Encode data with a fitted run and write the latents to Parquet."""
    from . import pipeline
    from .runfolder import Run

    with _stage():
        r = Run(run)
        ds = _load(data, label_col, data_arg)
        path = pipeline.encode(r, ds, out, dask=dask)
    console.print(f"[green]encoded[/] {ds.n:,} rows of {ds.name} -> [bold]{path}[/]")


@app.command()
def info(
    run: Annotated[Path, typer.Argument(help="Run folder made by `fit`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the config as JSON.")] = False,
) -> None:
    """Show a run: model, data, split, what was learned, files (all checksums verified)."""
    from .runfolder import Run

    with _stage():
        r = Run(run)
    cfg = r.config
    if as_json:
        console.print_json(json.dumps(cfg))
        return
    ds = cfg["dataset"]
    table = Table(title=f"run {r.name}  [green](checksums verified)", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    params = ", ".join(f"{k}={v!r}" for k, v in cfg["model"]["params"].items())
    table.add_row("model", f"{cfg['model']['name']}({params})")
    table.add_row("latent dim", str(cfg["latent_dim"]))
    shape = f", images {tuple(ds['sample_shape'])}" if ds["sample_shape"] else ""
    table.add_row("data", f"{ds['name']}: {ds['n']:,} x {ds['d']}{shape}  {ds['spec']}")
    sp = cfg["split"]
    table.add_row("split", f"{sp['method']}: {sp['n_train']:,} train / {sp['n_test']:,} test")
    table.add_row("seed", str(cfg["seed"]))
    for key, value in cfg["info"].items():
        if key in ("model", "latent_dim"):
            continue
        if isinstance(value, list) and len(value) > 8:
            value = ", ".join(f"{v:.4g}" for v in value[:8]) + f", ... ({len(value)})"
        table.add_row(key.replace("_", " "), str(value))
    table.add_row("created", cfg["created"])
    table.add_row("versions", ", ".join(f"{k} {v}" for k, v in cfg["versions"].items()))
    table.add_row("files", ", ".join(f"{n} ({s / 1024:.0f} KiB)" for n, s in r.files().items()))
    console.print(table)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo runs.")] = Path("runs"),
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop before serving the explorer.")] = False,
    epochs: Annotated[int, typer.Option(help="VAE training epochs.")] = 10,
    port: Annotated[int, typer.Option(help="Explorer port.")] = 8765,
) -> None:
    """The main job on built-in data: fit PCA and a VAE on MNIST (digits if MNIST is missing),
    evaluate both, map the VAE with UMAP, write both reports and a comparison, then serve the
    explorer."""
    from . import pipeline
    from .data.builtin import BUILTINS
    from .maps.store import map_run
    from .metrics.card import compare_html, compare_table, evaluate
    from .report.html import write_report
    from .runfolder.atomic import atomic_write

    data = "mnist"
    if not BUILTINS["mnist"].available():
        err_console.print(f"[yellow]MNIST is not installed ({BUILTINS['mnist'].missing_hint}); using digits.")
        data = "digits"
    k = 16 if data == "mnist" else 8
    t_start = time.perf_counter()
    runs = []
    with _stage():
        ds = _load(data, None, None)
        for name, params in (("pca", {}), ("vae", {"arch": "mlp", "epochs": epochs})):
            t0 = time.perf_counter()
            run = pipeline.fit(ds, name, latent_dim=k, out=out / f"{data}-{name}", overwrite=True, **params)
            console.print(
                f"[green]{name}[/] on {data} (latent {k}) fitted in {time.perf_counter() - t0:.1f} s"
                f" -> [bold]{run.path}[/]"
            )
            _print_info_summary(run.config["info"])
            runs.append(run)
        for run in runs:
            t0 = time.perf_counter()
            evaluate(run)
            console.print(f"[green]evaluated[/] {run.name} in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        m = map_run(runs[1], "umap")
        q = m.quality
        console.print(
            f"[green]UMAP map[/] of {runs[1].name} in {time.perf_counter() - t0:.1f} s: trustworthiness"
            f" {q['trustworthiness']:.3f}"
            + (f", kNN accuracy {q['knn_accuracy_map']:.3f}" if "knn_accuracy_map" in q else "")
        )
        for run in runs:
            console.print(f"[green]wrote[/] {write_report(run)}")
        cards = [r.read_json("metrics.json") for r in runs]
        compare_path = atomic_write(out / "compare.html", compare_html(*compare_table(runs, cards)).encode())
    console.print(f"[green]wrote[/] {compare_path}")
    console.print(
        f"demo done in {time.perf_counter() - t_start:.0f} s; next: latentspace explore {runs[1].path}"
    )
    if not no_serve:
        from .cli_explore import serve

        serve([runs[1].path, runs[0].path], port=port)


def main() -> None:
    app()


if __name__ == "__main__":
    main()


from . import cli_eval, cli_explore, cli_maps, cli_ops, cli_reproduce  # noqa: E402,F401  (they register their commands on `app`)
