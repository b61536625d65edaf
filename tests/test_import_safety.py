"""latentspace import refuses bad input as a demanding user meets it: exit code 2, one line that
names the row, column, file or option, no traceback, and nothing left behind (no run folder, no
hidden temporary folder beside it, an existing --out untouched)."""

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

import latentspace as ls
from latentspace.cli import app
from latentspace.errors import InputError
from latentspace.runfolder import Run

runner = CliRunner()
PRECIOUS = b"precious bytes the user did not ask to replace\n"
N = 10


def snapshot(root):
    """Every path under ``root`` (hidden ones included) with the sha256 of each file."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


def one_line_error(result, *parts):
    """Exit code 2, no traceback, one line, and every part in it."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    for part in parts:
        assert part in lines[0], (part, lines[0])


def refused(tmp_path, args, *parts, out="run"):
    """``latentspace import ARGS -o tmp_path/out`` is one line naming ``parts`` and changes nothing."""
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["import", *(str(a) for a in args), "-o", str(tmp_path / out)])
    one_line_error(result, *parts)
    assert snapshot(tmp_path) == before, "something was left behind"


def vectors(n=N, k=3) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, k)).astype(np.float32)


def list_column(rows, value_type=None):
    return pa.array(rows, pa.list_(value_type or pa.float32()))


def parquet(path, **columns):
    pq.write_table(pa.table(columns), path)
    return path


def npy(path, Z=None):
    np.save(path, vectors() if Z is None else Z)
    return path


@pytest.fixture
def z(tmp_path):
    return npy(tmp_path / "z.npy")


def meta_csv(file, /, **columns):
    pd.DataFrame(columns).to_csv(file, index=False)
    return file


# --- the vectors --------------------------------------------------------------------------------------
def test_a_ragged_vector_column_names_the_row(tmp_path):
    rows = [[1.0, 2.0]] * 4 + [[1.0]] + [[3.0, 4.0]] * 5
    f = parquet(tmp_path / "v.parquet", embedding=list_column(rows))
    refused(tmp_path, [f], "v.parquet", "'embedding'", "ragged", "row 4 has 1 value")


def test_a_ragged_row_in_a_later_row_group_is_named_by_its_place_in_the_file(tmp_path):
    rows = [[float(i), 1.0] for i in range(1000)]
    rows[777] = [1.0, 2.0, 3.0]
    pq.write_table(pa.table({"embedding": list_column(rows)}), tmp_path / "v.parquet", row_group_size=100)
    refused(tmp_path, [tmp_path / "v.parquet"], "row 777 has 3 values")


@pytest.mark.parametrize(
    "column, parts",
    [
        (list_column([["a", "b"]] * N, pa.string()), ["'embedding'", "lists of string"]),
        (list_column([[1.0, 2.0]] * 3 + [None] + [[1.0, 2.0]] * 6), ["no vector at row 3"]),
        (list_column([[1.0, 2.0]] * 5 + [[None, 2.0]] + [[1.0, 2.0]] * 4), ["missing value", "row 5"]),
        (list_column([[1.0, 2.0]] * 8 + [[np.inf, 2.0], [1.0, 2.0]]), ["vector 8 holds inf", "dimension 0"]),
        (
            list_column([[1.0, 2.0]] * 2 + [[1.0, np.nan]] + [[1.0, 2.0]] * 7),
            ["vector 2 holds nan", "dimension 1"],
        ),
        (list_column([[1e300, 2.0]] + [[1.0, 2.0]] * 9, pa.float64()), ["vector 0", "beyond float32"]),
        (list_column([[]] * N), ["empty vectors"]),
    ],
    ids=["strings", "null-vector", "null-value", "inf", "nan", "float64-overflow", "empty"],
)
def test_bad_values_in_a_vector_column(tmp_path, column, parts):
    refused(tmp_path, [parquet(tmp_path / "v.parquet", embedding=column)], "v.parquet", *parts)


def test_a_vector_column_that_is_not_lists(tmp_path):
    f = parquet(tmp_path / "v.parquet", embedding=pa.array(["a"] * N), other=pa.array(["b"] * N))
    refused(tmp_path, [f], "no column of numbers")
    refused(tmp_path, [f, "--vector-col", "embedding"], "'embedding'", "not lists of numbers")


