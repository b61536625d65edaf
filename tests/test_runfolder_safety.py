"""A run folder is untrusted input: its checksums are unkeyed, so every case here tampers a file AND
re-signs the config (file hash and config digest), as anyone who can write the folder could. Each
must end in one RunIntegrityError (exit code 2 from the CLI) naming the file, never a traceback,
and nothing outside the folder may be read."""

import hashlib
import io
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save
from typer.testing import CliRunner

import latentspace as ls
from latentspace.cli import app
from latentspace.errors import RunIntegrityError
from latentspace.runfolder.folder import _config_digest

DEEP = 100_000  # nesting levels of the JSON bombs (Python's parser recurses once per level)
PASSWD = "../" * 16 + "etc/passwd"  # /etc/passwd from any folder less than 16 levels deep


# --- helpers -------------------------------------------------------------------------------------
def resign(path, name=None, data=None, edit=None):
    """Replace ``name`` by ``data`` (if given), apply ``edit`` to the config, and re-sign it."""
    cfg = json.loads((path / "config.json").read_text())
    if name is not None:
        (path / name).write_bytes(data)
        cfg["files"][name] = hashlib.sha256(data).hexdigest()
    if edit is not None:
        edit(cfg)
    cfg["config_sha256"] = _config_digest(cfg)
    (path / "config.json").write_text(json.dumps(cfg))


def deep_json(levels=DEEP) -> str:
    return "[" * levels + "]" * levels


def resign_with_deep_config(path, key="info"):
    """A config whose ``key`` entry holds a JSON bomb, signed: its digest is computed over the text
    json.dumps would give, spliced by hand (json.dumps itself cannot nest that deep)."""
    cfg = json.loads((path / "config.json").read_text())
    cfg.pop("config_sha256")
    cfg[key] = "@BOMB@"
    body = json.dumps(cfg, sort_keys=True).replace('"@BOMB@"', deep_json())
    cfg_text = body[:-1] + f', "config_sha256": "{hashlib.sha256(body.encode()).hexdigest()}"}}'
    (path / "config.json").write_text(cfg_text)


