"""`ls.show` without a browser: the widget's front end is the explorer's own scripts (their exact
text, not a copy), its state carries the map and the columns as binary buffers (checked against the
run's own map and labels), the answers to the page's requests agree with the model (a decoded click
is the model's decode of the map's inverse, drawn as the run draws items), the selection is checked,
and without anywidget ``ls.show`` names the extra to install."""

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import latentspace as ls
from latentspace.errors import InputError, MissingDependencyError

pytest.importorskip("anywidget")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb") / "pca"
    return ls.fit(ls.load_data("digits"), "pca", latent_dim=8, out=out)


@pytest.fixture(scope="module")
def widget(digits_run):
    return ls.show(digits_run)


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_front_end_is_the_explorers_code_not_a_copy(widget):
    from importlib import resources

    static = resources.files("latentspace.web").joinpath("static")
    for name in ("scatter.js", "scatter_splat.js", "columns.js", "panels.js"):
        assert static.joinpath(name).read_text() in widget._esm, name
    own = resources.files("latentspace.notebook").joinpath("static", "widget.js").read_text()
    for defined in ("function LatentScatter", "function CrossFilter", "function FilterPanel", "prototype."):
        assert defined not in own, f"widget.js defines {defined!r}: reuse the explorer's"
    assert own.count("export default") == 1


def test_state_is_binary_and_matches_the_run(widget, digits_run):
    from ipywidgets.widgets.widget import _remove_buffers

    state, paths, buffers = _remove_buffers(widget.get_state())
    state = {k: v for k, v in state.items() if k not in ("_esm", "_css")}
    n = digits_run.n_items
    assert len(json.dumps(state)) < 20_000  # descriptions only: every per-row value is a buffer
    assert sum(len(b) for b in buffers) >= 8 * n
    assert ["x"] in paths and ["y"] in paths
    emb = widget.state.lmap.embedding
    np.testing.assert_array_equal(np.frombuffer(widget.x, np.float32), emb[:, 0].astype(np.float32))
    np.testing.assert_array_equal(np.frombuffer(widget.y, np.float32), emb[:, 1].astype(np.float32))
    j = [c["key"] for c in widget._run["columns"]].index("label")
    col = widget._columns[j]
    codes = np.frombuffer(col["codes"], np.dtype(col["dtype"]))
    y = digits_run.latents()["label"].to_numpy()
    assert [col["names"][c] for c in codes[:50]] == [str(v) for v in y[:50]]
    assert widget._run["n"] == n and widget._run["has_decoder"] is True
    keys = [c["key"] for c in widget._run["columns"]]
    assert {"error", "layer:distortion", "layer:sensitivity"} <= set(keys)  # the map's layers, waited for
    err = widget._columns[keys.index("error")]["values"]
    X = digits_run.load_dataset().X
    model = digits_run.load_model()
    want = ((model.decode(model.encode(X[:20])) - X[:20]) ** 2).mean(1)
    np.testing.assert_allclose(np.frombuffer(err, np.float32)[:20], want, rtol=1e-3, atol=1e-6)


def test_item_and_decode_answers_follow_the_model(widget):
    s = widget.state
    body, bufs = widget._source.answer({"type": "item", "row": 7})
    assert body["row"] == 7 and len(body["neighbours"]) == 6 and 7 not in body["neighbours"]
    d = np.linalg.norm(s.Z[body["neighbours"]] - s.Z[7], axis=1)
    np.testing.assert_allclose(body["distances"], d, rtol=1e-5)
    assert np.all(np.diff(d) >= -1e-6)
    expected = png_pixels(s.png(s.model.decode(s.Z[7:8])[0]))
    np.testing.assert_array_equal(png_pixels(bufs[body["reconstruction"]["png"]]), expected)

    x, y = float(s.lmap.embedding[:, 0].mean()), float(s.lmap.embedding[:, 1].mean())
    body, bufs = widget._source.answer({"type": "decode", "x": x, "y": y})
    assert body["kind"] == "decoded"
    z = s.lmap.inverse(np.array([[x, y]], np.float32))[0]
    np.testing.assert_allclose(body["z"], z, rtol=1e-5, atol=1e-5)
    got = png_pixels(bufs[body["decoded"]["png"]])
    assert got.shape == (8, 8)
    np.testing.assert_array_equal(got, png_pixels(s.png(s.model.decode(z[None].astype(np.float32))[0])))
    assert body["data_distance"]["distance"] >= 0