def test_nan_and_inf_in_numpy_and_text_files_name_the_row(tmp_path):
    Z = vectors()
    Z[7, 1] = np.nan
    refused(tmp_path, [npy(tmp_path / "nan.npy", Z)], "nan.npy", "vector 7", "dimension 1")
    Z = vectors()
    Z[4, 2] = -np.inf
    refused(tmp_path, [npy(tmp_path / "inf.npy", Z)], "inf.npy", "vector 4", "-inf", "dimension 2")
    (tmp_path / "nan.tsv").write_text("1\t2\t3\n4\tnan\t5\n6\t7\t8\n")
    refused(tmp_path, [tmp_path / "nan.tsv"], "nan.tsv", "vector 1", "dimension 1")
    (tmp_path / "inf.csv").write_text("a,b\n1,2\n3,inf\n")
    refused(tmp_path, [tmp_path / "inf.csv"], "inf.csv", "vector 1 holds inf", "dimension 1")
    (tmp_path / "gap.csv").write_text("a,b\n1,2\n3,\n")
    refused(tmp_path, [tmp_path / "gap.csv"], "gap.csv", "vector 1", "column 'b'")


def test_non_numbers_in_text_files(tmp_path):
    (tmp_path / "word.tsv").write_text("1\t2\t3\n4\tfoo\t5\n6\t7\t8\n")
    refused(tmp_path, [tmp_path / "word.tsv"], "word.tsv", "vector 1 holds 'foo'", "dimension 1")
    (tmp_path / "mixed.csv").write_text("a,b,name\n1,2,x\n3,4,y\n")
    refused(tmp_path, [tmp_path / "mixed.csv"], "mixed.csv", "which columns are the vectors", "--z-cols")
    (tmp_path / "typo.csv").write_text("a,b\n1,2\n3,x\n")
    refused(tmp_path, [tmp_path / "typo.csv"], "typo.csv", "'b'", "vector 1 holds 'x'")
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5,6\n7,8\n")
    refused(tmp_path, [tmp_path / "ragged.csv"], "ragged.csv", "line 3 has 2 values", "3")


def test_numpy_arrays_of_the_wrong_shape_or_kind(tmp_path):
    refused(tmp_path, [npy(tmp_path / "one.npy", np.zeros(N, np.float32))], "one.npy", "1-D", "(n, 1)")
    refused(tmp_path, [npy(tmp_path / "img.npy", np.zeros((N, 4, 4), np.float32))], "img.npy", "2-D")
    refused(tmp_path, [npy(tmp_path / "txt.npy", np.array([["a", "b"]] * N))], "txt.npy", "numbers")
    np.save(tmp_path / "obj.npy", np.array([[1, "a"]] * N, dtype=object), allow_pickle=True)
    refused(tmp_path, [tmp_path / "obj.npy"], "obj.npy", "Python objects")
    np.savez(tmp_path / "two.npz", a=vectors(), b=vectors())
    refused(tmp_path, [tmp_path / "two.npz"], "two.npz", "which array", "--vector-col")
    refused(tmp_path, [tmp_path / "two.npz", "--vector-col", "c"], "no array 'c'", "a, b")
    (tmp_path / "z.npz").write_bytes((tmp_path / "one.npy").read_bytes())
    refused(tmp_path, [tmp_path / "z.npz"], "z.npz", "rename it to .npy")


@pytest.mark.parametrize("name", ["e.npy", "e.npz", "e.csv", "e.tsv", "e.parquet"])
def test_an_empty_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    refused(tmp_path, [tmp_path / name], name)


def test_files_without_rows_or_of_the_wrong_kind(tmp_path):
    (tmp_path / "head.csv").write_text("a,b,c\n")
    refused(tmp_path, [tmp_path / "head.csv"], "head.csv", "no rows")
    parquet(tmp_path / "none.parquet", embedding=list_column([]))
    refused(tmp_path, [tmp_path / "none.parquet"], "none.parquet", "0 rows")
    (tmp_path / "v.json").write_text("[[1, 2]]")
    refused(tmp_path, [tmp_path / "v.json"], "v.json", ".npy", ".parquet", ".json")
    (tmp_path / "vectors").write_text("1,2\n")
    refused(tmp_path, [tmp_path / "vectors"], "vectors", "no suffix")
    (tmp_path / "fake.parquet").write_text("not parquet at all")
    refused(tmp_path, [tmp_path / "fake.parquet"], "fake.parquet", "cannot be read as Parquet")
    (tmp_path / "fake.npy").write_text("not numpy")
    refused(tmp_path, [tmp_path / "fake.npy"], "fake.npy", "not a NumPy .npy file")
    refused(tmp_path, [npy(tmp_path / "single.npy", vectors(1))], "single.npy holds 1 vector", "at least 2")
    refused(tmp_path, [tmp_path / "missing.npy"], "no file", "missing.npy")
    (tmp_path / "folder").mkdir()
    refused(tmp_path, [tmp_path / "folder"], "is a folder")
    result = runner.invoke(app, ["import", "-o", str(tmp_path / "run")])
    one_line_error(result, "VECTORS", "--encoder")


