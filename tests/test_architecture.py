"""The package's shape: no import circles, light imports, no process-wide settings changed at import.

Imports are read from the source (every ``import`` anywhere in a file, the lazy ones inside functions
included, except those under ``if TYPE_CHECKING``), so a circle is found even where Python would
tolerate it at run time.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import latentspace

PKG = Path(latentspace.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every latentspace module ``path`` imports (absolute names)."""
    tree = ast.parse(path.read_text())
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("latentspace"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("latentspace"):
                continue
            for alias in node.names:  # `from . import ops` imports the module ops, not the package
                sub = f"{mod}.{alias.name}"
                out.add(sub if sub in modules else mod)
    return out


def _graph(level: int) -> dict[str, set[str]]:
    """Import edges between units named by their first ``level`` components under latentspace
    (1: subpackages such as ``maps``; 2: modules such as ``maps.store``)."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}

    def unit(name: str) -> str:
        return ".".join(name.split(".")[1 : 1 + level])

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        if name == "latentspace":  # the lazy top-level names point everywhere by design
            continue
        for target in _imports(path, set(modules)):
            src, dst = unit(name), unit(target)
            if dst and dst != src:
                graph.setdefault(src, set()).add(dst)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("level", [1, 2], ids=["packages", "modules"])
def test_no_import_circle(level):
    cycle = _cycle(_graph(level))
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_check_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_layers():
    """The low rooms import none of the rooms above them."""
    graph = _graph(1)
    below = {
        "knn": {"maps", "metrics", "ops", "interpret", "stages", "report", "web", "cli"},
        "metrics": {"maps", "interpret", "cluster", "stages", "report", "web", "cli"},
        "models": {"stages", "report", "web", "cli", "maps", "metrics", "interpret"},
        "runfolder": {"interpret", "stages", "report", "web", "cli"},
        "maps": {"interpret"},
        "interpret": {"cluster", "stages", "report", "web", "cli"},
        "report": {"stages", "web", "cli"},
        "stages": {"web", "cli"},
    }
    for room, above in below.items():
        assert not graph.get(room, set()) & above, f"{room} imports {graph[room] & above}"


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(_module_name(p) for p in PKG.rglob("*.py") if p.name != "__main__.py")
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    res = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]


def test_import_is_light_and_changes_no_process_setting():
    """`import latentspace` (and the CLI's app) pulls in neither torch nor scikit-learn, and leaves
    torch's process-wide settings as they were."""
    code = (
        "import sys, latentspace, latentspace.cli\n"
        "heavy = sorted(m for m in ('torch', 'sklearn', 'numba', 'scipy', 'faiss') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "import torch\n"
        "before = (torch.get_num_threads(), torch.get_default_dtype(), torch.are_deterministic_algorithms_enabled())\n"
        "import latentspace.models.vae, latentspace.train.engine, latentspace.maps.umap\n"
        "import latentspace.metrics, latentspace.stages.fit, latentspace.web.app\n"
        "after = (torch.get_num_threads(), torch.get_default_dtype(), torch.are_deterministic_algorithms_enabled())\n"
        "assert before == after, (before, after)\n"
        "x = torch.tensor([1e-40], dtype=torch.float32)\n"
        "assert x.item() != 0.0, 'subnormals are flushed to zero after import'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