def test_bad_requests_get_one_line(widget):
    n = widget.state.n
    assert widget._source.answer({"type": "item", "row": n})[0] == {
        "error": f"row {n} is out of range: this run has items 0..{n - 1}"
    }
    assert "error" in widget._source.answer({"type": "decode", "x": "a", "y": 0})[0]
    assert "error" in widget._source.answer({"type": "latent", "dim": 8})[0]
    assert widget._source.answer({"type": "rm -rf"})[0] == {"error": "unknown request 'rm -rf'"}
    body, bufs = widget._source.answer({"type": "latent", "dim": 3})
    np.testing.assert_array_equal(np.frombuffer(bufs[0], np.float32), widget.state.Z[:, 3])


def test_selection_is_sorted_rows_in_range(widget):
    import traitlets

    widget.selection = [5, 2, 5, 9]
    assert widget.selection == [2, 5, 9]
    table = widget.selected_metadata()
    assert table["row"].to_pylist() == [2, 5, 9]
    assert table["label"].to_pylist() == widget.state.items.labels([2, 5, 9])
    with pytest.raises(traitlets.TraitError, match=r"row 1797 is out of range; this run has rows 0..1796"):
        widget.selection = [1, 1797]
    assert widget.selection == [2, 5, 9]
    widget.selection = []


def test_vectors_with_a_model_decode_like_a_run():
    """`ls.show(Z, metadata=..., model=...)`: imported into a temporary run (removed on close); the
    model's decode answers a click on empty space, drawn with the source data's image shape."""
    ds = ls.load_data("digits")
    pca = ls.PCA(n_components=6).fit(ds.X)
    Z = pca.encode(ds.X)
    meta = {"digit": [str(v) for v in ds.y], "ink": ds.X.sum(1)}
    w = ls.show(Z, metadata=meta, model=pca, data=ds, label_col="digit", color_by="meta:ink")
    folder = Path(w._source.tempdir)
    assert folder.exists()
    assert w._run["has_decoder"] is True and w.color_by == "meta:ink"
    point = w.state.lmap.embedding[10]
    body, bufs = w._source.answer({"type": "decode", "x": float(point[0]), "y": float(point[1])})
    z = np.asarray(body["z"], np.float32)
    want = w.state.png(pca.decode(z[None])[0])
    np.testing.assert_array_equal(png_pixels(bufs[0]), png_pixels(want))
    w.close()
    assert not folder.exists()


def test_bad_arguments_are_one_line(digits_run):
    with pytest.raises(InputError, match=r"^metadata: only with vectors"):
        ls.show(digits_run, metadata={"a": [1]})
    with pytest.raises(InputError, match=r"^height must be between 120 and 2000 pixels; got 50"):
        ls.show(digits_run, height=50)
    Z = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    with pytest.raises(InputError, match=r"^model: its latent_dim is 8, but Z has 4 columns"):
        ls.show(Z, model=ls.PCA(n_components=8).fit(np.random.default_rng(0).normal(size=(40, 10))))


def test_without_anywidget_the_extra_is_named(monkeypatch, digits_run):
    monkeypatch.setitem(sys.modules, "anywidget", None)  # import anywidget -> ImportError
    monkeypatch.delitem(sys.modules, "latentspace.notebook.widget", raising=False)
    with pytest.raises(MissingDependencyError, match=r"pip install 'latentspace\[notebook\]'"):
        ls.show(digits_run)


def test_without_the_explorers_modules_the_extra_is_named(monkeypatch, digits_run):
    """The map reuses the explorer's modules, which parse requests with pydantic."""
    import latentspace.web

    monkeypatch.setattr(ls, "web", latentspace.web)  # put back as it was, with sys.modules below
    monkeypatch.setitem(sys.modules, "pydantic", None)
    for name in [m for m in sys.modules if m.startswith("latentspace.web")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(
        MissingDependencyError, match=r"^ls.show needs pydantic: pip install 'latentspace\[notebook\]'"
    ):
        ls.show(digits_run)


def test_a_failing_decoder_is_one_line(widget, monkeypatch):
    def broken(Z):
        raise RuntimeError("out of memory\nsecond line")

    monkeypatch.setattr(widget.state.model, "decode", broken)
    body, bufs = widget._source.answer({"type": "decode", "x": 0.0, "y": 0.0})
    assert body == {"error": "decode failed: RuntimeError: out of memory"} and bufs == []