def parquet_bytes(table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def edit_latents(path, fn):
    table = pq.read_table(path / "latents.parquet")
    resign(path, "latents.parquet", parquet_bytes(fn(table)))


def edit_model(path, fn):
    """``fn(tensors, meta)`` changes the model's tensors and metadata in place."""
    data = (path / "model.safetensors").read_bytes()
    tensors = st_load(data)
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    meta = json.loads(header["__metadata__"]["latentspace_state"])
    fn(tensors, meta)
    resign(path, "model.safetensors", st_save(tensors, metadata={"latentspace_state": json.dumps(meta)}))


def map_meta(path, name):
    table = pq.read_table(path / name)
    return table, json.loads(table.schema.metadata[b"latentspace.map"])


def write_map(path, name, table, meta=None, raw=None):
    raw = json.dumps(meta).encode() if raw is None else raw
    resign(path, name, parquet_bytes(table.replace_schema_metadata({b"latentspace.map": raw})))


def refused(path, match, action=None):
    """Opening the run (and ``action`` on it) raises one RunIntegrityError matching ``match``."""
    with pytest.raises(RunIntegrityError, match=match) as info:
        run = ls.open_run(path)
        if action is not None:
            action(run)
    assert "\n" not in str(info.value)
    return str(info.value)


def cli_error(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    out = " ".join(result.output.split())
    assert out.startswith("error:"), out
    return out


# --- runs to tamper ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory, digits):
    """A small autoencoder run with history, metrics, a PCA map and a t-SNE map with its graph."""
    from latentspace.knn import KnnGraph
    from latentspace.maps.latent_map import LatentMap
    from latentspace.maps.registry import check_params
    from latentspace.maps.store import map_run, save_map

    out = tmp_path_factory.mktemp("safety") / "ae"
    run = ls.fit(
        digits, "ae", latent_dim=3, out=out, epochs=1, hidden=(16,), arch="mlp", batch_size=256, threads=1
    )
    card = {"schema_version": 1, "results": {"reconstruction": {"params": {}, "values": {"mse": 0.1}}}}
    run.write_file("metrics.json", json.dumps(card).encode())
    map_run(run, "pca")
    Z = run.latent_matrix()
    params = check_params("tsne", {})
    emb = np.random.default_rng(0).normal(size=(len(Z), 2)).astype(np.float32)
    save_map(run, LatentMap("tsne", 2, params, 0, emb, Z))  # fitting t-SNE is not what is tested
    run.write_file("knn-euclidean.safetensors", KnnGraph.compute(Z, 90).to_bytes())
    return out


@pytest.fixture
def run(template, tmp_path):
    shutil.copytree(template, tmp_path / "ae")
    return tmp_path / "ae"


def test_the_template_is_sound(run):
    from latentspace.maps.store import load_map

    r = ls.open_run(run)
    assert r.load_model().latent_dim == 3 and r.latent_matrix().shape == (1797, 3)
    assert load_map(r, "tsne").graph.k == 90 and load_map(r, "pca").state["components"].shape == (2, 3)
    assert r.read_json("metrics.json")["results"] and len(r.read_json("history.json")) == 1


# --- 1. file names in config.json ----------------------------------------------------------------
@pytest.mark.parametrize(
    "name", [PASSWD, "/etc/passwd", "sub/notes.txt", ".."], ids=["up", "abs", "sub", "dotdot"]
)
def test_files_outside_the_folder_are_refused(run, name):
    target = (run / name) if name.startswith("sub/") else None
    if target is not None:
        target.parent.mkdir()
        target.write_text("x")
    digest = hashlib.sha256(open(run / name, "rb").read()).hexdigest() if name != ".." else "0" * 64
    resign(run, edit=lambda c: c["files"].update({name: digest}))
    msg = refused(run, "plain names inside its folder")
    assert repr(name) in msg and "config.json" in msg


def test_cli_info_does_not_verify_a_file_outside_the_run(run):
    digest = hashlib.sha256(open("/etc/passwd", "rb").read()).hexdigest()
    resign(run, edit=lambda c: c["files"].update({PASSWD: digest}))
    out = cli_error("info", run)
    assert repr(PASSWD) in out and "checksums verified" not in out


def test_a_link_leading_outside_the_folder_is_refused(run):
    (run / "notes.txt").symlink_to("/etc/passwd")
    digest = hashlib.sha256(open("/etc/passwd", "rb").read()).hexdigest()
    resign(run, edit=lambda c: c["files"].update({"notes.txt": digest}))
    refused(run, r"notes.txt is a link to a file outside the run folder")


# --- 2. config.json: missing keys, wrong types, bombs ----------------------------------------------
@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda c: c.pop("files"), r"config.json: files is missing"),
        (lambda c: c.update(files=["model.safetensors"]), r"config.json: files must be an object, got list"),
        (lambda c: c["files"].pop("latents.parquet"), r"config.json: files does not list latents.parquet"),
        (lambda c: c.update(latent_dim="three"), r"config.json: latent_dim must be an integer, got 'three'"),
        (lambda c: c["dataset"].update(n="many"), r"config.json: dataset.n must be an integer, got 'many'"),
        (
            lambda c: c["model"].update(params=[1, 2]),
            r"config.json: model.params must be an object, got list",
        ),
        (lambda c: c["split"].update(n_test=5), r"config.json: split.n_train \+ split.n_test = 1622 differ"),
        (
            lambda c: c["info"].update(x=["a"] * 9),
            r"config.json: info.x must be a number, a string or a list",
        ),
        (lambda c: c["dataset"].update(spec="digits"), r"config.json: dataset.spec must be"),
    ],
    ids=["no-files", "files-list", "no-latents", "latent-dim", "n", "params", "split", "info", "spec"],
)
def test_malformed_config_is_one_line(run, edit, match):
    resign(run, edit=edit)
    refused(run, match)


def test_cli_info_on_wrong_types_is_one_line(run):
    resign(run, edit=lambda c: c["dataset"].update(n="many"))
    assert "dataset.n must be an integer" in cli_error("info", run)


def test_deeply_nested_config_is_refused(run):
    resign_with_deep_config(run)
    refused(run, r"config.json is nested deeper than 32 levels")


