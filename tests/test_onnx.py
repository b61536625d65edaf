"""Networks trained elsewhere: a torch autoencoder exported to ONNX, imported into a run, equal to
torch after the round trip; every bad file one clear line; the explorer decoding from such a run."""

import hashlib
import io
import json
import pickle
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.base import clone

import latentspace as ls
from latentspace import ops
from latentspace.errors import InputError, MissingDependencyError, RunIntegrityError
from latentspace.models.onnx import OnnxModel
from latentspace.stages.import_model import import_model

from .conftest import PageLog, serving

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

TOKEN = "onnx-token"


# --- a small convolutional autoencoder on digits, trained here and exported ----------------------
def _export(module, example, path=None) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (example,),
            buf,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            dynamo=False,
        )
    if path is not None:
        path.write_bytes(buf.getvalue())
    return buf.getvalue()


@pytest.fixture(scope="module")
def ae(digits, tmp_path_factory):
    """Encoder (n, 1, 8, 8) -> (n, 4) and decoder (n, 4) -> (n, 1, 8, 8): the ONNX files read and
    give images, the run's rows are flat."""
    nn = torch.nn
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 4))
    dec = nn.Sequential(
        nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8))
    )
    X = torch.from_numpy(digits.X).reshape(-1, 1, 8, 8)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(400):
        batch = X[torch.randint(0, len(X), (128,), generator=gen)]
        loss = ((dec(enc(batch)) - batch) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    enc.eval(), dec.eval()
    with torch.no_grad():
        Z = enc(X).numpy()
        R = dec(torch.from_numpy(Z)).reshape(len(X), -1).numpy()
    folder = tmp_path_factory.mktemp("onnx")
    _export(enc, torch.zeros(2, 1, 8, 8), folder / "enc.onnx")
    _export(dec, torch.zeros(2, 4), folder / "dec.onnx")
    return SimpleNamespace(enc=enc, dec=dec, Z=Z, R=R, folder=folder)


@pytest.fixture(scope="module")
def run(ae, digits):
    return import_model(
        digits, out=ae.folder / "run", encoder=ae.folder / "enc.onnx", decoder=ae.folder / "dec.onnx"
    )


def test_the_autoencoder_learned(ae, digits):
    mse = float(np.mean((ae.R - digits.X) ** 2))
    assert mse < 0.5 * float(digits.X.var(axis=0).sum() / digits.d)  # the mean image: 1.0


def test_imported_run_equals_torch(run, ae, digits):
    assert run.config["model"] == {
        "name": "onnx",
        "params": {"latent_dim": 4, "prior": "fitted", "random_state": 0},
    }
    for name in ("encoder.onnx", "decoder.onnx"):  # copied in, under the run's checksums
        data = (ae.folder / name.replace("oder", "")).read_bytes()
        assert run.read_file(name) == data
        assert run.config["files"][name] == hashlib.sha256(data).hexdigest()
    model = ls.open_run(run.path).load_model()
    assert model.has_encoder and model.has_decoder and model.latent_dim == 4
    Z = model.encode(digits.X)
    assert Z.dtype == np.float32 and np.abs(Z - ae.Z).max() <= 1e-5
    assert np.abs(run.latent_matrix() - ae.Z).max() <= 1e-5
    X = model.decode(ae.Z)
    assert X.shape == digits.X.shape and X.dtype == np.float32
    assert np.abs(X - ae.R).max() <= 1e-5
    # a row encodes alike alone and in a block
    assert np.abs(model.encode(digits.X[5:6]) - Z[5:6]).max() <= 1e-6


def test_the_fitted_prior_is_the_training_latents_gaussian(run, ae):
    model = run.load_model()
    train = ae.Z[run.latents()["split"].to_numpy(zero_copy_only=False) == "train"].astype(np.float64)
    assert model.n_samples_ == len(train) == run.config["split"]["n_train"]
    draws = model.sample_latent(50_000, random_state=1).astype(np.float64)
    assert np.abs(draws.mean(0) - train.mean(0)).max() < 0.03 * train.std(0).max()
    cov, want = np.cov(draws.T), np.cov(train.T)
    assert np.abs(cov - want).max() < 0.03 * np.abs(want).max()
    np.testing.assert_array_equal(
        model.sample_latent(5, random_state=2), model.sample_latent(5, random_state=2)
    )


def test_standard_prior(ae, digits, tmp_path):
    r = import_model(digits, out=tmp_path / "r", encoder=ae.folder / "enc.onnx", prior="standard", seed=3)
    model = r.load_model()
    draws = model.sample_latent(20_000, random_state=0)
    assert np.abs(draws.mean(0)).max() < 0.03 and np.abs(draws.std(0) - 1).max() < 0.03
    assert r.config["split"]["seed"] == 3 and model.random_state == 3


def test_operations_decode_through_onnx(run, ae, digits):
    model = run.load_model()
    s = ops.sample(model, 6, seed=0)
    assert s.X.shape == (6, 64) and np.abs(s.X - model.decode(s.Z)).max() == 0
    with torch.no_grad():
        expect = ae.dec(torch.from_numpy(s.Z)).reshape(6, -1).numpy()
    assert np.abs(s.X - expect).max() <= 1e-5
    path = ops.interpolate(model, digits.X[0], digits.X[1], steps=5)
    assert path.X.shape == (5, 64) and np.abs(path.Z[0] - ae.Z[0]).max() <= 1e-5
    tr = ops.traverse(model, ae.Z[0], dims=[0, 3], steps=5, reference=ae.Z)
    assert tr.X.shape == (2, 5, 64) and np.isfinite(tr.X).all()
    v = ops.attribute_vector(model, digits.X, digits.y == 0)
    assert (
        v.shape == (4,)
        and np.abs(v - (ae.Z[digits.y == 0].mean(0) - ae.Z[digits.y != 0].mean(0))).max() < 1e-4
    )


def test_encoder_alone(ae, digits, tmp_path):
    r = import_model(digits, out=tmp_path / "r", encoder=(ae.folder / "enc.onnx").read_bytes())
    assert "decoder.onnx" not in r.config["files"] and r.config["info"]["decoder"] == "none"
    model = r.load_model()
    assert model.has_encoder and not model.has_decoder
    assert np.abs(model.encode(digits.X[:10]) - ae.Z[:10]).max() <= 1e-5
    with pytest.raises(InputError, match="no decoder"):
        model.decode(ae.Z[:2])


def test_clone_and_pickle_keep_the_networks(run, ae, digits):
    model = run.load_model()
    twin = clone(model)
    assert not hasattr(twin, "n_features_in_")
    twin.fit(digits.X[:500])
    assert np.abs(twin.encode(digits.X[:20]) - ae.Z[:20]).max() <= 1e-5
    again = pickle.loads(pickle.dumps(model))
    assert np.abs(again.decode(ae.Z[:20]) - ae.R[:20]).max() <= 1e-5


# --- bad input: one line each, naming the file, and nothing written --------------------------------
def _model(inputs, outputs, nodes, inits=(), opset=17) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def _linear(d_in, d_out, batch="n", in_type=TensorProto.FLOAT) -> bytes:
    """x (batch, d_in) @ W -> y (batch, d_out)."""
    W = numpy_helper.from_array(np.full((d_in, d_out), 0.01, np.float32), "W")
    x = helper.make_tensor_value_info("x", in_type, [batch, d_in])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, d_out])
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"])]
    if in_type != TensorProto.FLOAT:
        nodes = [
            helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["xf", "W"], ["y"]),
        ]
    return _model([x], [y], nodes, [W])


