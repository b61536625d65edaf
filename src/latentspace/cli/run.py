"""Commands around a run's life: ``datasets``, ``models``, ``fit``, ``encode``, ``info``, ``demo``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..extras import require
from .app import (
    MAX_SEED,
    DaskOpt,
    DataArgOpt,
    DataOpt,
    LabelOpt,
    OverwriteOpt,
    app,
    console,
    in_range,
    load_data,
    parse_params,
    say,
    stage,
)


@app.command()
def datasets() -> None:
    """List the built-in datasets and the file formats latentspace reads."""
    from ..data.builtin import BUILTINS
    from ..data.files import SUPPORTED

    table = Table(title="Built-in datasets (all offline)")
    for col in ("name", "rows x features", "what", "status"):
        table.add_column(col)
    for info in BUILTINS.values():
        status = "ready" if info.available() else Text(f"missing: {info.missing_hint}", style="yellow")
        table.add_row(info.name, info.size, info.summary, status)
    console.print(table)
    console.print(f"Files: {SUPPORTED}.  Use --data PATH [--label-col NAME].")


@app.command()
def models() -> None:
    """List the registered models and the package each comes from (plugins included)."""
    from ..errors import InputError
    from ..models.registry import available_models, get_model_class, model_source, plugins

    table = Table(title="Models (set any parameter with -p KEY=VALUE)", show_lines=True)
    table.add_column("name", style="bold")
    table.add_column("package")
    table.add_column("what")
    table.add_column("parameters (defaults)")
    ignored = [p for p in plugins().values() if p.problem]  # never loaded: known from their metadata
    rows = [(name, None) for name in available_models()] + [(p.name, p) for p in ignored]
    rows.sort(key=lambda row: (row[0], row[1] is not None))
    for name, plugin in rows:
        if plugin is not None:
            problem = plugin.refuse(f"is ignored: {plugin.problem}")
            table.add_row(name, plugin.package, Text(str(problem), style="red"), "")
            continue
        try:
            cls = get_model_class(name)
            params = ", ".join(f"{k}={v!r}" for k, v in cls().get_params().items())
        except InputError as exc:  # a plugin that cannot be imported: its row says why
            table.add_row(name, model_source(name), Text(str(exc), style="red"), "")
            continue
        doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())  # the first paragraph
        table.add_row(name, model_source(name), doc, params)
    console.print(table)


@app.command()
def fit(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder to create, e.g. runs/pca16.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Registry name (see `models`).")] = "pca",
    latent_dim: Annotated[int, typer.Option("--latent-dim", "-k", help="Size of the latent.")] = 16,
    seed: Annotated[int, typer.Option(help=f"Seed for the split and the model, 0..{MAX_SEED}.")] = 0,
    test_fraction: Annotated[
        float | None,
        typer.Option(help="Held-out share; default: the dataset's own split, else 0.1."),
    ] = None,
    label_col: LabelOpt = None,
    data_arg: DataArgOpt = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            help="Training epochs (neural models): exactly this many. Without it, at least 2,000"
            " optimiser steps (more epochs on small data)."
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (neural models).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (neural models).")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda (neural models).")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Any model parameter as KEY=VALUE (JSON values), e.g. -p beta=4."),
    ] = None,
    scale: Annotated[
        str,
        typer.Option(
            help="auto | standard | none: standardise each feature for the model (undone on decode, so"
            " everything stays in the data's units); auto: tables whose feature standard deviations"
            " differ more than 10-fold, never images."
        ),
    ] = "auto",
    resume: Annotated[bool, typer.Option(help="Continue an interrupted fit of the same command.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
) -> None:
    """Fit a model on the training split and write a run folder (model, latents, config, verdicts)."""
    from ..interpret.verdicts import stored
    from ..stages import fit as stages_fit
    from ..stages.targets import check_target
    from .evaluate import say_verdicts

    with stage():
        in_range("--seed", seed, 0, MAX_SEED)
        check_target(out, overwrite, kind="run")
        params = parse_params(param)
        for key, value in (
            ("epochs", epochs),
            ("batch_size", batch_size),
            ("lr", lr),
            ("device", device),
            ("threads", threads),
        ):
            if value is not None:
                params[key] = value
        ds = load_data(data, label_col, data_arg)
        t0 = time.perf_counter()
        run = stages_fit.fit(
            ds,
            model,
            latent_dim=latent_dim,
            out=out,
            seed=seed,
            test_fraction=test_fraction,
            overwrite=overwrite,
            resume=resume,
            scale=scale,
            **params,
        )
        elapsed = time.perf_counter() - t0
        found = stored(run) if run is not None else []
    if run is None:  # a rank other than 0 of `torchrun ... -m latentspace fit`: rank 0 reports
        return
    split = run.config["split"]
    say(
        ("fitted", "green"),
        f" {model} (latent {latent_dim}) on {split['n_train']:,} rows of {ds.name} in {elapsed:.1f} s -> ",
        (str(run.path), "bold"),
    )
    say(stages_fit.info_summary(run.config["info"]))
    say_verdicts(found)


@app.command()
def encode(
    run: Annotated[Path, typer.Argument(help="Run folder made by `fit`.")],
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write: .parquet or .csv.")],
    label_col: LabelOpt = None,
    data_arg: DataArgOpt = None,
    dask: DaskOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Encode data with a fitted run and write the latents to Parquet or CSV (by --out's suffix)."""
    from ..runfolder import Run
    from ..stages.encode import FORMATS
    from ..stages.encode import encode as encode_stage
    from ..stages.targets import check_target

    with stage():
        if dask:
            require("dask", "--dask")
        check_target(out, overwrite, suffixes=FORMATS)  # before the data are loaded
        r = Run(run)
        ds = load_data(data, label_col, data_arg)
        path = encode_stage(r, ds, out, dask=dask, overwrite=overwrite)
    say(("encoded", "green"), f" {ds.n:,} rows of {ds.name} -> ", (str(path), "bold"))


