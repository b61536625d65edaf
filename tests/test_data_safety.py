"""Reading user files safely: every image mode scaled by its own range (issue 23), and a battery of
broken, empty and hostile files, each refused with one line that names the file and what is allowed.
"""

import io
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

import latentspace as ls
from latentspace.cli import app
from latentspace.errors import InputError

runner = CliRunner()


def _save(folder, name, im, **kw):
    folder.mkdir(parents=True, exist_ok=True)
    im.save(folder / name, **kw)
    return folder / name


def _fit_fails(tmp_path, data, message):
    """`latentspace fit --data DATA`: exit code 2, one line naming the problem, no run folder left."""
    out = tmp_path / "run"
    result = runner.invoke(app, ["fit", "--data", str(data), "-k", "1", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Aborted" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert message in lines[0], lines[0]
    assert not out.exists()
    return lines[0]


# --- image modes: each scaled by its own range ---------------------------------------------------
def test_16bit_png_is_scaled_by_65535_not_clipped(tmp_path):
    values = np.array([[0, 1000, 32768, 65535], [257, 2, 40000, 65534]], dtype=np.uint16)
    for i in range(3):
        _save(tmp_path / "g16", f"{i}.png", Image.fromarray(values + i))
    # "I;16" (older Pillow opens 16-bit PNGs as "I", which the same rule reads)
    assert Image.open(tmp_path / "g16" / "0.png").mode in ("I;16", "I")
    ds = ls.load_data(tmp_path / "g16")
    assert ds.sample_shape == (1, 2, 4)
    expected = np.stack([(values + i).ravel() / 65535.0 for i in range(3)]).astype(np.float32)
    np.testing.assert_allclose(ds.X, expected, rtol=0, atol=1e-7)
    assert (np.asarray(ds.X) == 1.0).mean() < 0.2  # the bug: almost every pixel read as 1.0


@pytest.mark.parametrize("dtype", ["<u2", ">u2"])
def test_16bit_tiff_either_byte_order_is_greyscale(tmp_path, dtype):
    values = np.array([[0, 300, 65535]], dtype=np.uint16)
    im = Image.fromarray(values.astype(dtype))
    _save(tmp_path / "t", "a.tiff", im)
    assert Image.open(tmp_path / "t" / "a.tiff").mode in ("I;16", "I;16B")
    ds = ls.load_data(tmp_path / "t")
    assert ds.sample_shape == (1, 1, 3)  # I;16B counted as colour before
    np.testing.assert_allclose(ds.X[0], values.ravel() / 65535.0, atol=1e-7)


def test_32bit_integer_tiff_in_16bit_range_is_scaled_by_65535(tmp_path):
    values = np.array([[0, 5, 65535, 30000]], dtype=np.int32)
    _save(tmp_path / "i", "a.tif", Image.fromarray(values))
    assert Image.open(tmp_path / "i" / "a.tif").mode == "I"
    ds = ls.load_data(tmp_path / "i")
    np.testing.assert_allclose(ds.X[0], values.ravel() / 65535.0, atol=1e-7)


@pytest.mark.parametrize("bad", [70000, -1])
def test_32bit_integer_tiff_outside_16bit_range_is_refused(tmp_path, bad):
    _save(tmp_path / "i", "a.tif", Image.fromarray(np.array([[0, bad]], dtype=np.int32)))
    with pytest.raises(InputError, match=rf"image a.tif .*{bad} at row 0, column 1.*0\.\.65535"):
        ls.load_data(tmp_path / "i")
    _fit_fails(tmp_path, tmp_path / "i", "a.tif")


def test_float_tiff_in_unit_interval_is_kept_as_is(tmp_path):
    values = np.array([[0.0, 0.25, 1.0, 0.123456789]], dtype=np.float32)
    _save(tmp_path / "f", "a.tiff", Image.fromarray(values))
    assert Image.open(tmp_path / "f" / "a.tiff").mode == "F"
    ds = ls.load_data(tmp_path / "f")
    np.testing.assert_array_equal(ds.X[0], values.ravel())


@pytest.mark.parametrize("bad, why", [(1.5, "1.5"), (-0.25, "-0.25"), (np.nan, "nan"), (np.inf, "inf")])
def test_float_tiff_outside_unit_interval_or_not_finite_is_refused(tmp_path, bad, why):
    _save(tmp_path / "f", "a.tiff", Image.fromarray(np.array([[0.5, 0.5], [0.5, bad]], dtype=np.float32)))
    with pytest.raises(InputError, match=rf"image a.tiff .*{why} at row 1, column 1.*\[0, 1\]"):
        ls.load_data(tmp_path / "f")
    _fit_fails(tmp_path, tmp_path / "f", "a.tiff")


def test_palette_png_goes_through_its_palette(tmp_path):
    im = Image.new("P", (3, 1))
    im.putpalette([0, 0, 0, 255, 0, 0, 10, 20, 30])
    for x in range(3):
        im.putpixel((x, 0), x)
    _save(tmp_path / "p", "a.png", im)
    ds = ls.load_data(tmp_path / "p")
    assert ds.sample_shape == (3, 1, 3)
    # (c, h, w) order: red channel of the 3 pixels, then green, then blue
    expected = np.array([[0, 255, 10], [0, 0, 20], [0, 0, 30]], dtype=np.float32).ravel() / 255.0
    np.testing.assert_allclose(ds.X[0], expected, atol=1e-7)


def test_palette_transparency_is_composited_on_black(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([200, 100, 50, 10, 20, 30])
    im.putpixel((1, 0), 1)
    _save(tmp_path / "p", "a.png", im, transparency=0)  # palette entry 0 is transparent
    ds = ls.load_data(tmp_path / "p")
    expected = np.array([[0, 10], [0, 20], [0, 30]], dtype=np.float32).ravel() / 255.0
    np.testing.assert_allclose(ds.X[0], expected, atol=1e-7)


def test_palette_with_alpha_is_composited_on_black():
    from latentspace.data import images

    im = Image.new("PA", (2, 1))  # no file format writes PA: Pillow makes it from some files
    im.putpalette([200, 100, 50, 10, 20, 30])
    im.putpixel((0, 0), (0, 51))
    im.putpixel((1, 0), (1, 255))
    expected = np.array([[[200, 100, 50], [10, 20, 30]]]) / 255.0 * np.array([[[0.2], [1.0]]])
    np.testing.assert_allclose(images.to_unit(im, "a.png"), expected, atol=1e-7)


def test_grey_with_alpha_is_composited_on_black_and_stays_one_channel(tmp_path):
    arr = np.array([[[200, 128], [255, 255], [90, 0]]], dtype=np.uint8)  # (h, w, [L, A])
    _save(tmp_path / "la", "a.png", Image.fromarray(arr, "LA"))
    ds = ls.load_data(tmp_path / "la")
    assert ds.sample_shape == (1, 1, 3)
    np.testing.assert_allclose(ds.X[0], [200 / 255 * 128 / 255, 1.0, 0.0], atol=1e-7)


def test_rgba_is_composited_on_black(tmp_path):
    arr = np.array([[[255, 100, 0, 51], [10, 20, 30, 255]]], dtype=np.uint8)
    _save(tmp_path / "rgba", "a.png", Image.fromarray(arr, "RGBA"))
    ds = ls.load_data(tmp_path / "rgba")
    assert ds.sample_shape == (3, 1, 2)
    a = np.array([51, 255]) / 255.0
    expected = (arr[0, :, :3].T / 255.0 * a).ravel()  # (c, w) with alpha per pixel
    np.testing.assert_allclose(ds.X[0], expected, atol=1e-7)


def test_transparent_colour_key_of_a_grey_png_is_black(tmp_path):
    arr = np.array([[7, 8, 7, 255]], dtype=np.uint8)
    _save(tmp_path / "k", "a.png", Image.fromarray(arr, "L"), transparency=7)
    ds = ls.load_data(tmp_path / "k")
    np.testing.assert_allclose(ds.X[0], [0, 8 / 255, 0, 1.0], atol=1e-7)


def test_bilevel_png_is_zero_or_one(tmp_path):
    im = Image.new("1", (4, 1))
    im.putpixel((1, 0), 1)
    im.putpixel((3, 0), 1)
    _save(tmp_path / "b", "a.png", im)
    ds = ls.load_data(tmp_path / "b")
    np.testing.assert_array_equal(ds.X[0], [0, 1, 0, 1])


def test_cmyk_tiff_is_converted_to_rgb(tmp_path):
    arr = np.array([[[0, 0, 0, 0], [255, 0, 0, 0], [0, 0, 0, 255]]], dtype=np.uint8)
    _save(tmp_path / "c", "a.tif", Image.fromarray(arr, "CMYK"))
    ds = ls.load_data(tmp_path / "c")
    assert ds.sample_shape == (3, 1, 3)
    # white, cyan, black as (R, G, B) channels of the three pixels
    expected = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 0]], dtype=np.float32).ravel()
    np.testing.assert_allclose(ds.X[0], expected, atol=1e-7)


