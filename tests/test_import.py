"""latentspace import: every input format and Python object comes back exactly (float32 values,
metadata in its own Arrow types, labels, items), the projector's TSV pair and an Embedding
Atlas-style Parquet file import with their metadata, ids join in any order, and a large Parquet
file streams with bounded memory."""

import datetime as dt
import hashlib
import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

import latentspace as ls
from latentspace.cli import app
from latentspace.data.vectors import read_vectors
from latentspace.runfolder import Run

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["import", *(str(a) for a in args)])


def imported(*args) -> Run:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "imported" in result.output
    out = args[list(args).index("-o") + 1]
    return Run(out)


def vectors(n=40, k=6, seed=0) -> np.ndarray:
    """float32 values that float64 text or arithmetic would not keep by accident."""
    return np.random.default_rng(seed).standard_normal((n, k)).astype(np.float32) * np.float32(1 / 3)


def exactly(run: Run, Z: np.ndarray) -> None:
    got = run.latent_matrix()
    assert got.dtype == np.float32 and got.shape == Z.shape
    assert np.array_equal(got, Z.astype(np.float32))
    assert run.model_name == "embeddings" and run.config["latent_dim"] == Z.shape[1]


def meta_types(run: Run) -> dict:
    """Each metadata column's Arrow type as latents.parquet holds it, and its kind in config."""
    table = run.latents()
    kinds = {m["name"]: m["kind"] for m in run.config["metadata"]}
    types = {c[5:]: table[c].type for c in table.column_names if c.startswith("meta_")}
    assert set(kinds) == set(types)
    return {name: (types[name], kinds[name]) for name in types}


def labels(run: Run) -> list[str]:
    names = run.config["dataset"]["label_names"]
    return [names[c] for c in run.latents()["label"].to_pylist()]


# --- files -----------------------------------------------------------------------------------------
def test_npy_and_npz_round_trip(tmp_path):
    Z = vectors()
    np.save(tmp_path / "z.npy", Z)
    run = imported(tmp_path / "z.npy", "-o", tmp_path / "a")
    exactly(run, Z)
    assert run.config["items"] == {"kind": "none"} and run.config["metadata"] == []
    assert run.config["dataset"]["spec"]["own_latents"] and "label" not in run.latents().column_names

    # float64 becomes float32 exactly; integers are not rescaled as images are
    np.save(tmp_path / "d.npy", Z.astype(np.float64))
    exactly(imported(tmp_path / "d.npy", "-o", tmp_path / "b"), Z)
    codes = np.arange(120, dtype=np.uint8).reshape(40, 3)
    np.save(tmp_path / "u8.npy", codes)
    exactly(imported(tmp_path / "u8.npy", "-o", tmp_path / "c"), codes.astype(np.float32))

    # an .npz: the vectors, its labels (y) and any other array of one value per vector
    y = np.array(["cat", "dog"] * 20)
    np.savez(tmp_path / "z.npz", embeddings=Z, y=y, ids=np.arange(100, 140))
    run = imported(tmp_path / "z.npz", "-o", tmp_path / "d")
    exactly(run, Z)
    assert run.config["label_col"] == "label" and labels(run) == y.tolist()
    assert run.metadata()["ids"].to_pylist() == list(range(100, 140))
    np.savez(tmp_path / "two.npz", first=Z[:, :2], second=Z)
    exactly(imported(tmp_path / "two.npz", "--vector-col", "second", "-o", tmp_path / "e"), Z)


