"""Optional parts: a command that needs a missing extra says which in one line (exit code 2, no
traceback) before any work, and the core commands run with every optional package unimportable.

The CLI runs in subprocesses whose import system refuses the optional packages (a meta-path finder
raising ``ModuleNotFoundError``, as for a package that is not installed)."""

import subprocess
import sys

import pytest

from latentspace import extras
from latentspace.errors import MissingDependencyError

from .conftest import OPTIONAL


def blocker(names=OPTIONAL) -> str:
    return (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.partition('.')[0] in {tuple(names)!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )


def cli(*args, cwd, names=OPTIONAL):
    """``latentspace ARGS`` with ``names`` unimportable; also reports which optional modules got
    imported (none can be, but a failed import attempt is caught as well)."""
    code = (
        blocker(names) + "from latentspace.cli import main\n"
        f"sys.argv = ['latentspace', *{[str(a) for a in args]!r}]\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        f"    print('imported:', sorted(m for m in sys.modules if m.partition('.')[0] in {OPTIONAL!r}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)


def one_error_line(res) -> str:
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_require_names_the_extra_and_the_install_command(monkeypatch):
    real = extras.importlib.util.find_spec
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda n: None if n == "uvicorn" else real(n))
    assert extras.missing("explorer") == ["uvicorn"] and not extras.available("explorer")
    with pytest.raises(MissingDependencyError) as e:
        extras.require("explorer", "`latentspace explore`")
    assert str(e.value) == (
        "`latentspace explore` needs the explorer extra: pip install 'latentspace[explorer]' (missing: uvicorn)"
    )
    assert isinstance(e.value, ImportError)
    extras.require("dask", "--dask")  # installed here: no error
    with pytest.raises(ValueError, match="unknown extra 'gpu'; the extras are explorer, dask, onnx"):
        extras.require("gpu", "x")


def test_every_extra_is_declared_in_pyproject():
    from pathlib import Path

    import tomllib

    declared = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for extra in extras.EXTRAS:
        assert extra in declared, extra


def test_onnx_models_name_their_extra(monkeypatch):
    from latentspace.models import onnx

    monkeypatch.setattr(extras, "missing", lambda extra: ["onnxruntime"] if extra == "onnx" else [])
    with pytest.raises(
        MissingDependencyError, match=r"needs the onnx extra: pip install 'latentspace\[onnx\]'"
    ):
        onnx._ort()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A digits PCA run fitted, encoded, mapped and evaluated with no optional package importable."""
    d = tmp_path_factory.mktemp("extras")
    steps = [
        ("fit", "--data", "digits", "--model", "pca", "-k", "4", "--out", "run"),
        ("encode", "run", "--data", "digits", "--out", "z.parquet"),
        ("map", "run", "--method", "pca"),
        ("evaluate", "run", "--metrics", "reconstruction,probes"),
    ]
    results = {s[0]: cli(*s, cwd=d) for s in steps}
    return d, results


def test_core_commands_run_without_any_extra(work):
    import json

    import pyarrow.parquet as pq

    d, results = work
    for name, res in results.items():
        assert res.returncode == 0, (name, res.stderr[-2000:])
        assert "imported: []" in res.stdout, (name, res.stdout[-500:])
    assert pq.read_table(d / "z.parquet").num_rows == 1797
    card = json.loads((d / "run" / "metrics.json").read_text())["results"]
    assert card["probes"]["values"]["linear_probe_latent"] > 0.6  # 4 PCA components of the digits


def test_explore_without_the_explorer_extra_is_one_line(work):
    d, _ = work
    line = one_error_line(cli("explore", "run", "--port", "0", cwd=d))
    assert line == (
        "error: `latentspace explore` needs the explorer extra: pip install 'latentspace[explorer]'"
        " (missing: fastapi, uvicorn)"
    )


def test_demo_without_the_explorer_extra_stops_before_any_work(work, tmp_path):
    line = one_error_line(cli("demo", "--out", tmp_path / "demo", cwd=tmp_path))
    assert (
        "`latentspace demo` (serving the explorer at its end; --no-serve skips it) needs the explorer" in line
    )
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("command", ["encode", "evaluate"])
def test_dask_without_the_dask_extra_is_one_line(work, command):
    d, _ = work
    args = (
        ["encode", "run", "--data", "digits", "--out", "z2.parquet"]
        if command == "encode"
        else ["evaluate", "run"]
    )
    line = one_error_line(cli(*args, "--dask", "local", cwd=d))
    assert (
        line
        == "error: --dask needs the dask extra: pip install 'latentspace[dask]' (missing: dask, distributed)"
    )
    assert not (d / "z2.parquet").exists()


def test_export_to_anndata_without_the_extra_is_one_line(work):
    d, _ = work
    line = one_error_line(cli("export", "run", "--to", "anndata", "--out", "a.h5ad", cwd=d))
    assert line == (
        "error: `latentspace export --to anndata` needs the anndata extra:"
        " pip install 'latentspace[anndata]' (missing: anndata)"
    )
    # the other formats need no extra
    res = cli("export", "run", "--to", "projector", "--out", "proj", cwd=d)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (d / "proj").iterdir())[:2] == ["metadata.tsv", "projector_config.json"]