@pytest.mark.parametrize("mode", ["YCbCr", "LAB", "HSV", "RGBX"])
def test_other_colour_modes_are_converted_to_rgb(mode):
    from latentspace.data import images

    im = Image.fromarray(np.array([[[10, 200, 30], [250, 128, 4]]], dtype=np.uint8), "RGB").convert(mode)
    out = images.to_unit(im, "a.png")
    np.testing.assert_allclose(out, np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0, atol=1e-7)


def test_unknown_mode_is_refused_with_the_allowed_list():
    from latentspace.data import images

    with pytest.raises(InputError, match=r"image a.png has mode 'RGBa'.*allowed: 1, L, LA"):
        images.channels("RGBa", "a.png")


def test_mixed_modes_give_one_scale_and_consistent_channels(tmp_path):
    folder = tmp_path / "mix"
    _save(folder, "0.png", Image.fromarray(np.array([[0, 51, 255]], dtype=np.uint8), "L"))
    _save(folder, "1.png", Image.fromarray(np.array([[0, 13107, 65535]], dtype=np.uint16)))
    bilevel = Image.new("1", (3, 1))
    bilevel.putpixel((2, 0), 1)
    _save(folder, "2.png", bilevel)
    ds = ls.load_data(folder)
    assert ds.sample_shape == (1, 1, 3)
    np.testing.assert_allclose(ds.X, [[0, 0.2, 1], [0, 0.2, 1], [0, 0, 1]], atol=1e-7)
    # one colour file makes the folder RGB: the grey ones are repeated on the three channels
    _save(folder, "3.png", Image.fromarray(np.array([[[255, 0, 0]] * 3], dtype=np.uint8), "RGB"))
    ds = ls.load_data(folder)
    assert ds.sample_shape == (3, 1, 3)
    np.testing.assert_allclose(ds.X[1], [0, 0.2, 1] * 3, atol=1e-7)
    np.testing.assert_allclose(ds.X[3], [1, 1, 1, 0, 0, 0, 0, 0, 0], atol=1e-7)