def test_projector_tsv_pair_imports_with_its_metadata(tmp_path):
    """TensorBoard projector: a header-less tensors.tsv, and a metadata.tsv with a header line
    when it has several columns, none when it has one (then it is the label)."""
    Z = vectors(30, 5)
    np.savetxt(tmp_path / "tensors.tsv", Z, delimiter="\t", fmt="%.9g")
    words = [f"word{i}" for i in range(30)]
    kind = ["noun", "verb", "adj"] * 10
    with open(tmp_path / "metadata.tsv", "w") as fh:
        fh.write("word\tkind\tcount\n")
        fh.writelines(f"{w}\t{k}\t{i * 7}\n" for i, (w, k) in enumerate(zip(words, kind, strict=True)))
    run = imported(
        tmp_path / "tensors.tsv",
        "--metadata",
        tmp_path / "metadata.tsv",
        "--label-col",
        "kind",
        "-o",
        tmp_path / "p",
    )
    exactly(run, Z)
    meta = run.metadata()
    assert meta["word"].to_pylist() == words and meta["count"].to_pylist() == [i * 7 for i in range(30)]
    assert meta_types(run) == {
        "word": (pa.string(), "text"),
        "kind": (pa.string(), "text"),
        "count": (pa.int64(), "number"),
    }
    assert run.config["label_col"] == "kind" and labels(run) == kind
    assert run.config["dataset"]["label_names"] == ["adj", "noun", "verb"]

    # one column: no header, every line a value (an empty one included); it is the label
    one = ["a", "b", "c"] * 10
    (tmp_path / "labels.tsv").write_text("\n".join(one) + "\n")
    run = imported(tmp_path / "tensors.tsv", "--metadata", tmp_path / "labels.tsv", "-o", tmp_path / "q")
    assert run.config["label_col"] == "label" and labels(run) == one
    assert run.metadata()["label"].to_pylist() == one
    gaps = ["x", "", "y"] * 10
    (tmp_path / "gaps.tsv").write_text("\n".join(gaps) + "\n")
    run = imported(tmp_path / "tensors.tsv", "--metadata", tmp_path / "gaps.tsv", "-o", tmp_path / "r")
    assert run.metadata()["label"].to_pylist() == gaps  # 30 rows: the empty lines kept
    assert "label_col" not in run.config  # an empty label is no class: not taken on its own


def atlas_table(n=60, k=8, seed=1):
    rng = np.random.default_rng(seed)
    Z = vectors(n, k, seed)
    table = pa.table(
        {
            "id": [f"doc-{i}" for i in range(n)],
            "text": [f"the text of document {i}" for i in range(n)],
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "topic": rng.choice(["sport", "art", "news"], n),
            "embedding": pa.array(list(Z), pa.list_(pa.float32())),
        }
    )
    return Z, table


def test_embedding_atlas_parquet_imports_with_its_metadata(tmp_path):
    Z, table = atlas_table()
    pq.write_table(table, tmp_path / "atlas.parquet")
    run = imported(
        tmp_path / "atlas.parquet", "--text-col", "text", "--label-col", "topic", "-o", tmp_path / "a"
    )
    exactly(run, Z)
    assert meta_types(run) == {
        "id": (pa.string(), "text"),
        "text": (pa.string(), "text"),
        "x": (pa.float64(), "number"),
        "y": (pa.float64(), "number"),
        "topic": (pa.string(), "text"),
    }
    meta = run.metadata()
    for name in ("id", "text", "x", "y", "topic"):
        assert meta[name].to_pylist() == table[name].to_pylist(), name
    assert run.config["items"] == {"kind": "text", "column": "text"}
    assert labels(run) == table["topic"].to_pylist()
    assert [m["name"] for m in run.config["metadata"]] == ["id", "text", "x", "y", "topic"]

    # a fixed-size list column, named explicitly beside another list column
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(Z.ravel()), Z.shape[1])
    other = pa.array([[1, 2]] * len(Z), pa.list_(pa.int64()))
    pq.write_table(pa.table({"id": table["id"], "vec": fixed, "tags": other}), tmp_path / "fixed.parquet")
    run = imported(tmp_path / "fixed.parquet", "--vector-col", "vec", "-o", tmp_path / "b")
    exactly(run, Z)
    assert [m["name"] for m in run.config["metadata"]] == ["id"]  # a list of tags is not kept