@app.command()
def info(
    run: Annotated[Path, typer.Argument(help="Run folder made by `fit`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the config as JSON.")] = False,
) -> None:
    """Show a run: model, data, split, what was learned, files (all checksums verified)."""
    from ..runfolder import Run

    with stage():
        r = Run(run)
    cfg = r.config
    if as_json:
        console.print_json(json.dumps(cfg))
        return
    ds = cfg["dataset"]
    table = Table(
        title=Text.assemble(f"run {r.name}  ", ("(checksums verified)", "green")), show_header=False
    )
    table.add_column(style="bold")
    table.add_column()
    params = ", ".join(f"{k}={v!r}" for k, v in cfg["model"]["params"].items())
    table.add_row("model", f"{cfg['model']['name']}({params})")
    table.add_row("latent dim", str(cfg["latent_dim"]))
    shape = f", images {tuple(ds['sample_shape'])}" if ds["sample_shape"] else ""
    table.add_row("data", f"{ds['name']}: {ds['n']:,} x {ds['d']}{shape}  {ds['spec']}")
    if cfg.get("metadata"):
        table.add_row("metadata", ", ".join(f"{m['name']} ({m['kind']})" for m in cfg["metadata"]))
    if "label_col" in cfg:
        table.add_row("label", f"{cfg['label_col']} ({len(ds['label_names'] or [])} classes)")
    if cfg.get("items"):
        it = cfg["items"]
        table.add_row("items", it["kind"] + (f" (column {it['column']})" if "column" in it else ""))
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
    overwrite: Annotated[bool, typer.Option(help="Replace the demo's runs and compare.html.")] = False,
) -> None:
    """The main job on built-in data: fit PCA and a VAE on MNIST (digits if MNIST is missing),
    evaluate both, map the VAE with UMAP, write both reports and a comparison, then serve the
    explorer."""
    from ..stages.demo import demo as run_demo

    with stage():
        in_range("--epochs", epochs, 1)
        if not no_serve:  # a missing extra or a busy port is found now, not after minutes of work
            from .explore import check_port, require_explorer

            require_explorer("`latentspace demo` (serving the explorer at its end; --no-serve skips it)")
            check_port("127.0.0.1", port)
        result = run_demo(out, epochs=epochs, notify=say, overwrite=overwrite)
    vae, pca = result.runs[1], result.runs[0]
    say(f"demo done in {result.seconds['total']:.0f} s; next: latentspace explore {vae.path}")
    if not no_serve:
        from .explore import serve

        serve([vae.path, pca.path], port=port)