# --- 3. the model --------------------------------------------------------------------------------
def _drop(name):
    return lambda t, m: t.pop(name)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            _drop("net.encoder.0.bias"),
            r"model.safetensors does not hold a valid ae state: tensor encoder.0.bias of its network is missing",
        ),
        (
            lambda t, m: t.update({"net.encoder.0.weight": np.zeros((16, 65), np.float32)}),
            r"tensor encoder.0.weight of its network has shape \[16, 65\], expected \[16, 64\]",
        ),
        (lambda t, m: m.update(n_features=65), r"the model reads 65 features; the run's data has 64"),
        (lambda t, m: m.update(n_features="64"), r"n_features must be an integer, got '64'"),
        (
            lambda t, m: t["net.encoder.0.weight"].__setitem__((0, 0), np.nan),
            r"tensor net.encoder.0.weight holds NaN or infinity",
        ),
        (
            lambda t, m: t.update({"prior.chol": np.eye(2)}),
            r"model.safetensors does not hold a working model",
        ),
    ],
    ids=["missing-tensor", "wrong-shape", "n-features", "meta-type", "nan", "prior"],
)
def test_malformed_model_is_one_line_naming_the_tensor(run, edit, match):
    edit_model(run, edit)
    msg = refused(run, match, lambda r: r.load_model())
    assert "model.safetensors" in msg


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda c: c["model"]["params"].update(bogus=1),
            r"config.json: model 'ae' cannot be rebuilt .*bogus",
        ),
        (
            lambda c: c["model"].update(name="evil"),
            r"config.json: model 'evil' cannot be rebuilt .*unknown model",
        ),
        # the size bounds are create_model's (models/); the run names the config when they refuse
        (
            lambda c: c["model"]["params"].update(hidden=[100_000_000]),
            r"config.json: model 'ae' cannot be rebuilt .*hidden = \[100000000\] makes a network",
        ),
        (
            lambda c: c["model"]["params"].update(latent_dim=10**9),
            r"config.json: model 'ae' cannot be rebuilt .*latent_dim = 1000000000",
        ),
    ],
    ids=["unknown-parameter", "unknown-model", "hidden", "latent-dim"],
)
def test_parameters_create_model_refuses_name_the_config(run, edit, match):
    resign(run, edit=edit)
    refused(run, match, lambda r: r.load_model())


def test_model_of_another_latent_size_is_refused(run):
    resign(run, edit=lambda c: c.update(latent_dim=2))
    refused(
        run,
        r"model.safetensors holds a model of 3 latent dimensions; config.json says 2",
        lambda r: r.load_model(),
    )


# --- 4. the latents ------------------------------------------------------------------------------
def _without_z(t):
    return t.select([c for c in t.column_names if not c.startswith("z_")])


def _set(t, name, values):
    return t.set_column(t.column_names.index(name), name, pa.array(values))


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (_without_z, r"latents.parquet: has no column z_0"),
        (
            lambda t: _set(t, "z_0", ["1.5"] * t.num_rows),
            r"column z_0 must hold floating-point numbers, got string",
        ),
        (
            lambda t: _set(t, "z_1", np.where(np.arange(t.num_rows) == 7, np.nan, 0.5)),
            r"column z_1 holds NaN, infinity or a missing value \(first at row 7\)",
        ),
        (lambda t: t.slice(0, 10), r"latents.parquet: has 10 rows; the run's data has 1,797"),
        (
            lambda t: _set(t, "label", np.full(t.num_rows, 99)),
            r"column label holds 99; the run has 10 label names",
        ),
        (
            lambda t: _set(t, "split", ["bogus"] * t.num_rows),
            r"column split holds 'bogus'; allowed: train, test",
        ),
        (lambda t: _set(t, "row", np.arange(t.num_rows)[::-1].copy()), r"column row must number the rows"),
    ],
    ids=["no-z", "z-strings", "nan", "ten-rows", "label", "split", "row"],
)
def test_malformed_latents_are_one_line(run, fn, match):
    edit_latents(run, fn)
    msg = refused(run, match, lambda r: r.latent_matrix())
    assert "latents.parquet" in msg


def test_garbage_latents_are_one_line(run):
    resign(run, "latents.parquet", b"PAR1 not really parquet PAR1")
    refused(run, r"latents.parquet is not a readable Parquet file", lambda r: r.latents())


def test_item_name_never_indexes_past_the_label_names(run):
    edit_latents(run, lambda t: _set(t, "label", np.full(t.num_rows, 10)))
    refused(run, r"column label holds 10", lambda r: r.item_name(0))


def test_item_name_out_of_range_is_one_line(run):
    from latentspace.errors import InputError

    with pytest.raises(InputError, match=r"item 1797 is out of range: ae has items 0..1796"):
        ls.open_run(run).item_name(1797)


# --- 5. maps and the kNN graph -------------------------------------------------------------------
def _load_map(method):
    from latentspace.maps.store import load_map

    return lambda r: load_map(r, method)


