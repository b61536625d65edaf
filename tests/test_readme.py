"""The README's Python tour runs as written (on smaller data and one epoch), so it cannot rot."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_tour_runs(tmp_path, monkeypatch):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no Python block"
    code = blocks[0].replace("n=5000", "n=600").replace("epochs=10", "epochs=1")
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
