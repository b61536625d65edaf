"""``latentspace import``: vectors, or a user's ONNX encoder and decoder, made into a run folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .app import MAX_SEED, DataArgOpt, OverwriteOpt, app, in_range, load_data, say, stage


@app.command("import")
def import_(
    vectors: Annotated[
        Path | None,
        typer.Argument(
            help="Vectors: .npy, .npz, Parquet (a list column or one column per value), CSV, TSV."
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder to create.")] = Path("runs/imported"),
    metadata: Annotated[
        Path | None, typer.Option(help="A table with one row per vector: Parquet, CSV or TSV (projector's).")
    ] = None,
    id_col: Annotated[
        str | None, typer.Option(help="Column of unique ids (matches metadata and --items).")
    ] = None,
    vector_col: Annotated[str | None, typer.Option(help="The list column holding the vectors.")] = None,
    z_cols: Annotated[str | None, typer.Option(help="Prefix of the columns holding one value each.")] = None,
    label_col: Annotated[
        str | None, typer.Option(help="The label: a categorical metadata column (with --encoder: of --data).")
    ] = None,
    image_col: Annotated[str | None, typer.Option(help="Column of image paths or bytes: the items.")] = None,
    text_col: Annotated[str | None, typer.Option(help="Text column shown as each item.")] = None,
    items: Annotated[
        Path | None, typer.Option(help="Folder of images, one per vector (by id or in order).")
    ] = None,
    encoder: Annotated[
        Path | None, typer.Option(help="Your encoder as ONNX: data -> latent (needs --data).")
    ] = None,
    decoder: Annotated[Path | None, typer.Option(help="Your decoder as ONNX: latent -> data.")] = None,
    prior: Annotated[
        str, typer.Option(help="With ONNX: 'fitted' (a Gaussian fitted to the latents) or 'standard'.")
    ] = "fitted",
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="Source data (path or built-in): same rows as the vectors."),
    ] = None,
    data_arg: DataArgOpt = None,
    test_fraction: Annotated[
        float | None, typer.Option(help="Held-out share for probes; default 0.1.")
    ] = None,
    seed: Annotated[int, typer.Option(help=f"Seed of the held-out split, 0..{MAX_SEED}.")] = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Bring a latent space made elsewhere: your vectors with their metadata, or your trained encoder
    (and decoder) exported to ONNX. The run then maps, evaluates, reports and explores like a fitted one."""
    from ..stages.targets import check_target

    with stage():
        in_range("--seed", seed, 0, MAX_SEED)
        check_target(out, overwrite, kind="run")
        t0 = time.perf_counter()
        if encoder is not None or decoder is not None:
            run = _import_model(
                vectors,
                encoder,
                decoder,
                data,
                label_col,
                data_arg,
                out,
                prior,
                test_fraction,
                seed,
                overwrite,
                metadata,
                items,
                image_col,
                text_col,
                vector_col,
                z_cols,
            )
        else:
            if vectors is None:
                raise _usage("give VECTORS (a file of vectors) or --encoder ENCODER.onnx --data DATA")
            from ..stages.imports import import_embeddings

            source = load_data(data, None, data_arg) if data is not None else None
            run = import_embeddings(
                vectors,
                out=out,
                metadata=metadata,
                id_col=id_col,
                vector_col=vector_col,
                z_cols=z_cols,
                label_col=label_col,
                image_col=image_col,
                text_col=text_col,
                items=items,
                data=source,
                test_fraction=test_fraction,
                seed=seed,
                overwrite=overwrite,
            )
        elapsed = time.perf_counter() - t0
    ds = run.config["dataset"]
    kept = len(run.config.get("metadata", []))
    say(
        ("imported", "green"),
        f" {ds['n']:,} vectors of {run.config['latent_dim']} values ({run.model_name}"
        f"{f', {kept} metadata columns' if kept else ''}) in {elapsed:.1f} s -> ",
        (str(run.path), "bold"),
    )
    say(f"next: latentspace map {run.path}; latentspace evaluate {run.path}; latentspace explore {run.path}")


def _usage(message: str):
    from ..errors import InputError

    return InputError(message)


def _import_model(
    vectors,
    encoder,
    decoder,
    data,
    label_col,
    data_arg,
    out,
    prior,
    test_fraction,
    seed,
    overwrite,
    *embedding_only,
):
    if vectors is not None:
        raise _usage("with --encoder, the data come from --data; VECTORS applies to imported vectors")
    if any(v is not None for v in embedding_only):
        raise _usage(
            "--metadata, --items, --image-col, --text-col, --vector-col and --z-cols apply to vectors"
        )
    if encoder is None:
        raise _usage("--decoder needs --encoder ENCODER.onnx (the latents of the data come from the encoder)")
    if data is None:
        raise _usage("--encoder needs --data DATA: the data to encode (a path or a built-in name)")
    if prior not in ("fitted", "standard"):
        raise _usage(f"--prior must be 'fitted' or 'standard'; got {prior!r}")
    from ..stages.import_model import import_model

    return import_model(
        load_data(data, label_col, data_arg),
        out=out,
        encoder=encoder,
        decoder=decoder,
        prior=prior,
        test_fraction=test_fraction,
        seed=seed,
        overwrite=overwrite,
    )
