"""The package without extras, installed the way a user installs it: a wheel built from this tree,
``pip install``-ed into a fresh venv beside the CPU torch of constraints.txt, and the core commands
run there on the digits (fit a VAE, encode, a UMAP map, evaluate), while ``latentspace explore``
names the extra it lacks in one line with exit code 2.

Slow (a few minutes: pip resolves and installs the core's dependencies, numba compiles the UMAP
layout); `make test-all` runs it. pip reads the package registries, and its cache where it has one.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import OPTIONAL

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(
    ".git",
    ".venv",
    "runs",
    "results",
    "test-artifacts",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
)

pytestmark = pytest.mark.slow


def sh(*args, cwd, timeout=900):
    res = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return res


def ok(res):
    assert res.returncode == 0, (res.args, res.stdout[-2000:], res.stderr[-3000:])
    return res


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """(bin folder, work folder): a venv holding torch (constraints.txt's pin) and the wheel alone."""
    base = tmp_path_factory.mktemp("install")
    tree = base / "tree"
    shutil.copytree(ROOT, tree, ignore=SKIP)  # the build writes build/ and egg-info beside the sources
    ok(
        sh(
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            base / "dist",
            ".",
            cwd=tree,
        )
    )
    (wheel,) = (base / "dist").glob("latentspace-*.whl")
    ok(sh(sys.executable, "-m", "venv", base / "venv", cwd=base))
    pip = [base / "venv" / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    ok(sh(*pip, "-c", ROOT / "constraints.txt", "torch==2.13.0", cwd=base))
    ok(sh(*pip, "-c", ROOT / "constraints.txt", wheel, cwd=base))
    work = base / "work"
    work.mkdir()
    return base / "venv" / "bin", work


def test_no_optional_package_is_installed(venv):
    bin_, work = venv
    code = f"import importlib.util as u, json; print(json.dumps([m for m in {OPTIONAL!r} if u.find_spec(m)]))"
    found = json.loads(ok(sh(bin_ / "python", "-c", code, cwd=work)).stdout)
    assert found == []
    version = ok(sh(bin_ / "python", "-c", "import torch; print(torch.__version__)", cwd=work)).stdout
    assert version.startswith("2.13.0")


def test_core_commands_run_on_digits(venv):
    bin_, work = venv
    ls = bin_ / "latentspace"
    ok(
        sh(
            ls,
            "fit",
            "--data",
            "digits",
            "--model",
            "vae",
            "-k",
            "4",
            "--epochs",
            "3",
            "--out",
            "vae",
            cwd=work,
        )
    )
    ok(sh(ls, "encode", "vae", "--data", "digits", "--out", "z.parquet", cwd=work))
    ok(sh(ls, "map", "vae", "--method", "umap", cwd=work))
    ok(sh(ls, "evaluate", "vae", "--metrics", "reconstruction,probes,neighbourhood", cwd=work))
    check = (
        "import json, numpy as np, pyarrow.parquet as pq, latentspace as ls\n"
        "r = ls.open_run('vae')\n"
        "z = pq.read_table('z.parquet')\n"
        "Z = np.column_stack([z[f'z_{j}'].to_numpy() for j in range(4)])\n"
        "card = json.load(open('vae/metrics.json'))['results']\n"
        "print(json.dumps({'rows': z.num_rows, 'map': r.map('umap').num_rows,\n"
        "  'encoded_vs_fit': float(np.abs(Z - r.latent_matrix()).max()),\n"
        "  'probe': card['probes']['values']['knn_latent'],\n"
        "  'trust': card['neighbourhood']['values']['trustworthiness']}))\n"
    )
    got = json.loads(ok(sh(bin_ / "python", "-c", check, cwd=work)).stdout)
    assert got["rows"] == got["map"] == 1797
    assert got["encoded_vs_fit"] < 1e-4  # encode gives the latents the fit stored
    # 3 epochs of a 4-d VAE (measured: kNN probe 0.63 against 0.1 by chance, trustworthiness 0.84)
    assert got["probe"] > 0.4 and got["trust"] > 0.75


def test_explore_names_the_explorer_extra(venv):
    bin_, work = venv
    if not (work / "vae").exists():
        pytest.skip("needs the run of test_core_commands_run_on_digits")
    res = sh(bin_ / "latentspace", "explore", "vae", cwd=work)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "error: `latentspace explore` needs the explorer extra: pip install 'latentspace[explorer]'"
        " (missing: fastapi, uvicorn)"
    ]