def test_map_cut_to_ten_rows_is_refused(run):
    table, meta = map_meta(run, "map-tsne.parquet")
    write_map(run, "map-tsne.parquet", table.slice(0, 10), meta)
    refused(run, r"map-tsne.parquet has 10 rows; the run has 1,797 latents", _load_map("tsne"))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.update(seed="zero"), r"seed must be an integer, got 'zero'"),
        (lambda m: m.update(params={"perplexity": -1.0}), r"tsne parameter perplexity must be"),
        (lambda m: m.update(method="pca"), r"holds a 2-D 'pca' map, not the 2-D tsne map"),
        (
            lambda m: m.update(quality={"trustworthiness": "high"}),
            r"quality.trustworthiness must be a number",
        ),
        (lambda m: m.update(params=[]), r"params must be an object, got list"),
    ],
    ids=["seed", "params", "method", "quality", "params-type"],
)
def test_malformed_map_metadata_is_one_line(run, change, match):
    table, meta = map_meta(run, "map-tsne.parquet")
    change(meta)
    write_map(run, "map-tsne.parquet", table, meta)
    msg = refused(run, match, _load_map("tsne"))
    assert "map-tsne.parquet" in msg


def test_deeply_nested_map_metadata_is_refused(run):
    table, _ = map_meta(run, "map-tsne.parquet")
    write_map(run, "map-tsne.parquet", table, raw=deep_json().encode())
    refused(run, r"map-tsne.parquet \(its map metadata\) is nested deeper than 32 levels", _load_map("tsne"))


def test_map_with_nan_coordinates_is_refused(run):
    table, meta = map_meta(run, "map-tsne.parquet")
    x = table["x"].to_numpy().copy()
    x[3] = np.nan
    write_map(run, "map-tsne.parquet", table.set_column(1, "x", pa.array(x)), meta)
    refused(run, r"map-tsne.parquet: column x holds NaN", _load_map("tsne"))


def test_pca_map_without_its_projection_is_refused(run):
    table, meta = map_meta(run, "map-pca.parquet")
    meta.pop("state")
    write_map(run, "map-pca.parquet", table, meta)
    refused(run, r"map-pca.parquet: a pca map keeps its mean in its metadata; it has none", _load_map("pca"))


def test_garbage_map_is_refused(run):
    resign(run, "map-tsne.parquet", b"not parquet at all")
    refused(run, r"map-tsne.parquet is not a readable Parquet file", _load_map("tsne"))


def test_graph_with_rows_out_of_range_is_refused(run):
    from latentspace.knn import KnnGraph

    g = KnnGraph.from_bytes((run / "knn-euclidean.safetensors").read_bytes(), "graph")
    g.indices[5, 0] = 10**6
    resign(run, "knn-euclidean.safetensors", g.to_bytes())
    refused(
        run, r"knn-euclidean.safetensors is not a valid kNN graph .* row numbers 0..1796", _load_map("tsne")
    )
    # and where the graph is used without a map: kNN queries, neighbourhood metrics
    from latentspace.knn import run_graph

    refused(run, r"is not a valid kNN graph .* row numbers 0..1796", lambda r: run_graph(r, 10))


def test_explorer_gets_the_error_when_it_loads_the_run(run):
    """The explorer reads runs through Run and maps.store: a bad run fails at load time."""
    from latentspace.web.app import load_state

    table, meta = map_meta(run, "map-tsne.parquet")
    write_map(run, "map-tsne.parquet", table.slice(0, 10), meta)
    with pytest.raises(RunIntegrityError, match="map-tsne.parquet has 10 rows"):
        load_state(0, run, "tsne")
    edit_latents(run, _without_z)
    with pytest.raises(RunIntegrityError, match="latents.parquet: has no column z_0"):
        load_state(0, run)


# --- 6. metrics.json and history.json ------------------------------------------------------------
def _read(name):
    return lambda r: r.read_json(name)


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("metrics.json", deep_json(), r"metrics.json is nested deeper than 32 levels"),
        ("metrics.json", "[1, 2]", r"metrics.json: must be an object, got list"),
        (
            "metrics.json",
            '{"results": {"probes": {"values": "high"}}}',
            r"results.probes.values must be an object",
        ),
        ("metrics.json", '{"results": [1]}', r"metrics.json: results must be an object, got list"),
        (
            "metrics.json",
            '{"results": {"probes": {"params": {}}}}',
            r"results.probes.values is missing",
        ),
        (
            "history.json",
            '[{"epoch": 1, "train_loss": "low"}]',
            r"history.json: \[0\].train_loss must be a number",
        ),
        ("history.json", deep_json(), r"history.json is nested deeper than 32 levels"),
        ("history.json", '{"epoch": 1}', r"history.json: must be a list, got dict"),
    ],
    ids=[
        "metrics-deep",
        "metrics-list",
        "metrics-values",
        "metrics-results",
        "metrics-entry",
        "history-str",
        "history-deep",
        "history-dict",
    ],
)
def test_malformed_json_files_are_one_line(run, name, data, match):
    resign(run, name, data.encode())
    refused(run, match, _read(name))