def test_streamed_image_rows_scale_like_the_eager_read(tmp_path, monkeypatch):
    import latentspace.data.files as files
    from latentspace.data.source import ImageRows

    for i in range(4):
        _save(tmp_path / "g", f"{i}.png", Image.fromarray(np.full((2, 2), 20000 * i, dtype=np.uint16)))
    eager = ls.load_data(tmp_path / "g")
    monkeypatch.setattr(files, "LAZY_IMAGE_BYTES", 0)
    lazy = ls.load_data(tmp_path / "g")
    assert isinstance(lazy.X, ImageRows)
    np.testing.assert_array_equal(np.asarray(lazy.X), eager.X)
    np.testing.assert_allclose(lazy.X[[3, 1]][:, 0], [60000 / 65535, 20000 / 65535], atol=1e-7)


def test_multi_frame_tiff_is_refused(tmp_path):
    frames = [Image.fromarray(np.full((2, 2), v, dtype=np.uint8), "L") for v in (0, 255)]
    (tmp_path / "m").mkdir()
    frames[0].save(tmp_path / "m" / "a.tif", save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match=r"image a.tif has 2 frames; one image per file"):
        ls.load_data(tmp_path / "m")


def test_truncated_png_is_named(tmp_path):
    p = _save(tmp_path / "t", "a.png", Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)))
    p.write_bytes(p.read_bytes()[:-30])
    _fit_fails(tmp_path, tmp_path / "t", "image a.png cannot be read")


