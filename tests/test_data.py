"""The data layer: built-in sets, file readers, and the bad-input messages."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import latentspace as ls
from latentspace.data.shapes import SHAPE_NAMES
from latentspace.errors import InputError


def test_digits_matches_sklearn(digits):
    from sklearn.datasets import load_digits

    ref = load_digits()
    assert digits.X.shape == (1797, 64) and digits.X.dtype == np.float32
    np.testing.assert_allclose(digits.X, ref.data / 16.0, atol=1e-7)
    np.testing.assert_array_equal(digits.y, ref.target)
    assert digits.sample_shape == (1, 8, 8)
    assert digits.images().shape == (1797, 1, 8, 8)


def test_mnist_all_70k_with_test_split(mnist):
    assert mnist.X.shape == (70_000, 784) and mnist.X.dtype == np.float32
    assert 0.0 <= mnist.X.min() and mnist.X.max() < 1.0
    assert mnist.test_mask.sum() == 10_000 and mnist.test_mask[60_000:].all()
    # LeCun's MNIST class counts of the training set (0: 5,923 ... 9: 5,949)
    counts = np.bincount(mnist.y[:60_000], minlength=10)
    assert counts[0] == 5923 and counts[1] == 6742 and counts[9] == 5949
    assert np.bincount(mnist.y[60_000:], minlength=10)[0] == 980  # test set: 980 zeros
    # the cache path returns exactly what the pickle held
    again = ls.load_data("mnist")
    np.testing.assert_array_equal(again.X[:100], mnist.X[:100])


def test_mnist_unpickler_refuses_code(tmp_path):
    import gzip
    import os
    import pickle

    from latentspace.data.mnist import read_pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pkl.gz"
    with gzip.open(path, "wb") as fh:
        pickle.dump(Evil(), fh)
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        read_pickle(path)
    assert not (tmp_path / "pwned").exists()


def test_shapes_deterministic_and_factors_mean_what_they_say():
    a = ls.load_data("shapes", n=600, size=32, seed=3)
    b = ls.load_data("shapes", n=600, size=32, seed=3)
    c = ls.load_data("shapes", n=600, size=32, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert a.factor_names == ["shape", "scale", "rotation", "x", "y"]
    assert a.label_names == SHAPE_NAMES and set(np.unique(a.y)) == {0, 1, 2}
    assert set(np.unique(a.X)) <= {0.0, 1.0}
    img = a.images()[:, 0]
    area = img.sum(axis=(1, 2))
    assert area.min() > 0  # every shape is drawn
    # area grows with scale squared within one shape: correlation of area with scale^2 is high
    sq = a.y == 0
    assert np.corrcoef(area[sq], a.factors[sq, 1] ** 2)[0, 1] > 0.95
    # the centroid follows the x and y factors (x is the column, y is the row)
    cols = (img * np.arange(32)[None, None, :]).sum(axis=(1, 2)) / area
    rows = (img * np.arange(32)[None, :, None]).sum(axis=(1, 2)) / area
    assert np.corrcoef(cols, a.factors[:, 3])[0, 1] > 0.97
    assert np.corrcoef(rows, a.factors[:, 4])[0, 1] > 0.97
    # nothing touches the border: every shape stays inside the frame
    assert img[:, 0, :].sum() == 0 and img[:, -1, :].sum() == 0 and img[:, :, 0].sum() == 0


def test_shapes_any_size_and_count():
    ds = ls.load_data("shapes", n=7, size=64, seed=0)
    assert ds.X.shape == (7, 4096) and ds.sample_shape == (1, 64, 64)


def test_swissroll_factors():
    ds = ls.load_data("swissroll", n=500, seed=1)
    assert ds.X.shape == (500, 3) and ds.factor_names == ["t", "height"]
    # sklearn's swiss roll: x = t cos t, z = t sin t (before noise)
    np.testing.assert_allclose(np.hypot(ds.X[:, 0], ds.X[:, 2]), ds.factors[:, 0], atol=0.3)
    np.testing.assert_allclose(ds.X[:, 1], ds.factors[:, 1], atol=1e-5)


def test_npy_is_memory_mapped(tmp_path, blobs):
    p = tmp_path / "x.npy"
    np.save(p, blobs)
    ds = ls.load_data(p)
    assert isinstance(ds.X, np.memmap)
    np.testing.assert_array_equal(ds.X, blobs)


def test_npy_images_and_uint8_scaling(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, size=(5, 6, 7), dtype=np.uint8)
    np.save(tmp_path / "im.npy", imgs)
    ds = ls.load_data(tmp_path / "im.npy")
    assert ds.sample_shape == (1, 6, 7)
    np.testing.assert_allclose(ds.X, imgs.reshape(5, -1) / 255.0, atol=1e-7)


def test_npz_with_labels(tmp_path, blobs):
    y = np.array(["a", "b", "c"] * 100)
    np.savez(tmp_path / "d.npz", X=blobs, y=y)
    ds = ls.load_data(tmp_path / "d.npz")
    assert ds.label_names == ["a", "b", "c"]
    np.testing.assert_array_equal(ds.y[:4], [0, 1, 2, 0])


def test_csv_and_parquet_with_label_column(tmp_path):
    table = pa.table({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6], "species": ["x", "y", "x"]})
    pq.write_table(table, tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text("a,b,species\n1,4,x\n2,5,y\n3,6,x\n")
    for name in ("t.parquet", "t.csv"):
        ds = ls.load_data(tmp_path / name, label_col="species")
        np.testing.assert_array_equal(ds.X, [[1, 4], [2, 5], [3, 6]])
        assert ds.feature_names == ["a", "b"] and ds.label_names == ["x", "y"]
        np.testing.assert_array_equal(ds.y, [0, 1, 0])


def _write_images(folder, sizes, mode="L"):
    folder.mkdir(parents=True)
    for i, size in enumerate(sizes):
        arr = np.full(size[::-1] + ((3,) if mode == "RGB" else ()), 40 * i, dtype=np.uint8)
        Image.fromarray(arr, mode).save(folder / f"{i:03d}.png")


def test_image_folder_with_class_subfolders(tmp_path):
    _write_images(tmp_path / "imgs" / "cat", [(5, 4)] * 2)
    _write_images(tmp_path / "imgs" / "dog", [(5, 4)] * 3, mode="RGB")
    ds = ls.load_data(tmp_path / "imgs")
    assert ds.sample_shape == (3, 4, 5)  # one colour image makes the whole set RGB
    assert ds.label_names == ["cat", "dog"]
    np.testing.assert_array_equal(ds.y, [0, 0, 1, 1, 1])
    np.testing.assert_allclose(ds.X[1], 40 / 255.0, atol=1e-6)


def test_greyscale_folder_stays_one_channel(tmp_path):
    _write_images(tmp_path / "g", [(6, 6)] * 3)
    ds = ls.load_data(tmp_path / "g")
    assert ds.sample_shape == (1, 6, 6) and ds.y is None


# --- bad input: each a clear error -------------------------------------------------------------
def test_nan_names_first_bad_row_and_column(blobs):
    X = blobs.copy()
    X[17, 5] = np.nan
    X[40, 1] = np.inf
    with pytest.raises(ValueError, match=r"nan at row 17, column 5"):
        ls.PCA(2).fit(X)
    X[17, 5] = 0
    with pytest.raises(ValueError, match=r"inf at row 40, column 1"):
        ls.PCA(2).fit(X)


def test_nan_in_csv_names_the_column(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,\n")
    with pytest.raises(InputError, match=r"row 1, column 1 \('b'\)"):
        ls.load_data(tmp_path / "t.csv")


def test_empty_and_single_row():
    with pytest.raises(InputError, match="empty"):
        ls.PCA(1).fit(np.zeros((0, 3)))
    with pytest.raises(InputError, match="1 row; at least 2"):
        ls.PCA(1).fit(np.zeros((1, 3)))


def test_non_numeric_csv_columns_are_listed(tmp_path):
    (tmp_path / "t.csv").write_text("a,name,b,city\n1,x,2,p\n3,y,4,q\n")
    with pytest.raises(InputError, match=r"'name' \(string\), 'city' \(string\)"):
        ls.load_data(tmp_path / "t.csv")


def test_mixed_image_sizes_name_the_file(tmp_path):
    _write_images(tmp_path / "m", [(5, 5), (5, 5), (6, 5)])
    with pytest.raises(InputError, match=r"image 002.png is 6x5 but 000.png is 5x5"):
        ls.load_data(tmp_path / "m")


def test_unknown_dataset_lists_builtins():
    with pytest.raises(InputError, match=r"did you mean 'mnist'.*digits, mnist, shapes, swissroll"):
        ls.load_data("mnsit")


def test_unknown_builtin_argument():
    with pytest.raises(InputError, match="no argument 'sise'; allowed: n, size, seed"):
        ls.load_data("shapes", sise=3)


def test_npy_with_objects_is_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="object arrays are refused"):
        ls.load_data(tmp_path / "o.npy")


def test_missing_label_column_lists_columns(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(InputError, match="no column 'lab'; columns: a, b"):
        ls.load_data(tmp_path / "t.csv", label_col="lab")


def test_npz_with_objects_is_refused(tmp_path):
    np.savez(tmp_path / "o.npz", X=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match="object arrays are refused"):
        ls.load_data(tmp_path / "o.npz")
