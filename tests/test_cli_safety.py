"""Nothing lost, nothing crashes (issue 23): every command that writes refuses an existing target
unless --overwrite and never writes inside a run folder; a refused or failed fit leaves nothing
behind while an interrupted one stays resumable; user text is printed as it is; sizes, counts and
seeds are bounded with the option named; a busy port is one line."""

import errno
import hashlib
import socket

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

import latentspace as ls
from latentspace import ops
from latentspace.cli import app
from latentspace.errors import InputError
from latentspace.runfolder import Run

runner = CliRunner()
PRECIOUS = b"precious bytes the user did not ask to replace\n"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *parts):
    """Exit code 2, no traceback, one line, and every part in it."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    for part in parts:
        assert part in lines[0], (part, lines[0])


def snapshot(root):
    """Every path under ``root`` with the sha256 of each file (None for folders)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    ls.fit("digits", "pca", latent_dim=4, out=root / "a")
    ls.fit("digits", "pca", latent_dim=3, out=root / "b")
    ls.fit(ls.load_data("swissroll", n=300), "pca", latent_dim=2, out=root / "roll")
    return root


@pytest.fixture
def no_long_work(monkeypatch):
    """demo and reproduce fail loudly if they start their work (the checks must come first)."""
    import latentspace.reproduce
    import latentspace.stages.fit

    def started(*a, **k):
        raise AssertionError("the long work started before the targets were checked")

    monkeypatch.setattr(latentspace.stages.fit, "fit", started)
    monkeypatch.setattr(latentspace.reproduce, "reproduce", started)


# command -> (arguments before the target, option naming it, the target's suffix, arguments after)
WRITERS = {
    "encode": (["encode", "{a}", "-d", "digits"], "--out", ".parquet", []),
    "sample": (["sample", "{a}", "-n", 4], "--out", ".png", []),
    "reconstruct": (["reconstruct", "{a}", "-n", 4], "--out", ".png", []),
    "interpolate": (["interpolate", "{a}", "--from", 0, "--to", 1, "--steps", 3], "--out", ".png", []),
    "traverse": (["traverse", "{a}", "--item", 0, "--dims", "0-1", "--steps", 3], "--out", ".png", []),
    "attribute": (
        ["attribute", "{a}", "--where", "label==3", "--item", 0, "--alphas", "-1:1:3"],
        "--out",
        ".png",
        [],
    ),
    "neighbours": (["neighbours", "{a}", "--item", 0, "-k", 3], "--out", ".png", []),
    "compare": (["compare", "{a}", "{b}"], "--out", ".html", []),
    "reproduce": (["reproduce", "--only", "manifold_2d", "--out", "{res}"], "--md", ".md", []),
}


def writer_args(name, runs, target, *extra):
    before, option, _, after = WRITERS[name]
    fill = {"{a}": runs / "a", "{b}": runs / "roll", "{res}": runs / "results"}
    return [fill.get(str(v), v) for v in before] + [option, target, *after, *extra]


@pytest.mark.parametrize("name", list(WRITERS))
def test_an_existing_target_is_kept(runs, tmp_path, no_long_work, name):
    target = tmp_path / f"mine{WRITERS[name][2]}"
    target.write_bytes(PRECIOUS)
    one_line_error(invoke(*writer_args(name, runs, target)), str(target), "already exists", "--overwrite")
    assert target.read_bytes() == PRECIOUS and sorted(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("name", list(WRITERS))
def test_nothing_is_written_inside_a_run_folder(runs, no_long_work, name):
    """Not over a run's own files (encode onto another run's latents.parquet was the issue's case),
    not beside them, not in a sub-folder, even with --overwrite."""
    before = snapshot(runs / "b")
    for target in (runs / "b" / "latents.parquet", runs / "b" / f"new{WRITERS[name][2]}"):
        for extra in ([], ["--overwrite"]):
            result = invoke(*writer_args(name, runs, target, *extra))
            one_line_error(result, "is inside the run folder", str(runs / "b"))
    nested = runs / "b" / "sub" / f"x{WRITERS[name][2]}"
    one_line_error(invoke(*writer_args(name, runs, nested, "--overwrite")), "is inside the run folder")
    assert snapshot(runs / "b") == before
    Run(runs / "b")  # still verifies


def test_fit_and_demo_never_write_inside_a_run(runs, no_long_work):
    before = snapshot(runs / "b")
    one_line_error(invoke("fit", "-d", "digits", "-k", 2, "-o", runs / "b" / "r"), "is inside the run folder")
    one_line_error(invoke("demo", "--out", runs / "b", "--no-serve"), "is inside the run folder")
    assert snapshot(runs / "b") == before


def test_demo_refuses_an_existing_comparison(tmp_path, no_long_work):
    (tmp_path / "compare.html").write_bytes(PRECIOUS)
    one_line_error(
        invoke("demo", "--out", tmp_path, "--no-serve"), "compare.html already exists", "--overwrite"
    )
    assert snapshot(tmp_path) == {"compare.html": hashlib.sha256(PRECIOUS).hexdigest()}


def test_reproduce_refuses_an_existing_results_folder(tmp_path, no_long_work):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "knn_mnist.json").write_bytes(PRECIOUS)
    result = invoke("reproduce", "--out", tmp_path / "results", "--md", tmp_path / "R.md")
    one_line_error(result, "results already exists", "--overwrite")
    assert (tmp_path / "results" / "knn_mnist.json").read_bytes() == PRECIOUS