def test_parquet_and_csv_with_one_column_per_dimension(tmp_path):
    Z = vectors(50, 12)
    # written out of order: z_10 before z_2; --z-cols orders by the number
    names = sorted((f"z_{j}" for j in range(12)), key=str)
    cols = {"id": np.arange(50), **{c: Z[:, int(c[2:])] for c in names}, "label": ["a", "b"] * 25}
    pq.write_table(pa.table(cols), tmp_path / "cols.parquet")
    run = imported(tmp_path / "cols.parquet", "--z-cols", "z_", "-o", tmp_path / "a")
    exactly(run, Z)
    assert meta_types(run) == {"id": (pa.int64(), "number"), "label": (pa.string(), "text")}
    assert run.config["label_col"] == "label"
    # found on their own: every other column is a number and id / label are never dimensions
    pq.write_table(
        pa.table({"id": np.arange(50), **{f"d{j}": Z[:, j] for j in range(12)}}), tmp_path / "auto.parquet"
    )
    exactly(imported(tmp_path / "auto.parquet", "-o", tmp_path / "b"), Z)
    # a comma list names any columns
    frame = pd.DataFrame({"sepal length": Z[:, 0], "petal width": Z[:, 1], "species": ["x", "y"] * 25})
    frame.to_csv(tmp_path / "iris.csv", index=False)
    run = imported(tmp_path / "iris.csv", "--z-cols", "sepal length,petal width", "-o", tmp_path / "c")
    exactly(run, Z[:, :2])
    assert run.metadata()["species"].to_pylist() == ["x", "y"] * 25
    # pandas' own CSV: a header 0, 1, 2, ... (and its index column) is a header, not a vector
    pd.DataFrame(Z).to_csv(tmp_path / "pandas.csv", index=False)
    exactly(imported(tmp_path / "pandas.csv", "-o", tmp_path / "d"), Z)
    pd.DataFrame(Z).to_csv(tmp_path / "indexed.csv")
    run = imported(tmp_path / "indexed.csv", "-o", tmp_path / "e")
    exactly(run, Z)
    assert run.metadata()["index"].to_pylist() == list(range(50))
    # a header-less CSV and numpy.savetxt's space-separated .txt
    np.savetxt(tmp_path / "plain.csv", Z, delimiter=",", fmt="%.9g")
    exactly(imported(tmp_path / "plain.csv", "-o", tmp_path / "f"), Z)
    np.savetxt(tmp_path / "plain.txt", Z, fmt="%.9g")
    exactly(imported(tmp_path / "plain.txt", "-o", tmp_path / "g"), Z)


def test_metadata_keeps_its_arrow_types(tmp_path):
    Z = vectors(6, 3)
    np.save(tmp_path / "z.npy", Z)
    when = [dt.datetime(2024, 1, d, 12, 30, tzinfo=dt.timezone.utc) for d in range(1, 7)]
    table = pa.table(
        {
            "name": ["a", "b", "c", "d", "e", "f"],
            "size": pa.array(["S", "M", "L", "S", "M", "L"]).dictionary_encode(),
            "count": pa.array([1, 2, 3, 4, 5, None], pa.int32()),
            "score": [0.5, 1.5, 2.5, np.nan, 4.5, 5.5],
            "ok": [True, False, True, None, False, True],
            "when": pa.array(when, pa.timestamp("ms", tz="UTC")),
            "day": pa.array([dt.date(2024, 2, d) for d in range(1, 7)]),
            "price": pa.array([1, 2, 3, 4, 5, 6], pa.decimal128(5, 2)),
            "took": pa.array([dt.timedelta(seconds=s) for s in range(6)], pa.duration("ms")),
            "tags": pa.array([[1]] * 6, pa.list_(pa.int64())),
        }
    )
    pq.write_table(table, tmp_path / "meta.parquet")
    run = imported(tmp_path / "z.npy", "--metadata", tmp_path / "meta.parquet", "-o", tmp_path / "a")
    types = meta_types(run)
    assert types == {
        "name": (pa.string(), "text"),
        "size": (pa.dictionary(pa.int32(), pa.string()), "category"),
        "count": (pa.int32(), "number"),
        "score": (pa.float64(), "number"),
        "ok": (pa.bool_(), "bool"),
        "when": (pa.timestamp("ms", tz="UTC"), "time"),
        "day": (pa.date32(), "time"),
        "price": (pa.float64(), "number"),  # a decimal as a number
        "took": (pa.float64(), "number"),  # a duration in seconds
    }  # the list column is the one not kept (a warning says so)
    meta = run.metadata()
    for name in ("name", "count", "ok", "when", "day"):
        assert meta[name].to_pylist() == table[name].to_pylist(), name
    assert meta["size"].to_pylist() == ["S", "M", "L", "S", "M", "L"]
    assert np.array_equal(meta["score"].to_numpy(), table["score"].to_numpy(), equal_nan=True)
    assert meta["price"].to_pylist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert meta["took"].to_pylist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]

    # from a CSV, pyarrow's inference: integers, floats, booleans, times, text
    pd.DataFrame(
        {
            "n": range(6),
            "f": np.linspace(0, 1, 6),
            "b": [True, False] * 3,
            "t": pd.date_range("2024-01-01", periods=6, freq="D"),
            "s": ["plain", "a, comma", 'a "quote"', "two\nlines", "ünïcode ✓", ""],
        }
    ).to_csv(tmp_path / "meta.csv", index=False)
    run = imported(tmp_path / "z.npy", "--metadata", tmp_path / "meta.csv", "-o", tmp_path / "b")
    assert run.metadata()["s"].to_pylist() == [
        "plain",
        "a, comma",
        'a "quote"',
        "two\nlines",
        "ünïcode ✓",
        "",
    ]
    assert {k: v[1] for k, v in meta_types(run).items()} == {
        "n": "number",
        "f": "number",
        "b": "bool",
        "t": "time",
        "s": "text",
    }