def _two_inputs() -> bytes:
    x, m = (helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 64]) for n in ("x", "mask"))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 64])
    return _model([x, m], [y], [helper.make_node("Add", ["x", "mask"], ["y"])])


def _external_data() -> bytes:
    model = onnx.load_from_string(_linear(64, 4))
    t = model.graph.initializer[0]
    t.data_location = TensorProto.EXTERNAL
    t.ClearField("raw_data")
    for key, value in {"location": "../../etc/passwd", "offset": "0", "length": "1024"}.items():
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def _custom_op() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    graph = helper.make_graph([helper.make_node("Evil", ["x"], ["y"], domain="com.example")], "g", [x], [y])
    ops_ = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    return helper.make_model(graph, opset_imports=ops_).SerializeToString()


BAD = {
    "enc32.onnx": (
        lambda: _linear(32, 4),
        None,
        r"^enc32\.onnx reads 32 values per row; the data have 64 features$",
    ),
    "dec8.onnx": (
        lambda: _linear(64, 4),
        lambda: _linear(8, 64),
        r"^dec8\.onnx expects latents of 8 values; enc\.onnx gives 4$",
    ),
    "dec32.onnx": (
        lambda: _linear(64, 4),
        lambda: _linear(4, 32),
        r"^dec32\.onnx gives 32 values per row; the data have 64 features$",
    ),
    "text.onnx": (lambda: b"hello, this is not a network\n", None, r"^text\.onnx is not an ONNX model: "),
    "cut.onnx": (lambda: _linear(64, 4)[:-7], None, r"^cut\.onnx is not an ONNX model: "),
    "empty.onnx": (lambda: b"", None, r"^empty\.onnx is not an ONNX model: "),
    "two.onnx": (
        _two_inputs,
        None,
        r"^two\.onnx has 2 inputs \(x, mask\); an encoder reads one \(the data rows\)$",
    ),
    "int.onnx": (
        lambda: _linear(64, 4, in_type=TensorProto.INT64),
        None,
        r"^int\.onnx reads tensor\(int64\) values; allowed: float, double or float16",
    ),
    "fixed.onnx": (
        lambda: _linear(64, 4, batch=1),
        None,
        r"^fixed\.onnx has a fixed batch size of 1; export it with a dynamic batch axis",
    ),
    "ext.onnx": (
        _external_data,
        None,
        r"^ext\.onnx keeps tensors in external data files, which latentspace does not read",
    ),
    "custom.onnx": (_custom_op, None, r"^custom\.onnx cannot run in onnxruntime: .*Evil"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_networks_are_one_line(name, digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the files named as on a command line
    make_enc, make_dec, match = BAD[name]
    enc = Path(name if make_dec is None else "enc.onnx")
    enc.write_bytes(make_enc())
    dec = None
    if make_dec is not None:
        dec = Path(name)
        dec.write_bytes(make_dec())
    with pytest.raises(InputError, match=match) as info:
        import_model(digits, out=tmp_path / "run", encoder=enc, decoder=dec)
    assert "\n" not in str(info.value)
    assert (
        not (tmp_path / "run").exists()
        and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    )


def test_missing_files_and_bad_parameters(ae, digits, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(InputError, match=r"^the encoder file .*nope\.onnx does not exist$"):
        import_model(digits, out=out, encoder=tmp_path / "nope.onnx")
    with pytest.raises(InputError, match=r"^the decoder file .*nope\.onnx does not exist$"):
        import_model(digits, out=out, encoder=ae.folder / "enc.onnx", decoder=tmp_path / "nope.onnx")
    with pytest.raises(InputError, match=r"^the encoder file .* is not a file"):
        import_model(digits, out=out, encoder=tmp_path)
    with pytest.raises(
        InputError, match="parameter prior must be one of 'fitted', 'standard', 'given'; got 'gauss'"
    ):
        import_model(digits, out=out, encoder=ae.folder / "enc.onnx", prior="gauss")
    with pytest.raises(InputError, match=r"^latent_dim is 5, but .*enc\.onnx gives latents of 4 values$"):
        OnnxModel.from_files(ae.folder / "enc.onnx", latent_dim=5)
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="is not a latentspace run; refusing to replace it"):
        import_model(digits, out=out, encoder=ae.folder / "enc.onnx", overwrite=True)
    assert not (tmp_path / "run" / "config.json").exists()


def test_onnxruntime_missing_is_named(ae, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'latentspace\[onnx\]'"):
        OnnxModel.from_files(ae.folder / "enc.onnx")


def test_the_scanner_knows_onnx_field_numbers():
    """The protobuf fields the external-data scan follows are onnx.proto's."""
    from latentspace.models import onnx as lo

    names = {
        lo._MODEL: onnx.ModelProto,
        lo._GRAPH: onnx.GraphProto,
        lo._NODE: onnx.NodeProto,
        lo._ATTR: onnx.AttributeProto,
        lo._TENSOR: onnx.TensorProto,
        lo._SPARSE: onnx.SparseTensorProto,
        lo._TRAINING: onnx.TrainingInfoProto,
        lo._FUNCTION: onnx.FunctionProto,
    }
    kinds = {cls.DESCRIPTOR.full_name: kind for kind, cls in names.items()}
    for kind, cls in names.items():
        fields = cls.DESCRIPTOR.fields
        followed = {
            f.number: kinds[f.message_type.full_name]
            for f in fields
            if f.message_type and f.message_type.full_name in kinds
        }
        assert lo._SUBMESSAGES[kind] == followed, cls.__name__
    t = onnx.TensorProto.DESCRIPTOR.fields_by_name
    assert (t["external_data"].number, t["data_location"].number) == (
        lo._TENSOR_EXTERNAL_DATA,
        lo._TENSOR_DATA_LOCATION,
    )


def test_external_data_inside_a_subgraph_is_found(tmp_path):
    inner = onnx.load_from_string(_external_data()).graph.initializer[0]
    then = helper.make_graph(
        [helper.make_node("Identity", ["W"], ["o"])],
        "then",
        [],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, [64, 4])],
        [inner],
    )
    other = helper.make_graph(
        [helper.make_node("Identity", ["W2"], ["o2"])],
        "else",
        [],
        [helper.make_tensor_value_info("o2", TensorProto.FLOAT, [64, 4])],
        [numpy_helper.from_array(np.zeros((64, 4), np.float32), "W2")],
    )
    x = helper.make_tensor_value_info("x", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 4])
    data = _model([x], [y], [helper.make_node("If", ["x"], ["y"], then_branch=then, else_branch=other)])
    with pytest.raises(InputError, match="keeps tensors in external data files"):
        OnnxModel.from_files(data)


def test_a_swapped_network_is_refused_when_the_run_is_loaded(run, ae, tmp_path):
    import shutil

    from latentspace.runfolder.folder import _config_digest

    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    other = _linear(64, 6)  # another latent size, re-signed into the run
    (copy / "encoder.onnx").write_bytes(other)
    cfg = json.loads((copy / "config.json").read_text())
    cfg["files"]["encoder.onnx"] = hashlib.sha256(other).hexdigest()
    cfg["config_sha256"] = _config_digest(cfg)
    (copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(
        RunIntegrityError,
        match=r"model\.safetensors does not hold a valid onnx state: latent_dim is 4, but encoder\.onnx gives latents of 6 values$",
    ):
        ls.open_run(copy).load_model()


def test_cli_import_bad_file_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from latentspace.cli import app

    bad = tmp_path / "enc.onnx"
    bad.write_bytes(b"not a network")
    res = CliRunner().invoke(
        app, ["import", "--encoder", str(bad), "--data", "digits", "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 2, res.output
    out = " ".join(res.output.split())
    assert (
        out.startswith("error:") and "enc.onnx is not an ONNX model" in out and "Traceback" not in res.output
    )


# --- the explorer decodes from an imported ONNX run ------------------------------------------------
def test_explorer_decodes_an_onnx_run(run, ae, browser):
    from starlette.testclient import TestClient

    from latentspace.maps.store import map_run
    from latentspace.web.app import create_app, load_state

    map_run(ls.open_run(run.path), "pca")
    state = load_state(0, run.path)
    app = create_app([state], TOKEN)
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    r = client.post(
        "/api/runs/0/decode", json={"z": ae.Z[12].tolist(), "png": True}, headers={"X-Token": TOKEN}
    )
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(r.content)), dtype=np.float32)
    lo, hi = state.value_range
    expect = np.clip((ae.R[12] - lo) / (hi - lo), 0, 1).reshape(8, 8) * 255
    assert np.abs(img - expect).max() <= 1.0  # torch's decoder output, to 8-bit rounding

    with serving(app) as url:
        log = PageLog(browser)
        pg = log.page
        pg.goto(f"{url}/?token={TOKEN}")
        pg.wait_for_selector("#maps[data-ready='1']", timeout=30000)
        assert pg.evaluate("explorer.maps[0].n") == run.n_items
        box = pg.locator("#map0").bounding_box()
        ex, ey = pg.evaluate(
            "(() => { const m = explorer.maps[0];"
            " for (let y = 20; y < m.h; y += 23) for (let x = 20; x < m.w; x += 23)"
            "   if (m.pick(x, y, 20) < 0) return [x, y]; })()"
        )
        pg.mouse.click(box["x"] + ex, box["y"] + ey)
        pg.wait_for_selector("#space .decoded img")
        pg.wait_for_function("document.querySelector('#space .decoded img').naturalWidth > 0")
        assert pg.evaluate("document.querySelector('#space .decoded img').naturalWidth") == 8
        log.shot("explorer-onnx.png")
        assert log.errors == []
        assert log.external(url) == []
