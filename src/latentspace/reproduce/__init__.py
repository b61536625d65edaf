"""Published results, reproduced: run the experiments and write RESULTS.md (``latentspace reproduce``)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path

from ..errors import InputError
from .experiments import EXPERIMENTS, Context, Experiment, Row, run

__all__ = ["EXPERIMENTS", "Context", "Experiment", "Row", "reproduce", "render"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("latentspace", "torch", "numpy", "scikit-learn", "openTSNE", "umap-learn", "faiss-cpu"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


def render(experiments: list[Experiment], *, quick: bool, seed: int, command: str, md_dir: Path) -> str:
    """RESULTS.md: machine and date, then per experiment the table, source, settings and notes."""
    import torch

    total = sum(e.seconds for e in experiments)
    lines = [
        "# Published results, reproduced",
        "",
        f"Written by `{command}`"
        + (" (quick smoke variant: small subsets, not comparable)" if quick else "")
        + ". Each experiment is a seeded function in `src/latentspace/reproduce/experiments.py`;"
        " figures are in `results/`.",
        "",
        f"- Date: {_dt.date.today().isoformat()}",
        f"- Machine: {os.cpu_count()} cores, {_cpu_model()} ({platform.machine()}, {platform.system()}),"
        f" torch threads {torch.get_num_threads()}",
        f"- Versions: Python {platform.python_version()}, {_versions()}",
        f"- Seed: {seed}; total time {total / 60:.1f} min",
        "",
    ]
    for i, e in enumerate(experiments, 1):
        lines += [
            f"## {i}. {e.title}",
            "",
            f"- Source: {e.source}",
            f"- Settings: {e.settings}",
            f"- Time: {e.seconds:.0f} s",
            "",
            f"| quantity | ours | {e.reference} |",
            "|---|---:|---:|",
        ]
        for r in e.rows:
            lines.append(f"| {r.quantity} | {r.ours_text()} | {_published(r)} |")
        lines.append("")
        for note in e.notes:
            lines += [note, ""]
        for fig in e.figures:
            rel = os.path.relpath(fig, md_dir)
            lines += [f"![{e.title}]({rel})", ""]
    return "\n".join(lines)


def _published(r: Row) -> str:
    from .experiments import _fmt

    return _fmt(r.published, r.unit)


def _save(exp: Experiment, out: Path) -> None:
    from dataclasses import asdict

    from ..atomic import atomic_write

    record = asdict(exp)
    record["figures"] = [str(Path(f)) for f in exp.figures]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / f"{exp.key}.json", (json.dumps(record, indent=1) + "\n").encode())


def _restore(out: Path, key: str) -> Experiment | None:
    path = out / f"{key}.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        record["rows"] = [Row(**r) for r in record["rows"]]
        record["figures"] = [Path(f) for f in record["figures"]]
        return Experiment(**record)
    except (ValueError, TypeError, KeyError):  # an older or damaged record: run it again
        return None


def reproduce(
    out: str | Path = "results",
    md: str | Path = "RESULTS.md",
    *,
    quick: bool = False,
    only: list[str] | None = None,
    seed: int = 0,
    command: str = "latentspace reproduce",
) -> list[Experiment]:
    """Run the experiments (all, or those in ``only``), write their figures and a JSON record of
    each under ``out``, then ``md`` (atomically) from every record there: with ``only``, the other
    experiments' earlier results are kept."""
    from ..atomic import atomic_write
    from ..progress import report

    keys = list(EXPERIMENTS) if not only else list(only)
    unknown = [k for k in keys if k not in EXPERIMENTS]
    if unknown:
        raise InputError(f"unknown experiment {unknown[0]!r}; choose from {', '.join(EXPERIMENTS)}")
    out, md = Path(out), Path(md)
    ctx = Context(out=out, quick=quick, seed=seed)
    done = []
    for key in keys:
        report("experiments", len(done), len(keys), key)
        exp = run(key, ctx)
        _save(exp, out)
        done.append(exp)
    fresh = {e.key: e for e in done}
    shown = [fresh.get(k) or _restore(out, k) for k in EXPERIMENTS]
    text = render(
        [e for e in shown if e is not None], quick=quick, seed=seed, command=command, md_dir=md.parent
    )
    md.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(md, (text + "\n").encode())
    return done