def test_vector_column_options(tmp_path, z):
    f = parquet(tmp_path / "v.parquet", embedding=list_column([[1.0, 2.0]] * N), z_0=np.ones(N))
    refused(
        tmp_path, [f, "--vector-col", "embedding", "--z-cols", "z_"], "--vector-col or --z-cols, not both"
    )
    refused(tmp_path, [f, "--vector-col", "emb"], "no column 'emb'", "--vector-col", "embedding, z_0")
    refused(tmp_path, [f, "--z-cols", "dim_"], "dim_<number>", "--z-cols")
    refused(tmp_path, [f, "--z-cols", "z_0,z_9"], "no column 'z_9'", "--z-cols")
    refused(tmp_path, [z, "--z-cols", "z_"], "z.npy", "--z-cols")
    two = parquet(tmp_path / "two.parquet", a=list_column([[1.0]] * N), b=list_column([[1.0]] * N))
    refused(tmp_path, [two], "several list columns", "a, b", "--vector-col")


# --- the metadata ---------------------------------------------------------------------------------
def test_metadata_with_another_row_count(tmp_path, z):
    m = meta_csv(tmp_path / "m.csv", c=list("abc") * 3)
    refused(tmp_path, [z, "--metadata", m], "m.csv has 9 rows", "the vectors are 10")
    # the projector's one-column TSV has no header: one written anyway is a row too many, said so
    (tmp_path / "labels.tsv").write_text("label\n" + "\n".join("ab" * 5) + "\n")
    refused(tmp_path, [z, "--metadata", tmp_path / "labels.tsv"], "11 rows", "no header line")
    (tmp_path / "trail.tsv").write_text("\n".join("ab" * 5) + "\n\n")
    refused(tmp_path, [z, "--metadata", tmp_path / "trail.tsv"], "11 rows", "last line is empty")


def test_duplicate_ids(tmp_path, z):
    m = meta_csv(tmp_path / "m.csv", id=[0, 1, 2, 3, 3, 5, 6, 7, 8, 9])
    refused(tmp_path, [z, "--metadata", m, "--id-col", "id"], "m.csv", "id 3 appears 2 times", "rows 3 and 4")
    v = parquet(tmp_path / "v.parquet", id=["a", "b"] * 5, embedding=list_column([[1.0]] * N))
    refused(tmp_path, [v, "--id-col", "id"], "v.parquet", "id 'a' appears 5 times", "rows 0 and 2")
    w = parquet(tmp_path / "w.parquet", id=[f"k{i}" for i in range(N)], embedding=list_column([[1.0]] * N))
    m2 = meta_csv(tmp_path / "m2.csv", id=[f"k{i}" for i in range(N)], c=["x"] * 5 + ["y"] * 5)
    m2.write_text(m2.read_text() + "k3,z\n")
    refused(tmp_path, [w, "--metadata", m2, "--id-col", "id"], "m2.csv", "id 'k3' appears 2 times")


def test_ids_that_do_not_meet(tmp_path):
    v = parquet(tmp_path / "v.parquet", id=[f"k{i}" for i in range(N)], embedding=list_column([[1.0]] * N))
    m = meta_csv(tmp_path / "m.csv", id=[f"k{i}" for i in range(N - 1)] + ["other"], c=range(N))
    refused(tmp_path, [v, "--metadata", m, "--id-col", "id"], "m.csv has no row with id = 'k9'", "vector 9")
    refused(tmp_path, [v, "--metadata", m, "--id-col", "key"], "--id-col 'key'", "no such column")
    refused(tmp_path, [npy(tmp_path / "z.npy"), "--id-col", "id"], "--id-col 'id'", "no metadata")
    nulls = parquet(
        tmp_path / "n.parquet",
        id=pa.array(["a", None] + [f"k{i}" for i in range(N - 2)]),
        embedding=list_column([[1.0]] * N),
    )
    refused(tmp_path, [nulls, "--id-col", "id"], "id column 'id' is empty at row 1")