def test_deep_metrics_in_evaluate_and_compare(run, tmp_path):
    from latentspace.stages.evaluate import evaluate

    resign(run, "metrics.json", deep_json().encode())
    refused(run, r"metrics.json is nested deeper", lambda r: evaluate(r, ["reconstruction"]))
    other = tmp_path / "other"
    shutil.copytree(run, other)
    out = cli_error("compare", run, other, "--out", tmp_path / "c.html")
    assert "metrics.json is nested deeper than 32 levels" in out


@pytest.mark.parametrize("command", ["evaluate", "report"])
def test_deep_metrics_in_the_cli_is_one_line(run, command):
    resign(run, "metrics.json", deep_json().encode())
    assert "metrics.json is nested deeper than 32 levels" in cli_error(command, run)


def test_report_card_of_wrong_types_is_refused(run):
    from latentspace.report.html import _card_html

    resign(run, "metrics.json", b'{"results": {"probes": {"values": 3}}}')
    refused(
        run,
        r"results.probes.values must be an object, got 3",
        lambda r: _card_html(r.read_json("metrics.json")),
    )


# --- 7. the data spec ----------------------------------------------------------------------------
def test_builtin_rows_are_checked_before_generating_them(tmp_path):
    ds = ls.load_data("shapes", n=300, size=16, seed=0)
    path = tmp_path / "s"
    ls.fit(ds, "pca", latent_dim=2, out=path)
    resign(path, edit=lambda c: c["dataset"]["spec"]["args"].update(n=301))
    refused(
        path, r"config.json: dataset.spec asks for 301 rows; dataset.n is 300", lambda r: r.load_dataset()
    )


# --- 8. training checkpoints ---------------------------------------------------------------------
CLI_FIT = ["fit", "-d", "digits", "-m", "vae", "-k", "3", "--epochs", "3", "--batch-size", "256"]
CLI_FIT += ["-p", "hidden=[16]", "-p", "arch=mlp", "--threads", "1"]


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """``latentspace fit`` of a small VAE, interrupted after its first epoch: (out, checkpoint)."""
    from latentspace.train.engine import Trainer

    out = tmp_path_factory.mktemp("ckpt") / "v"

    def interrupt(self, epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Trainer, "_end_of_epoch", interrupt)
        result = CliRunner().invoke(app, [*CLI_FIT, "-o", str(out)])
    assert result.exit_code == 130, result.output
    return out


@pytest.fixture
def cut(interrupted, tmp_path):
    """A copy of the interrupted fit: (out, its last.safetensors)."""
    src = interrupted.parent / f".{interrupted.name}.checkpoints"
    shutil.copytree(src, tmp_path / ".v.checkpoints")
    return tmp_path / "v", tmp_path / ".v.checkpoints" / "train" / "last.safetensors"