# --- arrays: .npy and .npz --------------------------------------------------------------------
def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


_GOOD = np.arange(40, dtype=np.float32).reshape(10, 4)


def _zip(**members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


BAD_FILES = {
    "empty.npy": (b"", "empty.npy is empty (0 bytes)"),
    "empty.npz": (b"", "empty.npz is empty (0 bytes)"),
    "empty.csv": (b"", "empty.csv is empty (0 bytes)"),
    "empty.parquet": (b"", "empty.parquet is empty (0 bytes)"),
    "garbage.npy": (b"hello, this is no array" * 4, "garbage.npy is not a NumPy .npy file"),
    "garbage.npz": (b"PK\x03\x04 and then nothing useful", "garbage.npz is not a readable .npz"),
    "trunc.npy": (_npy_bytes(_GOOD)[:150], "trunc.npy is truncated"),
    "trunc.npz": (_npz_bytes(X=_GOOD)[:200], "trunc.npz is not a readable .npz"),
    "zip.npy": (_npz_bytes(X=_GOOD), "zip.npy is an .npz (zip) archive, not a .npy file"),
    "npy.npz": (_npy_bytes(_GOOD), "npy.npz is a .npy file, not an .npz (zip) archive"),
    "norows.npy": (_npy_bytes(np.zeros((0, 5), np.float32)), "norows.npy holds 0 rows"),
    "nocols.npy": (_npy_bytes(np.zeros((5, 0), np.float32)), "nocols.npy holds rows of 0 values"),
    "oned.npy": (_npy_bytes(np.arange(5.0)), "oned.npy: a 1-D array of shape (5,)"),
    "scalar.npy": (_npy_bytes(np.float32(3)), "scalar.npy: a 0-D array of shape ()"),
    "text.npy": (_npy_bytes(np.array([["a", "b"]])), "text.npy: array dtype <U1 is not numeric"),
    "objects.npy": (None, "objects.npy holds Python objects"),
    "nan.npy": (_npy_bytes(np.array([[1, np.nan]], np.float32)), "nan.npy contains nan at row 0, column 1"),
    "inf.npy": (_npy_bytes(np.array([[1, 2], [np.inf, 1]])), "inf.npy contains inf at row 1, column 0"),
    "huge.npy": (
        _npy_bytes(np.array([[1, 2], [3, 1e300]])),
        "huge.npy has 1e+300 at row 1, column 1: beyond float32",
    ),
    "noarrays.npz": (_npz_bytes(), "noarrays.npz holds no arrays"),
    "norows.npz": (_npz_bytes(X=np.zeros((0, 3))), "norows.npz holds 0 rows"),
    "oned.npz": (_npz_bytes(X=np.zeros(3)), "oned.npz: a 1-D array of shape (3,)"),
    "objects.npz": (None, "array 'X' in objects.npz holds Python objects"),
    "nan.npz": (_npz_bytes(X=np.array([[0.0, np.nan]])), "nan.npz contains nan at row 0, column 1"),
    "labels.npz": (_npz_bytes(X=np.zeros((3, 2)), y=np.zeros(4)), "labels.npz: labels have shape (4,)"),
    "text.npz": (_zip(**{"X.npy": b"garbage"}), "array 'X' in text.npz is not a NumPy array"),
    "readme.npz": (_zip(**{"readme.txt": b"hi"}), "array 'readme.txt' in readme.npz is not a NumPy array"),
    "header.csv": (b"a,b\n", "header.csv has a header line but no rows"),
    "ragged.csv": (b"a,b\n1,2\n3\n", "ragged.csv cannot be read as a table"),
    "binary.csv": (bytes(range(256)) * 4, "binary.csv cannot be read as a table"),
    "dup.csv": (b"a,a\n1,2\n", "dup.csv: column 'a' appears 2 times"),
    "huge.csv": (b"a,b\n1,1e300\n", "huge.csv has 1e+300 at row 0, column 1 ('b'): beyond float32"),
    "garbage.parquet": (b"PAR1garbagePAR1", "garbage.parquet cannot be read as a table"),
}


def _write_bad(tmp_path, name) -> "Path":  # noqa: F821
    data, _ = BAD_FILES[name]
    p = tmp_path / name
    if name == "objects.npy":
        np.save(p, np.array([[1, {"a": 1}]], dtype=object), allow_pickle=True)
    elif name == "objects.npz":
        np.savez(p, X=np.array([[1, {"a": 1}]], dtype=object))
    else:
        p.write_bytes(data)
    return p


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_file_is_one_clear_error(tmp_path, name):
    p = _write_bad(tmp_path, name)
    message = BAD_FILES[name][1]
    with pytest.raises(InputError) as err:
        ls.load_data(p)
    assert message in str(err.value)
    assert "\n" not in str(err.value) and len(str(err.value)) < 400
    assert str(tmp_path) not in str(err.value)  # the file's name, not a long path


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_file_in_the_cli_is_exit_2_and_one_line(tmp_path, name):
    _fit_fails(tmp_path, _write_bad(tmp_path, name), BAD_FILES[name][1])


@pytest.mark.parametrize("name", ["empty.npy", "trunc.npz"])
def test_bad_file_through_python_m_latentspace(tmp_path, name):
    """The real process: no 'Aborted.' with exit 1, no BadZipFile traceback."""
    p = _write_bad(tmp_path, name)
    proc = subprocess.run(
        [sys.executable, "-m", "latentspace", "fit", "--data", str(p), "-k", "1", "-o", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1 and BAD_FILES[name][1] in lines[0], lines


def test_truncated_npy_says_how_much_is_missing(tmp_path):
    p = tmp_path / "t.npy"
    p.write_bytes(_npy_bytes(_GOOD)[:-60])
    with pytest.raises(InputError, match=r"shape \(10, 4\) of float32 \(160 bytes of data\) but 100 follow"):
        ls.load_data(p)


def test_npy_float64_within_float32_range_is_read_exactly(tmp_path):
    arr = np.array([[1.5, -3.0e38], [2.0**-20, 7.0]])
    np.save(tmp_path / "ok.npy", arr)
    ds = ls.load_data(tmp_path / "ok.npy")
    np.testing.assert_array_equal(ds.X, arr.astype(np.float32))


def test_npz_picks_the_data_beside_the_labels(tmp_path):
    np.savez(tmp_path / "d.npz", pixels=_GOOD, y=np.arange(10) % 2)
    ds = ls.load_data(tmp_path / "d.npz")
    np.testing.assert_array_equal(ds.X, _GOOD)
    np.testing.assert_array_equal(ds.y, np.arange(10) % 2)


def test_npz_label_array_cannot_be_the_data(tmp_path):
    np.savez(tmp_path / "d.npz", X=_GOOD)
    with pytest.raises(InputError, match="d.npz: --label-col 'X' names the data array"):
        ls.load_data(tmp_path / "d.npz", label_col="X")


def test_npz_labels_of_unsupported_type_are_refused(tmp_path):
    np.savez(tmp_path / "d.npz", X=_GOOD[:2], y=np.array([1 + 2j, 3j]))
    with pytest.raises(InputError, match=r"d.npz: labels must be integers, strings or finite numbers"):
        ls.load_data(tmp_path / "d.npz")


# --- tables -------------------------------------------------------------------------------------
def test_large_integers_in_a_table_are_read_not_refused(tmp_path):
    """pyarrow's safe cast refused integers beyond 2**24 with an ArrowInvalid traceback."""
    pq.write_table(pa.table({"a": [2**40, 3], "b": [1.0, 2.0]}), tmp_path / "t.parquet")
    ds = ls.load_data(tmp_path / "t.parquet")
    np.testing.assert_array_equal(ds.X, np.array([[2.0**40, 1.0], [3.0, 2.0]], dtype=np.float32))


def test_parquet_value_beyond_float32_is_named(tmp_path):
    pq.write_table(pa.table({"a": [1.0, 2.0], "b": [3.0, -1e39]}), tmp_path / "t.parquet")
    with pytest.raises(InputError, match=r"t.parquet has -1e\+39 at row 1, column 1 \('b'\): beyond float32"):
        ls.load_data(tmp_path / "t.parquet")


def test_streamed_parquet_value_beyond_float32_is_named(tmp_path, monkeypatch):
    import latentspace.data.files as files

    pq.write_table(
        pa.table({"a": [1.0] * 10, "b": [3.0] * 9 + [1e39]}), tmp_path / "t.parquet", row_group_size=4
    )
    monkeypatch.setattr(files, "LAZY_PARQUET_BYTES", 0)
    with pytest.raises(InputError, match=r"t.parquet has 1e\+39 at row 9, column 1 \('b'\): beyond float32"):
        ls.load_data(tmp_path / "t.parquet")


def test_table_without_columns_says_so(tmp_path):
    pq.write_table(pa.table({}), tmp_path / "t.parquet")
    with pytest.raises(InputError, match="t.parquet has no columns"):
        ls.load_data(tmp_path / "t.parquet")


def test_empty_csv_labels_are_refused_with_the_row(tmp_path):
    (tmp_path / "t.csv").write_text("a,kind\n1,x\n2,\n3,y\n")
    with pytest.raises(InputError, match="t.csv: label column 'kind' is empty at row 1"):
        ls.load_data(tmp_path / "t.csv", label_col="kind")


def test_list_labels_are_refused(tmp_path):
    pq.write_table(pa.table({"a": [1.0, 2.0], "lab": [[1], [2]]}), tmp_path / "t.parquet")
    with pytest.raises(InputError, match=r"label column 'lab' has type list<element: int64>; labels must be"):
        ls.load_data(tmp_path / "t.parquet", label_col="lab")


def test_npz_member_declaring_more_data_than_it_holds_is_refused_before_allocating(tmp_path):
    """numpy allocates what a member's header declares before reading: 4 TB for 16 bytes here."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**11, 10)}
    )
    (tmp_path / "lying.npz").write_bytes(_zip(**{"X.npy": header.getvalue() + b"\0" * 16}))
    with pytest.raises(
        InputError, match=r"array 'X' in lying.npz is truncated: .*\(100000000000, 10\) of float32"
    ):
        ls.load_data(tmp_path / "lying.npz")


def test_npz_member_larger_than_memory_is_refused(tmp_path, monkeypatch):
    import latentspace.data.arrays as arrays

    np.savez(tmp_path / "big.npz", X=np.zeros((64, 16)))
    monkeypatch.setattr(arrays, "_physical_memory", lambda: 4096.0)
    with pytest.raises(
        InputError, match=r"array 'X' in big.npz needs 0.0 GiB .*more than this machine's memory"
    ):
        ls.load_data(tmp_path / "big.npz")


def test_corrupt_compressed_npz_member_is_named(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", X=np.random.default_rng(0).normal(size=(200, 50)))
    data = bytearray((tmp_path / "c.npz").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 50] = b"\0" * 50
    (tmp_path / "c.npz").write_bytes(bytes(data))
    with pytest.raises(
        InputError, match=r"array 'X' in c.npz cannot be read \(.*\); the archive may be damaged"
    ):
        ls.load_data(tmp_path / "c.npz")


def test_a_device_is_not_read_as_a_file(tmp_path):
    (tmp_path / "zero.npy").symlink_to("/dev/zero")
    with pytest.raises(InputError, match=r"zero.npy is not a regular file or a folder"):
        ls.load_data(tmp_path / "zero.npy")


def test_image_whose_header_is_a_decompression_bomb_is_refused(tmp_path):
    import struct

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # 10**10 pixels declared
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    _fit_fails(
        tmp_path, tmp_path / "b", "image a.png cannot be read: Image size (10000000000 pixels) exceeds"
    )


def test_generated_builtins_are_bounded():
    """A run folder's data spec is untrusted: a re-signed ``n`` or ``size`` cannot make a built-in
    generate more than its bound (before: 1e9 rows of shapes tried to allocate 4 TB)."""
    from latentspace.data import load_builtin

    with pytest.raises(InputError, match=r"n = 1,000,000,000 rows; at most 10,000,000"):
        load_builtin("shapes", n=10**9)
    with pytest.raises(InputError, match=r"977 GiB; at most 8 GiB: lower n or size"):
        load_builtin("shapes", n=10**6, size=512)
    assert load_builtin("shapes", n=10, size=8).X.shape == (10, 64)