def test_metadata_files_that_cannot_be_read(tmp_path, z):
    refused(
        tmp_path, [z, "--metadata", tmp_path / "nothere.csv"], "--metadata", "nothere.csv", "no such file"
    )
    refused(tmp_path, [z, "--metadata", z], "--metadata z.npy", ".parquet, .csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    refused(tmp_path, [z, "--metadata", tmp_path / "empty.csv"], "--metadata empty.csv is empty")
    (tmp_path / "head.csv").write_text("a,b\n")
    refused(tmp_path, [z, "--metadata", tmp_path / "head.csv"], "head.csv", "no rows")
    (tmp_path / "twice.csv").write_text("a,a\n" + "1,2\n" * N)
    refused(tmp_path, [z, "--metadata", tmp_path / "twice.csv"], "twice.csv", "'a' twice")
    (tmp_path / "ragged.tsv").write_text("a\tb\n1\t2\n3\n" + "1\t2\n" * 8)
    refused(tmp_path, [z, "--metadata", tmp_path / "ragged.tsv"], "ragged.tsv", "line 3 has 1 value")
    v = parquet(tmp_path / "v.parquet", c=range(N), embedding=list_column([[1.0]] * N))
    m = meta_csv(tmp_path / "m.csv", c=range(N))
    refused(tmp_path, [v, "--metadata", m], "column 'c' is also a column of v.parquet", "rename one")


# --- label, text and image columns ----------------------------------------------------------------------
@pytest.fixture
def meta(tmp_path):
    (tmp_path / "pics").mkdir()
    for i in range(N):
        Image.new("L", (8, 8), i * 20).save(tmp_path / "pics" / f"k{i}.png")
    return meta_csv(
        tmp_path / "m.csv",
        id=[f"k{i}" for i in range(N)],
        kind=list("ab") * 5,
        n=range(N),
        gap=["x"] * 4 + [None] + ["y"] * 5,
        path=[f"pics/k{i}.png" for i in range(N)],
        missing=[f"pics/k{i}.png" for i in range(N - 1)] + ["pics/gone.png"],
    )


@pytest.mark.parametrize(
    "option, column, parts",
    [
        ("--label-col", "nope", ["--label-col 'nope'", "no such metadata column", "id, kind, n"]),
        ("--label-col", "id", ["--label-col 'id'", "10 distinct values in 10 rows", "is it an id"]),
        ("--label-col", "n", ["--label-col 'n'", "distinct values", "is it an id"]),
        ("--label-col", "gap", ["--label-col 'gap'", "empty at row 4"]),
        ("--text-col", "nope", ["--text-col 'nope'", "no such metadata column"]),
        ("--text-col", "n", ["--text-col 'n'", "int64", "expected text"]),
        ("--image-col", "nope", ["--image-col 'nope'", "no such metadata column"]),
        ("--image-col", "missing", ["--image-col 'missing', row 9", "gone.png", "is not a file"]),
        ("--image-col", "n", ["--image-col 'n'", "image file paths or image bytes"]),
        ("--image-col", "gap", ["--image-col 'gap' is empty at row 4"]),
    ],
)
def test_unknown_or_unfit_columns(tmp_path, z, meta, option, column, parts):
    refused(tmp_path, [z, "--metadata", meta, option, column], *parts)


def test_columns_named_without_metadata(tmp_path, z):
    for option in ("--label-col", "--text-col", "--image-col"):
        refused(tmp_path, [z, option, "kind"], f"{option} 'kind'", "--metadata")


def test_images_that_are_not_images(tmp_path, z, meta):
    (tmp_path / "pics" / "k3.png").write_bytes(b"GIF89a but not really")
    refused(tmp_path, [z, "--metadata", meta, "--image-col", "path"], "k3.png", "row 3", "not an image")
    v = parquet(
        tmp_path / "v.parquet", img=pa.array([b"\x89PNG garbage"] * N), embedding=list_column([[1.0]] * N)
    )
    refused(tmp_path, [v, "--image-col", "img"], "row 0 of --image-col 'img'", "not an image", "x89PNG")


def test_an_image_folder_that_does_not_fit(tmp_path, z, meta):
    pics = tmp_path / "pics"
    (pics / "k0.png").unlink()
    refused(tmp_path, [z, "--items", pics], "--items", "holds 9 images", "the vectors are 10", "--id-col")
    refused(
        tmp_path,
        [z, "--metadata", meta, "--id-col", "id", "--items", pics],
        "no image named 'k0'",
        "vector 0",
    )
    (pics / "sub").mkdir()
    Image.new("L", (8, 8)).save(pics / "sub" / "k1.png")
    Image.new("L", (8, 8)).save(pics / "k0.png")
    refused(tmp_path, [z, "--metadata", meta, "--id-col", "id", "--items", pics], "two images are named 'k1'")
    refused(tmp_path, [z, "--items", tmp_path / "nowhere"], "--items", "nowhere", "does not exist")
    refused(tmp_path, [z, "--items", z], "--items", "is not a folder")
    (tmp_path / "blank").mkdir()
    refused(tmp_path, [z, "--items", tmp_path / "blank"], "--items", "holds no images")


def test_one_kind_of_item(tmp_path, z, meta):
    refused(
        tmp_path, [z, "--metadata", meta, "--text-col", "kind", "--image-col", "path"], "one kind of item"
    )
    refused(tmp_path, [z, "--metadata", meta, "--text-col", "kind", "--items", tmp_path / "pics"], "one kind")


# --- the run folder -----------------------------------------------------------------------------------
def test_an_existing_out_is_never_touched(tmp_path, z):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "mine.txt").write_bytes(PRECIOUS)
    refused(tmp_path, [z], "already exists", "--overwrite")
    refused(tmp_path, [z, "--overwrite"], "is not a latentspace run")
    (tmp_path / "file").write_bytes(PRECIOUS)
    refused(tmp_path, [z], "is a file", out="file")
    # a run is replaced only with --overwrite, and only once the new one is sound
    ls.from_embeddings(vectors(), out=tmp_path / "old")
    refused(tmp_path, [z], "already exists", out="old")
    Z = vectors()
    Z[2, 0] = np.nan
    refused(tmp_path, [npy(tmp_path / "bad.npy", Z), "--overwrite"], "vector 2", out="old")
    Run(tmp_path / "old")  # still verifies
    refused(tmp_path, [z, "--overwrite"], "is inside the run folder", out="old/nested")