def test_any_categorical_column_is_the_label(tmp_path):
    Z = vectors(12, 3)
    np.save(tmp_path / "z.npy", Z)
    frame = pd.DataFrame(
        {
            "size": pd.Categorical(["low", "high", "mid"] * 4, categories=["low", "mid", "high"]),
            "digit": [3, 1, 2] * 4,
            "weight": [1.0, 2.0] * 6,
            "flag": [True, False, False] * 4,
        }
    )
    frame.to_parquet(tmp_path / "m.parquet")
    args = (tmp_path / "z.npy", "--metadata", tmp_path / "m.parquet")
    run = imported(*args, "--label-col", "size", "-o", tmp_path / "a")
    assert run.config["dataset"]["label_names"] == ["low", "mid", "high"]  # the category's own order
    assert run.latents()["label"].to_pylist() == [0, 2, 1] * 4 and labels(run) == frame["size"].tolist()
    assert meta_types(run)["size"][1] == "category"
    run = imported(*args, "--label-col", "digit", "-o", tmp_path / "b")
    assert run.config["dataset"]["label_names"] == ["1", "2", "3"] and labels(run) == ["3", "1", "2"] * 4
    run = imported(*args, "--label-col", "weight", "-o", tmp_path / "c")
    assert run.config["dataset"]["label_names"] == ["1", "2"]  # 1.0, 2.0: whole numbers
    run = imported(*args, "--label-col", "flag", "-o", tmp_path / "d")
    assert labels(run) == ["True", "False", "False"] * 4
    assert "label_col" not in Run(imported(*args, "-o", tmp_path / "e").path).config  # none named label
    # the run remembers every column, whichever is the label
    assert [m["name"] for m in run.config["metadata"]] == ["size", "digit", "weight", "flag"]


def test_an_id_join_puts_metadata_in_the_vectors_order(tmp_path):
    Z, table = atlas_table(n=30)
    pq.write_table(table.drop_columns(["topic", "text"]), tmp_path / "v.parquet")
    rng = np.random.default_rng(3)
    order = rng.permutation(40)  # the metadata: shuffled, with 10 rows of no vector
    ids = [f"doc-{i}" for i in order]
    meta = pd.DataFrame({"id": ids, "rank": order * 10, "topic": [f"t{i % 3}" for i in order]})
    meta.to_csv(tmp_path / "meta.csv", index=False)
    run = imported(
        tmp_path / "v.parquet",
        "--metadata",
        tmp_path / "meta.csv",
        "--id-col",
        "id",
        "--label-col",
        "topic",
        "-o",
        tmp_path / "a",
    )
    exactly(run, Z)
    got = run.metadata()
    assert got["id"].to_pylist() == [f"doc-{i}" for i in range(30)]
    assert got["rank"].to_pylist() == [i * 10 for i in range(30)]
    assert labels(run) == [f"t{i % 3}" for i in range(30)]
    assert [m["name"] for m in run.config["metadata"]] == ["id", "x", "y", "rank", "topic"]

    # ids of different types (integers in the Parquet file, text in the CSV) still meet
    pq.write_table(pa.table({"key": np.arange(30), "embedding": table["embedding"]}), tmp_path / "w.parquet")
    pd.DataFrame({"key": [f"{i}" for i in order], "rank": order}).to_csv(
        tmp_path / "m2.tsv", sep="\t", index=False
    )
    run = imported(
        tmp_path / "w.parquet", "--metadata", tmp_path / "m2.tsv", "--id-col", "key", "-o", tmp_path / "b"
    )
    assert run.metadata()["rank"].to_pylist() == list(range(30))