def test_the_csv_beside_a_vector_figure_is_kept_too(runs, tmp_path):
    out = tmp_path / "strip.png"
    out.with_suffix(".csv").write_bytes(PRECIOUS)
    result = invoke("interpolate", runs / "roll", "--from", 0, "--to", 1, "--steps", 3, "--out", out)
    one_line_error(result, "strip.csv already exists", "--overwrite")
    assert not out.exists() and out.with_suffix(".csv").read_bytes() == PRECIOUS
    result = invoke(
        "interpolate", runs / "roll", "--from", 0, "--to", 1, "--steps", 3, "--out", out, "--overwrite"
    )
    assert result.exit_code == 0, result.output
    assert out.with_suffix(".csv").read_text().startswith("row,column,")


def test_overwrite_replaces_the_target(runs, tmp_path):
    png, table = tmp_path / "s.png", tmp_path / "z.parquet"
    png.write_bytes(PRECIOUS)
    table.write_bytes(PRECIOUS)
    assert invoke("sample", runs / "a", "-n", 4, "--out", png, "--overwrite").exit_code == 0
    with Image.open(png) as im:
        assert im.format == "PNG"
    result = invoke("encode", runs / "a", "-d", "digits", "--out", table, "--overwrite")
    assert result.exit_code == 0, result.output
    assert pq.read_table(table).num_rows == 1797


def test_fit_refuses_a_file_as_its_run_folder(tmp_path):
    target = tmp_path / "r"
    target.write_bytes(PRECIOUS)
    for extra in ([], ["--overwrite"]):
        result = invoke("fit", "-d", "digits", "-k", 2, "-o", target, *extra)
        one_line_error(result, str(target), "--out")
    assert target.read_bytes() == PRECIOUS


def test_encode_writes_the_format_its_suffix_names(runs, tmp_path):
    out = tmp_path / "z.csv"
    result = invoke("encode", runs / "a", "-d", "digits", "--out", out)
    assert result.exit_code == 0, result.output
    table = pcsv.read_csv(out)
    assert table.column_names[:5] == ["row", "z_0", "z_1", "z_2", "z_3"] and table.num_rows == 1797
    Z = Run(runs / "a").latent_matrix()
    np.testing.assert_allclose(table["z_2"].to_numpy(), Z[:, 2], rtol=1e-5, atol=1e-5)
    for bad in ("z.txt", "z.npy", "z"):
        result = invoke("encode", runs / "a", "-d", "digits", "--out", tmp_path / bad)
        one_line_error(result, "--out must end in .parquet or .csv", bad)
        assert not (tmp_path / bad).exists()
    (tmp_path / "folder").mkdir()
    one_line_error(
        invoke("encode", runs / "a", "-d", "digits", "--out", tmp_path / "folder", "--overwrite"),
        "is a folder",
    )


def test_a_target_that_appears_during_the_work_is_not_replaced(runs, tmp_path, monkeypatch):
    """The final rename refuses to replace a file that appeared after the check (no --overwrite)."""
    from latentspace.runfolder import folder

    out = tmp_path / "z.parquet"
    real = folder.latents_table

    def appear(*a, **k):
        out.write_bytes(PRECIOUS)
        return real(*a, **k)

    monkeypatch.setattr(folder, "latents_table", appear)
    one_line_error(invoke("encode", runs / "a", "-d", "digits", "--out", out), "already exists")
    assert out.read_bytes() == PRECIOUS and sorted(p.name for p in tmp_path.iterdir()) == ["z.parquet"]