def test_options_out_of_range(tmp_path, z):
    refused(tmp_path, [z, "--seed", -1], "--seed", "at least 0")
    refused(tmp_path, [z, "--test-fraction", 1.5], "--test-fraction", "1.5")
    refused(tmp_path, [z, "--data", "digits"], "digits", "1,797 rows", "10")


def test_a_failure_while_writing_leaves_nothing(tmp_path, z, monkeypatch):
    from latentspace.runfolder import folder

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folder, "atomic_write_parquet", full)
    refused(tmp_path, [z], "No space left on device")
    monkeypatch.undo()

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(folder, "atomic_write_parquet", interrupt)
    before = snapshot(tmp_path)
    assert runner.invoke(app, ["import", str(z), "-o", str(tmp_path / "run")]).exit_code == 130
    assert snapshot(tmp_path) == before


def test_python_objects_are_refused_in_one_line(tmp_path):
    import torch

    def refused_py(call, *parts):
        with pytest.raises(InputError) as err:
            call()
        assert "\n" not in str(err.value) and all(p in str(err.value) for p in parts), str(err.value)
        assert list(tmp_path.iterdir()) == []

    out = tmp_path / "run"
    refused_py(lambda: ls.from_embeddings([[1, 2], [3]], out=out), "rectangular")
    refused_py(lambda: ls.from_embeddings(np.zeros(5), out=out), "2-D")
    refused_py(lambda: ls.from_embeddings(np.array([["a"]]), out=out), "numbers")
    refused_py(lambda: ls.from_embeddings(torch.zeros(3, 2, dtype=torch.complex64), out=out), "numbers")
    Z = vectors()
    Z[3, 1] = np.nan
    refused_py(lambda: ls.from_embeddings(Z, out=out), "vector 3", "dimension 1")
    refused_py(lambda: ls.from_embeddings(vectors(), pd.DataFrame({"a": range(9)}), out=out), "9 rows")
    frame = pd.DataFrame({"embedding": list(vectors()), "name": ["x"] * N})
    refused_py(lambda: ls.from_embeddings(frame, out=out), "frame['embedding']", "metadata")
    refused_py(lambda: ls.from_embeddings(frame[["name"]], out=out), "vector 0 holds 'x'", "column 'name'")
    refused_py(lambda: ls.from_embeddings(vectors(), "meta.csv", out=out), "str")
    refused_py(lambda: ls.from_embeddings(vectors(), out=out, items=np.zeros((9, 4, 4))), "n=10")
    refused_py(lambda: ls.from_embeddings(vectors(), out=out, items=np.full((N, 4, 4), 2.0)), "[0, 1]")
    refused_py(
        lambda: ls.from_embeddings(vectors(), out=out, items=[b"nope"] * N), "items[0]", "not an image"
    )