def test_label_picked_by_name_only_when_it_can_be_one(tmp_path):
    Z = vectors(30, 3)
    np.save(tmp_path / "z.npy", Z)
    pd.DataFrame({"class": ["a", "b", "c"] * 10}).to_csv(tmp_path / "m.csv", index=False)
    assert (
        imported(tmp_path / "z.npy", "--metadata", tmp_path / "m.csv", "-o", tmp_path / "a").config[
            "label_col"
        ]
        == "class"
    )
    pd.DataFrame({"label": [f"row{i}" for i in range(30)]}).to_csv(tmp_path / "ids.csv", index=False)
    run = imported(tmp_path / "z.npy", "--metadata", tmp_path / "ids.csv", "-o", tmp_path / "b")
    assert "label_col" not in run.config and run.metadata()["label"].to_pylist()[:2] == ["row0", "row1"]


# --- items -----------------------------------------------------------------------------------------
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)] * 2


def png(colour, size=(20, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def item_colours(run: Run) -> list[tuple]:
    table = pq.read_table(io.BytesIO(run.read_file("items.parquet")))
    assert table["row"].to_pylist() == list(range(table.num_rows))
    out = []
    for data in table["image"].to_pylist():
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG" and max(im.size) <= 96
            out.append(im.convert("RGB").getpixel((0, 0)))
    return out


def test_images_from_a_folder_by_id_or_in_order(tmp_path):
    n = len(COLOURS)
    Z = vectors(n, 4)
    ids = [f"img{i}" for i in range(n)]
    pq.write_table(
        pa.table({"id": ids, "embedding": pa.array(list(Z), pa.list_(pa.float32()))}), tmp_path / "v.parquet"
    )
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i, colour in enumerate(COLOURS):  # half in a sub-folder; JPEG and PNG; a stray text file
        (folder / ("sub" if i % 2 else "") / f"img{i}.png").write_bytes(png(colour))
    (folder / "notes.txt").write_text("not an image")
    run = imported(tmp_path / "v.parquet", "--id-col", "id", "--items", folder, "-o", tmp_path / "a")
    exactly(run, Z)
    assert run.config["items"] == {"kind": "image"} and item_colours(run) == COLOURS

    # in sorted order, numbers read as numbers: img2 before img10
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, colour in enumerate(COLOURS):
        (flat / f"img{i}.png").write_bytes(png(colour))
    run = imported(tmp_path / "v.parquet", "--items", flat, "-o", tmp_path / "b")
    assert item_colours(run) == COLOURS


def test_images_from_a_column_of_paths_or_bytes(tmp_path):
    n = len(COLOURS)
    Z = vectors(n, 4)
    np.save(tmp_path / "z.npy", Z)
    (tmp_path / "meta" / "pics").mkdir(parents=True)
    for i, colour in enumerate(COLOURS):
        Image.new("RGB", (30, 30), colour).save(tmp_path / "meta" / "pics" / f"{i}.jpg", quality=95)
    paths = [f"pics/{i}.jpg" for i in range(n)]  # relative to the metadata file's folder
    pd.DataFrame({"path": paths, "kind": ["a", "b"] * (n // 2)}).to_csv(
        tmp_path / "meta" / "m.csv", index=False
    )
    run = imported(
        tmp_path / "z.npy",
        "--metadata",
        tmp_path / "meta" / "m.csv",
        "--image-col",
        "path",
        "-o",
        tmp_path / "a",
    )
    got = item_colours(run)
    assert all(
        max(abs(a - b) for a, b in zip(g, c, strict=True)) <= 8 for g, c in zip(got, COLOURS, strict=True)
    )  # JPEG
    assert run.metadata()["path"].to_pylist() == paths and run.config["items"]["kind"] == "image"

    # image bytes in the vectors' own Parquet table (an Atlas-style file with its images)
    table = pa.table(
        {
            "image": pa.array([png(c) for c in COLOURS], pa.binary()),
            "embedding": pa.array(list(Z), pa.list_(pa.float32())),
        }
    )
    pq.write_table(table, tmp_path / "with_images.parquet")
    run = imported(tmp_path / "with_images.parquet", "--image-col", "image", "-o", tmp_path / "b")
    exactly(run, Z)
    assert item_colours(run) == COLOURS and run.config["metadata"] == []  # bytes are the items only


# --- Python objects --------------------------------------------------------------------------------
def test_from_embeddings_takes_numpy_torch_pandas_polars_and_pyarrow(tmp_path):
    import polars as pl
    import torch

    Z = vectors(24, 5)
    kinds = ["a", "b", "c"] * 8
    frame = pd.DataFrame(
        {"kind": pd.Categorical(kinds), "n": np.arange(24), "text": [f"t{i}" for i in range(24)]}
    )
    inputs = {
        "numpy": Z,
        "float64": Z.astype(np.float64),
        "list": Z.tolist(),
        "torch": torch.from_numpy(Z.copy()).requires_grad_(True),
        "torch16": torch.from_numpy(Z.copy()).to(torch.bfloat16),
        "pandas": pd.DataFrame(Z, columns=[f"z{j}" for j in range(5)]),
        "pandas-series": pd.Series(list(Z)),
        "polars": pl.DataFrame(Z, schema=[f"z{j}" for j in range(5)]),
        "polars-series": pl.Series("e", Z),
        "pyarrow": pa.FixedSizeListArray.from_arrays(pa.array(Z.ravel()), 5),
        "pyarrow-table": pa.table({"embedding": pa.array(list(Z), pa.list_(pa.float32()))}),
    }
    metas = {
        "pandas": frame,
        "polars": pl.from_pandas(frame),
        "pyarrow": pa.Table.from_pandas(frame),
        "dict": {"kind": kinds, "n": np.arange(24), "text": [f"t{i}" for i in range(24)]},
    }
    for i, (name, obj) in enumerate(inputs.items()):
        meta_name = list(metas)[i % len(metas)]
        run = ls.from_embeddings(
            obj, metas[meta_name], out=tmp_path / name, label_col="kind", text_col="text"
        )
        want = Z if name != "torch16" else torch.from_numpy(Z).to(torch.bfloat16).float().numpy()
        assert np.array_equal(run.latent_matrix(), want), name
        assert labels(run) == kinds, (name, meta_name)
        assert run.metadata()["n"].to_pylist() == list(range(24)), (name, meta_name)
        kind = {m["name"]: m["kind"] for m in run.config["metadata"]}
        assert kind == {"kind": "text" if meta_name == "dict" else "category", "n": "number", "text": "text"}
        assert run.config["items"] == {"kind": "text", "column": "text"}


def test_from_embeddings_items_and_a_meaningful_index(tmp_path):
    Z = vectors(6, 3)
    pixels = np.zeros((6, 8, 8, 3), np.uint8)
    for i, c in enumerate(COLOURS[:6]):
        pixels[i] = c
    unnamed = pd.DataFrame({"v": range(6)}, index=[f"u{i}" for i in range(6)])
    unnamed.to_parquet(tmp_path / "m.parquet")
    np.save(tmp_path / "z.npy", Z)
    run = imported(tmp_path / "z.npy", "--metadata", tmp_path / "m.parquet", "-o", tmp_path / "p")
    assert run.metadata().column_names == ["v", "index"] and run.metadata()["index"][5].as_py() == "u5"
    assert ls.from_embeddings(Z, unnamed, out=tmp_path / "q").metadata().column_names == ["v", "index"]
    frame = pd.DataFrame({"v": range(6)}, index=pd.Index([f"k{i}" for i in range(6)], name="key"))
    run = ls.from_embeddings(Z, frame, out=tmp_path / "a", items=pixels)
    assert item_colours(run) == COLOURS[:6]
    assert run.metadata()["key"].to_pylist() == [f"k{i}" for i in range(6)]  # the index is kept
    run = ls.from_embeddings(Z, out=tmp_path / "b", items=[png(c) for c in COLOURS[:6]])
    assert item_colours(run) == COLOURS[:6]
    floats = pixels.transpose(0, 3, 1, 2).astype(np.float32) / 255  # (n, c, h, w) in [0, 1]
    assert item_colours(ls.from_embeddings(Z, out=tmp_path / "c", items=floats)) == COLOURS[:6]


def test_the_source_data_become_the_items(tmp_path, digits):
    Z = vectors(digits.n, 4)
    np.save(tmp_path / "z.npy", Z)
    run = imported(tmp_path / "z.npy", "-d", "digits", "-o", tmp_path / "a")
    assert run.config["items"] == {"kind": "data"} and run.has_source_data
    assert run.config["dataset"]["name"] == "digits" and run.load_dataset().n == digits.n


# --- scale -----------------------------------------------------------------------------------------
MEASURE = """
import hashlib, json, sys
import numpy as np
from latentspace.data.vectors import read_vectors

def status(field):  # VmRSS now, VmHWM the peak (of this process image: ru_maxrss would count the parent's)
    line = next(x for x in open("/proc/self/status") if x.startswith(field + ":"))
    return int(line.split()[1]) * 1024

read_vectors(sys.argv[2])  # the readers' own first-use costs (thread pools, allocator arenas)
base = status("VmRSS")
vec = read_vectors(sys.argv[1])
peak = status("VmHWM")
print(json.dumps({"extra": peak - base, "shape": vec.Z.shape, "dtype": str(vec.Z.dtype),
                  "sha": hashlib.sha256(np.ascontiguousarray(vec.Z).tobytes()).hexdigest(),
                  "meta": vec.metadata.column_names, "ids": int(vec.metadata["id"][-1].as_py())}))
"""


@pytest.mark.parametrize("layout", ["list", "columns"])
def test_a_large_parquet_file_streams_with_bounded_memory(tmp_path, layout):
    """200,000 x 64 float32 (51 MB) in 4 row groups: the values exact, and the reader's peak
    memory beyond its start (the matrix itself included) within 2.5 times the matrix."""
    n, k = 200_000, 64
    Z = np.random.default_rng(0).standard_normal((n, k), dtype=np.float32)
    ids = pa.array(np.arange(n))
    if layout == "list":
        table = pa.table({"id": ids, "embedding": pa.FixedSizeListArray.from_arrays(pa.array(Z.ravel()), k)})
        small = pa.table(
            {"id": ids[:10], "embedding": pa.FixedSizeListArray.from_arrays(pa.array(Z[:10].ravel()), k)}
        )
    else:
        table = pa.table({"id": ids, **{f"z_{j}": Z[:, j] for j in range(k)}})
        small = table.slice(0, 10)
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=50_000)
    pq.write_table(small, tmp_path / "small.parquet")
    assert pq.ParquetFile(tmp_path / "big.parquet").metadata.num_row_groups == 4
    del table
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path / "big.parquet"), str(tmp_path / "small.parquet")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = json.loads(out.stdout)
    assert (
        got["shape"] == [n, k] and got["dtype"] == "float32" and got["meta"] == ["id"] and got["ids"] == n - 1
    )
    assert got["sha"] == hashlib.sha256(Z.tobytes()).hexdigest()
    assert got["extra"] <= 2.5 * Z.nbytes, f"peak {got['extra'] / Z.nbytes:.2f}x the matrix"


def test_batches_of_a_parquet_file_are_placed_in_order(tmp_path):
    """Many small row groups, ragged batch sizes: every row lands where it belongs."""
    Z = vectors(3000, 7)
    table = pa.table({"embedding": pa.array(list(Z), pa.list_(pa.float64())), "i": np.arange(3000)})
    pq.write_table(table, tmp_path / "v.parquet", row_group_size=333)
    vec = read_vectors(tmp_path / "v.parquet")
    assert np.array_equal(vec.Z, Z) and vec.metadata["i"].to_pylist() == list(range(3000))


def test_help_reads_well():
    result = runner.invoke(app, ["import", "--help"], terminal_width=110)
    assert result.exit_code == 0
    text = result.output
    for part in (
        "Vectors",
        "Metadata and items",
        "--vector-col",
        "--z-cols",
        "--id-col",
        "--label-col",
        "--image-col",
        "--text-col",
        "--items",
        "projector",
        "Examples",
        "--overwrite",
    ):
        assert part in text, part