VAE = ["fit", "-d", "digits", "-m", "vae", "-k", 2, "--epochs", 3, "-p", "hidden=[16]", "--threads", 1]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--lr", "1e9"], "training stopped"),  # diverges in the first epoch
        (["--device", "cuda"], "no CUDA GPU is available"),  # refused once the engine starts
    ],
)
def test_a_refused_or_failed_fit_leaves_nothing(tmp_path, extra, message):
    import torch

    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    one_line_error(invoke(*VAE, "-o", tmp_path / "v", *extra), message)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_fit_stays_resumable(tmp_path, monkeypatch):
    """Ctrl-C keeps the checkpoints; so does a failure of the machine (disk, memory) once an epoch
    is saved; --resume then ends the run and nothing is left beside it."""
    from latentspace.train.engine import Trainer

    def stop(exc):
        def end_of_epoch(self, epoch):
            if epoch == 1:
                raise exc

        monkeypatch.setattr(Trainer, "_end_of_epoch", end_of_epoch)

    ckpt = tmp_path / ".v.checkpoints"
    stop(KeyboardInterrupt())
    assert invoke(*VAE, "-o", tmp_path / "v").exit_code == 130
    assert (ckpt / "fit.json").is_file() and (ckpt / "train" / "last.safetensors").is_file()
    stop(OSError(errno.ENOSPC, "No space left on device"))
    result = invoke(*VAE, "-o", tmp_path / "w")
    assert result.exit_code == 2 and "--resume" in result.output, result.output
    assert (tmp_path / ".w.checkpoints" / "train" / "last.safetensors").is_file()
    monkeypatch.undo()
    for name in ("v", "w"):
        result = invoke(*VAE, "-o", tmp_path / name, "--resume")
        assert result.exit_code == 0, result.output
        assert Run(tmp_path / name).config["info"]["epochs_run"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v", "w"]


def test_user_text_is_printed_as_it_is(runs, tmp_path):
    one_line_error(invoke("info", "runs/[bold]x"), "no run folder at runs/[bold]x")
    one_line_error(invoke("info", tmp_path / "[/x]"), f"no run folder at {tmp_path / '[/x]'}")
    attribute = ["attribute", runs / "a", "--where", "label==3", "--item", 0, "--out", tmp_path / "e.png"]
    one_line_error(invoke(*attribute, "--alphas", "[/x]"), "got '[/x]'")
    one_line_error(invoke(*attribute, "--alphas", "[bold]a:b:c"), "got '[bold]a:b:c'")
    out = tmp_path / "[red]s[/red].png"
    result = invoke("sample", runs / "a", "-n", 4, "--out", out)
    assert result.exit_code == 0 and f"wrote {out}" in result.output, result.output
    result = invoke("fit", "-d", "digits", "-k", 2, "-o", tmp_path / "[bold]r")
    assert result.exit_code == 0 and f"-> {tmp_path / '[bold]r'}" in result.output, result.output


@pytest.mark.parametrize(
    "args, parts",
    [
        (["sample", "-n", 1_000_000_000], ["-n must be at most 10,000", "1,000,000,000"]),
        (["interpolate", "--from", 0, "--to", 1, "--steps", 100_000_000], ["--steps must be at most 1,000"]),
        (["traverse", "--item", 0, "--steps", 10_000_000], ["--steps must be at most"]),
        (["traverse", "--item", 0, "--dims", "0-100000000000"], ["dims 0-100000000000 out of range", "0..3"]),
        (
            ["attribute", "--where", "label==3", "--item", 0, "--alphas", "-2:2:10000000"],
            ["--alphas", "1,000"],
        ),
        (["attribute", "--where", "label==3", "--item", 0, "--alphas", "-2:2:10000000000000"], ["--alphas"]),
        (["reconstruct", "-n", 100_000], ["-n must be at most 1,000"]),
        (["neighbours", "--item", 0, "-k", 1500], ["-k must be at most 999"]),
    ],
)
def test_sizes_are_bounded_with_the_option_named(runs, tmp_path, args, parts):
    out = tmp_path / "x.png"
    one_line_error(invoke(args[0], runs / "a", *args[1:], "--out", out), *parts)
    assert not out.exists()


def test_the_library_bounds_what_an_operation_decodes(runs):
    model = Run(runs / "a").load_model()  # 4 latents, 64 features: 272 bytes an item
    most = f"at most {ops.MAX_OUTPUT_BYTES // (4 * (4 + 64)):,} fit in the 2 GiB"
    z = np.zeros(4, np.float32)
    cases = [
        (lambda: ops.sample(model, 10**9), ["n asks for 1,000,000,000 decoded items", most]),
        (lambda: ops.interpolate(model, z, z, steps=10**8), ["steps asks for 100,000,000", most]),
        (
            lambda: ops.traverse(model, z, "0-3", steps=10**7, reference=np.eye(4)),
            ["steps x dims asks for 40,000,000", most],
        ),
        (lambda: ops.edit(model, z, z, np.zeros(10**7)), ["alphas asks for 10,000,000", most]),
        (lambda: ops.parse_dims("0-1000000000000", 4), ["dims 0-1000000000000 out of range", "0..3"]),
    ]
    for call, parts in cases:
        with pytest.raises(InputError) as err:
            call()
        assert all(part in str(err.value) for part in parts), str(err.value)
    assert ops.sample(model, 3).X.shape == (3, 64)


@pytest.mark.parametrize(
    "args, option",
    [
        (["sample", "{a}", "--seed", -1, "--out", "{out}"], "--seed"),
        (["sample", "{a}", "--seed", 2**32, "--out", "{out}"], "--seed"),
        (["reconstruct", "{a}", "--seed", -1, "--out", "{out}"], "--seed"),
        (["reconstruct", "{a}", "-n", 0, "--out", "{out}"], "-n must be at least 1"),
        (["fit", "-d", "digits", "--seed", -1, "-o", "{out}"], "--seed"),
        (["map", "{a}", "--method", "pca", "--seed", -1], "--seed"),
        (["map", "{a}", "--method", "pca", "--k", 0], "--k must be at least 1"),
        (["report", "{a}", "--seed", -1], "--seed"),
        (["demo", "--out", "{out}", "--epochs", 0, "--no-serve"], "--epochs must be at least 1"),
    ],
)
def test_every_option_error_names_the_option(runs, tmp_path, args, option):
    fill = {"{a}": runs / "a", "{out}": tmp_path / "x.png"}
    before = snapshot(runs / "a")
    one_line_error(invoke(*[fill.get(str(v), v) for v in args]), option)
    assert snapshot(runs / "a") == before and list(tmp_path.iterdir()) == []


@pytest.fixture
def never_serve(monkeypatch):
    import uvicorn

    def serve(*a, **k):
        raise AssertionError("the server started")

    monkeypatch.setattr(uvicorn.Server, "run", serve)
    monkeypatch.setattr(uvicorn, "run", serve)


def _busy_port():
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, holder.getsockname()[1]


def test_explore_on_a_busy_port_is_one_line(runs, never_serve):
    holder, port = _busy_port()
    with holder:
        result = invoke("explore", runs / "a", "--port", port)
    one_line_error(result, f"port {port} is in use; pick another with --port")


def test_explore_loses_the_race_for_a_port_in_one_line(runs, never_serve, monkeypatch):
    """Another server takes the port after the check: at listen (both bound with SO_REUSEADDR), or
    as uvicorn binds (it exits with 1 or 3): the same kind of line, exit code 2."""
    import uvicorn

    real_listen = socket.socket.listen

    def taken(self, *a):
        raise OSError(errno.EADDRINUSE, "Address already in use")

    monkeypatch.setattr(socket.socket, "listen", taken)
    result = invoke("explore", runs / "a", "--port", 8799)
    one_line_error(result, "port 8799 is in use; pick another with --port")
    monkeypatch.setattr(socket.socket, "listen", real_listen)

    def uvicorn_cannot_bind(*a, **k):
        raise SystemExit(3)

    monkeypatch.setattr(uvicorn, "run", uvicorn_cannot_bind)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    holder.close()
    result = invoke("explore", runs / "a", "--port", port)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1].startswith(f"error: port {port} is in use")


def test_demo_checks_its_port_before_the_long_work(tmp_path, never_serve, no_long_work):
    holder, port = _busy_port()
    with holder:
        result = invoke("demo", "--out", tmp_path / "d", "--port", port)
    one_line_error(result, f"port {port} is in use; pick another with --port")
    assert not (tmp_path / "d").exists()
