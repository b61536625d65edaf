"""Data larger than memory: memory-mapped .npy files and row subsets are read block by block.

Training from disk must give exactly the weights training from memory gives (same batches, same
order), and must not allocate anything near the size of the data."""

import numpy as np
import pytest

import latentspace as ls
from latentspace.data.source import ArrayRows, RowSubset, is_streamed, rows_of
from latentspace.errors import InputError


@pytest.fixture
def on_disk(tmp_path, digits):
    path = tmp_path / "digits.npy"
    np.save(path, digits.X)
    return digits.X, np.load(path, mmap_mode="r")


@pytest.mark.parametrize("model", ["vae", "ae"])
def test_training_from_disk_equals_training_from_memory(on_disk, model):
    X, M = on_disk
    kw = dict(latent_dim=4, hidden=(32,), epochs=3, batch_size=64, random_state=0, device="cpu")
    ref = ls.create_model(model, **kw).fit(X)
    for source in (M, RowSubset(M, np.arange(len(M)))):
        assert is_streamed(source)
        got = ls.create_model(model, **kw).fit(source)
        for (name, p), q in zip(ref.net_.named_parameters(), got.net_.parameters(), strict=True):
            assert np.array_equal(p.detach().numpy(), q.detach().numpy()), name
        same_clock = zip(ref.history_, got.history_, strict=True)
        assert got.history_ == [dict(h, seconds=g["seconds"]) for h, g in same_clock]