def tensor_offset(path, name) -> int:
    """Where tensor ``name``'s bytes start in the safetensors file ``path``."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    return 8 + n + json.loads(data[8 : 8 + n])[name]["data_offsets"][0]


def flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def resume(out):
    return ls.fit(
        "digits",
        "vae",
        latent_dim=3,
        out=out,
        epochs=3,
        batch_size=256,
        hidden=[16],
        arch="mlp",
        threads=1,
        resume=True,
    )


@pytest.mark.parametrize("byte", [0, 3], ids=["low-order", "high-order"])
def test_a_flipped_checkpoint_byte_is_refused_on_resume(cut, byte):
    """float32 is little-endian: byte 0 is the lowest of the mantissa (resumed silently to other
    weights), byte 3 holds the sign and exponent (loaded, then diverged)."""
    out, last = cut
    flip(last, tensor_offset(last, "module.encoder.0.weight") + byte)
    with pytest.raises(RunIntegrityError, match=r"last.safetensors does not match its checksum") as info:
        resume(out)
    assert str(last) in str(info.value) and "\n" not in str(info.value)
    assert not out.exists()


def test_cli_resume_from_a_corrupted_checkpoint_is_one_line(cut):
    out, last = cut
    flip(last, tensor_offset(last, "optim.main.1.exp_avg"))
    msg = cli_error(*CLI_FIT, "-o", out, "--resume")
    assert "last.safetensors does not match its checksum" in msg


def test_the_untouched_checkpoint_resumes(cut):
    out, _ = cut
    assert [h["epoch"] for h in resume(out).read_json("history.json")] == [1, 2, 3]


def _repack(last, change):
    """Re-sign the checkpoint after ``change(tensors, meta)``, as anyone who can write it could."""
    from safetensors.torch import load

    from latentspace.train.checkpoint import pack

    data = last.read_bytes()
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(json.loads(data[8 : 8 + n])["__metadata__"]["latentspace_checkpoint"])
    tensors = load(data)
    change(tensors, meta)
    last.write_bytes(pack(tensors, meta))


def _torch_zeros(*shape):
    import torch

    return torch.zeros(*shape)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda t, m: t.pop("module.encoder.0.bias"), r"tensor module.encoder.0.bias is missing"),
        (
            lambda t, m: t.update({"module.encoder.0.weight": _torch_zeros(16, 65)}),
            r"tensor module.encoder.0.weight is torch.float32 \[16, 65\]; the model has torch.float32 \[16, 64\]",
        ),
        (
            lambda t, m: t["best.encoder.0.weight"].fill_(float("nan")),
            r"tensor best.encoder.0.weight holds NaN",
        ),
        (
            lambda t, m: t.update({"optim.main.1.exp_avg": _torch_zeros(())}),
            r"tensor optim.main.1.exp_avg is torch.float32 \[\]; its parameter is torch.float32",
        ),
        (
            lambda t, m: t.update({"optim.main.99.exp_avg": _torch_zeros(1)}),
            r"optim.main.99.exp_avg names no parameter",
        ),
        (
            lambda t, m: t.update({"stray": _torch_zeros(1)}),
            r"tensor stray belongs to no part of the training",
        ),
        (lambda t, m: t.pop("optim.main.1.exp_avg_sq"), r"state of parameter 1 has \['exp_avg', 'step'\]"),
        (lambda t, m: m["loop"].update(lr_scale="fast"), r"loop.lr_scale must be a number, got 'fast'"),
        (lambda t, m: m["loop"].update(extra=[1]), r"loop.extra must be a number, got list"),
        (lambda t, m: m["loop"].update(epoch="1"), r"loop.epoch must be a whole number >= 0, got '1'"),
        (lambda t, m: m["loop"].update(epoch=2), r"loop.history must list one row per epoch run \(2\)"),
        (
            lambda t, m: m["loop"]["history"][0].update(train_loss="low"),
            r"loop.history\[0\] must map names to numbers",
        ),
        (
            lambda t, m: m["param_groups"]["main"][0].update(lr=[[[1]]]),
            r"optimizer main setting lr must be a number",
        ),
        (lambda t, m: m["param_groups"]["main"][0].update(params=[0]), r"parameter group 0 does not match"),
    ],
    ids=[
        "missing",
        "shape",
        "best-nan",
        "moment-shape",
        "moment-index",
        "stray",
        "moment-missing",
        "lr-scale",
        "loop-extra",
        "epoch-type",
        "epoch-history",
        "history-row",
        "lr",
        "params",
    ],
)
def test_a_resigned_but_malformed_checkpoint_is_refused(cut, change, match):
    out, last = cut
    _repack(last, change)
    with pytest.raises(RunIntegrityError, match=match) as info:
        resume(out)
    assert "last.safetensors" in str(info.value) and "\n" not in str(info.value)


def test_a_checkpoint_without_checksum_is_refused(cut):
    from safetensors.torch import load, save

    out, last = cut
    data = last.read_bytes()
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8 : 8 + n])["__metadata__"]
    last.write_bytes(save(load(data), metadata={"latentspace_checkpoint": meta["latentspace_checkpoint"]}))
    with pytest.raises(RunIntegrityError, match=r"last.safetensors has no checksum"):
        resume(out)


def test_history_rows_may_name_their_stage_only(run):
    """A GAN's history rows say which stage they belong to; no other field may be text."""
    resign(run, "history.json", b'[{"epoch": 1, "stage": "gan"}, {"epoch": 1, "stage": "encoder"}]')
    assert len(ls.open_run(run).read_json("history.json")) == 2
    resign(run, "history.json", b'[{"epoch": 1, "stage": "<script>"}]')
    refused(run, r"history.json: \[0\].stage must be a stage name", lambda r: r.read_json("history.json"))
