"""The README's Python tour runs as written (on smaller data and one epoch), so it cannot rot."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_tour_runs(tmp_path, monkeypatch):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    tour = [b for b in blocks if b.startswith("import latentspace as ls") and "ls.load_data(" in b]
    assert tour, "README has no Python tour"
    code = tour[0].replace("n=5000", "n=600").replace("epochs=10", "epochs=1")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)  # noqa: S102 - our own README
    assert scope["Z"].shape == (600, 8) and scope["strip"].X.shape == (8, 1024)
    assert len(scope["idx"]) == 8 and "results" in scope["card"]
    assert scope["m"].embedding.shape == (600, 2)


def test_readme_is_for_users():
    text = README.read_text()
    assert len(text.splitlines()) < 250
    assert "make demo" in text and "make test" in text
    assert "../" not in text, "README links outside the repository"
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        if not link.startswith("http"):
            assert (README.parent / link).exists(), f"README links to missing {link}"


def test_onnx_export_lines_make_files_latentspace_imports(tmp_path, monkeypatch):
    """The README's torch.onnx.export lines, run on small networks of the sizes they name, write
    an encoder and a decoder that `latentspace import` takes (shapes checked against MNIST's)."""
    import numpy as np
    import torch

    from latentspace.models.onnx import OnnxModel

    text = README.read_text()
    export = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "torch.onnx.export" in b)
    encoder = torch.nn.Sequential(torch.nn.Linear(784, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16))
    decoder = torch.nn.Sequential(torch.nn.Linear(16, 784), torch.nn.Sigmoid())
    monkeypatch.chdir(tmp_path)
    exec(compile(export, str(README), "exec"), {"torch": torch, "encoder": encoder, "decoder": decoder})  # noqa: S102
    X = np.random.default_rng(0).random((50, 784), dtype=np.float32)
    model = OnnxModel.from_files(tmp_path / "enc.onnx", tmp_path / "dec.onnx").fit(X)
    with torch.no_grad():
        want = decoder(encoder(torch.from_numpy(X))).numpy()
    assert np.abs(model.decode(model.encode(X)) - want).max() < 1e-5