def _anon_rss() -> int:
    """Resident anonymous memory of this process (bytes): what copies of the data would occupy,
    unlike the memory map's own pages, which are file-backed."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("RssAnon:"))


def _peak_anon_growth(fn) -> int:
    import threading
    import time

    base, peak, done = _anon_rss(), [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], _anon_rss() - base)
            time.sleep(0.005)

    t = threading.Thread(target=watch)
    t.start()
    try:
        fn()
    finally:
        done.set()
        t.join()
    return max(peak[0], _anon_rss() - base)


def test_training_on_disk_allocates_a_fraction_of_the_data(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(160_000, 128))
    for a in range(0, len(big), 40_000):
        big[a : a + 40_000] = rng.random((40_000, 128), dtype=np.float32)
    big.flush()
    del big
    M = np.load(path, mmap_mode="r")  # 78 MiB on disk
    source = rows_of(M, np.ones(len(M), dtype=bool))  # a training split of it: read when needed
    kw = dict(latent_dim=4, hidden=(16,), epochs=1, batch_size=256, random_state=0, device="cpu")
    ls.create_model("ae", **kw).fit(M[:300])  # imports and first-call allocations, outside the count
    model = ls.create_model("ae", val_fraction=0.05, **kw)
    grew = _peak_anon_growth(lambda: model.fit(source))
    assert grew < 45 * 2**20, f"training grew anonymous memory by {grew / 2**20:.1f} MiB (data: 78 MiB)"
    Z = model.encode(source)
    assert Z.shape == (160_000, 4) and np.isfinite(Z).all()


def test_pipeline_fit_keeps_the_split_on_disk(tmp_path, digits):
    path = tmp_path / "d.npy"
    np.save(path, digits.X)
    run = ls.fit(
        str(path), "ae", latent_dim=3, out=tmp_path / "run", test_fraction=0.2, epochs=2, hidden=(16,)
    )
    mem = ls.fit(
        ls.Dataset(X=digits.X, name="d"), "ae", latent_dim=3, test_fraction=0.2, epochs=2, hidden=(16,)
    )
    assert np.array_equal(run.load_model().encode(digits.X), mem.encode(digits.X))


def test_uint8_files_are_scaled_as_they_are_read(tmp_path, digits):
    raw = np.round(digits.X * 255).astype(np.uint8).reshape(-1, 8, 8)
    np.save(tmp_path / "u8.npy", raw)
    ds = ls.load_data(str(tmp_path / "u8.npy"))
    assert isinstance(ds.X, ArrayRows) and ds.sample_shape == (1, 8, 8)
    assert np.allclose(ds.X[10:20], raw[10:20].reshape(10, -1) / 255.0, atol=1e-7)
    assert np.allclose(np.asarray(ds.X), raw.reshape(len(raw), -1) / 255.0, atol=1e-7)


def test_pca_on_disk_equals_pca_in_memory(on_disk):
    X, M = on_disk
    a, b = ls.PCA(8).fit(X), ls.PCA(8).fit(RowSubset(M, np.arange(len(M))))
    assert np.allclose(a.encode(X), b.encode(X), atol=1e-5)


def test_row_source_indexing(on_disk):
    X, M = on_disk
    sub = rows_of(M, np.arange(len(X)) % 3 == 0)
    ref = X[::3]
    assert isinstance(sub, RowSubset) and sub.shape == ref.shape
    assert np.array_equal(sub[5:40], ref[5:40])
    assert np.array_equal(sub[[7, 2, 2, -1]], ref[[7, 2, 2, -1]])  # any order, repeats, negatives
    assert np.array_equal(sub[np.arange(len(ref)) % 2 == 1], ref[1::2])
    assert np.array_equal(sub[::4], ref[::4]) and sub[3, 5] == ref[3, 5]
    in_memory = rows_of(X, X[:, 5] > 0.5)  # an in-memory array is simply indexed
    assert type(in_memory) is np.ndarray and np.array_equal(in_memory, X[X[:, 5] > 0.5])
    with pytest.raises(IndexError):
        sub[[len(ref)]]
    with pytest.raises(InputError, match="ascending"):
        RowSubset(M, [3, 1])
    with pytest.raises(InputError, match="beyond"):
        RowSubset(M, [len(M)])


def _same_weights(a, b) -> bool:
    return all(
        np.array_equal(p.detach().numpy(), q.detach().numpy())
        for p, q in zip(a.net_.parameters(), b.net_.parameters(), strict=True)
    )


def test_dask_arrays_are_computed_block_by_block(digits):
    import dask.array as da

    from latentspace.data.source import DaskRows

    ds = ls.Dataset(X=da.from_array(digits.X, chunks=(250, 64)), y=digits.y, name="lazy")
    assert isinstance(ds.X, DaskRows) and not ds.X.random_access
    assert np.array_equal(ds.X[[900, 3, 1500]], digits.X[[900, 3, 1500]])
    kw = dict(latent_dim=3, hidden=(16,), epochs=2, batch_size=64, random_state=0, device="cpu")
    assert _same_weights(ls.create_model("vae", **kw).fit(ds.X), ls.create_model("vae", **kw).fit(digits.X))
    assert np.allclose(
        ls.PCA(5).fit(ds.X).encode(digits.X), ls.PCA(5).fit(digits.X).encode(digits.X), atol=1e-5
    )


def test_large_parquet_files_are_read_by_row_group(tmp_path, digits, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import latentspace.data.files as files
    from latentspace.data.source import ParquetRows

    cols = {f"p{j}": digits.X[:, j] for j in range(digits.d)}
    cols["digit"] = digits.y.astype(str)
    pq.write_table(pa.table(cols), tmp_path / "d.parquet", row_group_size=200)
    monkeypatch.setattr(files, "LAZY_PARQUET_BYTES", 0)  # every file counts as large
    ds = ls.load_data(str(tmp_path / "d.parquet"), label_col="digit")
    assert isinstance(ds.X, ParquetRows) and ds.X.shape == digits.X.shape
    assert np.array_equal(ds.X[1234:1300], digits.X[1234:1300])
    assert np.array_equal(ds.X[[1700, 5, 640]], digits.X[[1700, 5, 640]])
    assert [ds.label_names[v] for v in ds.y[:20]] == [str(v) for v in digits.y[:20]]
    kw = dict(latent_dim=3, hidden=(16,), epochs=2, batch_size=64, random_state=0, device="cpu")
    # shuffled batches from a temporary memory map written once in order: the in-memory weights
    assert _same_weights(ls.create_model("ae", **kw).fit(ds.X), ls.create_model("ae", **kw).fit(digits.X))
    cols["p3"] = np.where(np.arange(digits.n) == 777, np.nan, digits.X[:, 3])
    pq.write_table(pa.table(cols), tmp_path / "bad.parquet", row_group_size=200)
    with pytest.raises(InputError, match="row 777, column 3"):
        ls.load_data(str(tmp_path / "bad.parquet"), label_col="digit")


def test_large_image_folders_are_decoded_as_rows_are_read(tmp_path, digits, monkeypatch):
    from PIL import Image

    import latentspace.data.files as files
    from latentspace.data.source import ImageRows

    for i in range(60):
        sub = tmp_path / "imgs" / str(digits.y[i])
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(digits.X[i].reshape(8, 8) * 255).astype(np.uint8), "L").save(
            sub / f"{i:03d}.png"
        )
    eager = ls.load_data(str(tmp_path / "imgs"))
    monkeypatch.setattr(files, "LAZY_IMAGE_BYTES", 0)
    lazy = ls.load_data(str(tmp_path / "imgs"))
    assert isinstance(lazy.X, ImageRows) and type(eager.X) is np.ndarray
    assert np.array_equal(np.asarray(lazy.X), eager.X) and np.array_equal(lazy.y, eager.y)
    assert np.array_equal(lazy.X[[50, 2]], eager.X[[50, 2]])
    (tmp_path / "imgs" / "0" / "000.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # broken
    with pytest.raises(InputError, match=r"image 0/000.png cannot be read"):
        ls.load_data(str(tmp_path / "imgs"))


def test_randomized_pca_streams_and_matches_exact_pca(on_disk):
    """The streamed randomized solver (data on disk, read block by block) gives scikit-learn's exact
    PCA on data that fits: the same explained variances and subspace. 'full' on disk is refused."""
    from sklearn.decomposition import PCA as SkPCA

    X, M = on_disk
    ref = SkPCA(8, svd_solver="full").fit(X.astype(np.float64))
    got = ls.PCA(8, svd_solver="randomized", random_state=0).fit(M)
    assert got.fit_solver_ == "randomized"
    assert np.allclose(got.explained_variance_, ref.explained_variance_, rtol=1e-4)
    assert np.allclose(got.mean_, ref.mean_, atol=1e-6)
    assert got.total_variance_ == pytest.approx(
        ref.explained_variance_.sum() / ref.explained_variance_ratio_.sum(), rel=1e-6
    )
    cos = np.abs(np.sum(got.components_ * ref.components_, axis=1))
    assert cos.min() > 0.999, cos
    # too few iterations is a worse (but still valid) approximation: the test can tell them apart
    rough = ls.PCA(8, svd_solver="randomized", n_iter=1, random_state=0).fit(M)
    assert (
        np.abs(rough.explained_variance_ - ref.explained_variance_).max()
        > np.abs(got.explained_variance_ - ref.explained_variance_).max()
    )
    with pytest.raises(InputError, match=r"svd_solver='full' needs the data in memory.*'covariance_eigh'"):
        ls.PCA(8, svd_solver="full").fit(M)


def test_pca_on_disk_picks_a_streamed_solver():
    pca = ls.PCA(16)
    assert pca._resolve_solver(10**6, 784, 16, streamed=True) == "covariance_eigh"
    assert pca._resolve_solver(10**6, 64 * 64 * 3, 16, streamed=True) == "randomized"  # 12,288 features
    assert pca._resolve_solver(500, 4096, 16, streamed=False) == "randomized"
