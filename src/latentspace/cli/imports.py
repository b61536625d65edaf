"""``latentspace import``: vectors, or a user's ONNX encoder and decoder, made into a run folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .app import MAX_SEED, app, in_range, load_data, say, stage

VECTORS = "Vectors"
META = "Metadata and items"
ONNX = "An encoder (and decoder) as ONNX"
RUN = "The run"


@app.command("import")
def import_(
    vectors: Annotated[
        Path | None,
        typer.Argument(
            help=".npy, .npz, Parquet (a list column, or one column per dimension), CSV, TSV"
            " (TensorBoard projector's tensor file); its other columns are metadata.",
            show_default=False,
        ),
    ] = None,
    vector_col: Annotated[
        str | None,
        typer.Option(
            help="The list column holding the vectors (or the array of an .npz); found on its own when"
            " there is one.",
            rich_help_panel=VECTORS,
        ),
    ] = None,
    z_cols: Annotated[
        str | None,
        typer.Option(
            help="The columns holding one value each: a prefix (z_ for z_0, z_1, ...) or A,B,C; default:"
            " every numeric column when no other is left.",
            rich_help_panel=VECTORS,
        ),
    ] = None,
    metadata: Annotated[
        Path | None,
        typer.Option(
            help="A table of one row per vector (Parquet, CSV, or TSV: one column without header, as"
            " the projector's metadata.tsv, or a header line); every column is kept in its own type.",
            rich_help_panel=META,
        ),
    ] = None,
    id_col: Annotated[
        str | None,
        typer.Option(
            help="A column of unique ids: matches --metadata rows to the vectors' rows (any order) and"
            " --items file names.",
            rich_help_panel=META,
        ),
    ] = None,
    label_col: Annotated[
        str | None,
        typer.Option(
            help="The label: a column of categories (colours maps, trains probes); default: a column"
            " named label, class, category or target. With --encoder: a column of --data.",
            rich_help_panel=META,
        ),
    ] = None,
    image_col: Annotated[
        str | None,
        typer.Option(
            help="Items are images: a column of image paths (relative to its table) or image bytes.",
            rich_help_panel=META,
        ),
    ] = None,
    text_col: Annotated[
        str | None, typer.Option(help="Items are texts: a text column.", rich_help_panel=META)
    ] = None,
    items: Annotated[
        Path | None,
        typer.Option(
            help="Items are images: a folder of one per vector (file name = --id-col, or sorted order).",
            rich_help_panel=META,
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "-d",
            help="The data the vectors came from (path or built-in), same rows: raw-data scores apply"
            " and its rows are the items. Required with --encoder.",
            rich_help_panel=META,
        ),
    ] = None,
    data_arg: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE for a built-in --data, e.g. --data-arg n=20000.", rich_help_panel=META),
    ] = None,
    encoder: Annotated[
        Path | None,
        typer.Option(help="Your encoder as ONNX: data -> latent (needs --data).", rich_help_panel=ONNX),
    ] = None,
    decoder: Annotated[
        Path | None, typer.Option(help="Your decoder as ONNX: latent -> data.", rich_help_panel=ONNX)
    ] = None,
    prior: Annotated[
        str,
        typer.Option(
            help="'fitted' (a Gaussian fitted to the latents) or 'standard' (N(0, I)).", rich_help_panel=ONNX
        ),
    ] = "fitted",
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder to create.", rich_help_panel=RUN)
    ] = Path("runs/imported"),
    test_fraction: Annotated[
        float | None,
        typer.Option(help="Held-out share for the probes; default 0.1.", rich_help_panel=RUN),
    ] = None,
    seed: Annotated[
        int, typer.Option(help=f"Seed of the held-out split, 0..{MAX_SEED}.", rich_help_panel=RUN)
    ] = 0,
    overwrite: Annotated[
        bool, typer.Option(help="Replace --out if it is a run.", rich_help_panel=RUN)
    ] = False,
) -> None:
    """Bring a latent space made elsewhere: your vectors with their metadata, or your trained encoder
    (and decoder) exported to ONNX. The run then maps, evaluates, reports and explores like a fitted one.

    Examples:

    latentspace import vectors.npy --metadata meta.csv --label-col species -o runs/mine

    latentspace import tensors.tsv --metadata metadata.tsv -o runs/projector

    latentspace import atlas.parquet --text-col text --label-col topic -o runs/docs

    latentspace import emb.parquet --metadata photos.csv --id-col id --items photos/ -o runs/photos
    """
    from ..stages.targets import check_target

    with stage():
        in_range("--seed", seed, 0, MAX_SEED)
        if test_fraction is not None and not 0 <= test_fraction < 1:
            raise _usage(f"--test-fraction must be at least 0 and below 1; got {test_fraction}")
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
                id_col,
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
    extras = [run.model_name]
    if kept:
        extras.append(f"{kept} metadata column{'s' if kept != 1 else ''}")
    if "label_col" in run.config:
        extras.append(f"label {run.config['label_col']!r}: {len(ds['label_names'] or [])} classes")
    if run.config.get("items", {}).get("kind", "none") != "none":
        extras.append(f"items: {run.config['items']['kind']}")
    say(
        ("imported", "green"),
        f" {ds['n']:,} vectors of {run.config['latent_dim']} values ({'; '.join(extras)})"
        f" in {elapsed:.1f} s -> ",
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
            "--metadata, --id-col, --items, --image-col, --text-col, --vector-col and --z-cols apply to"
            " imported vectors, not to --encoder"
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
