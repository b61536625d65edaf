"""The main job on built-in data, as one library call: what ``latentspace demo`` runs.

Fit PCA and a VAE on MNIST (``digits`` when MNIST is not installed), evaluate both, map the VAE with
UMAP, interpret both (named directions, sensitivity), write both reports and a comparison page.
Serving the explorer is left to the caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..runfolder import Run

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """What the demo made: the runs (PCA first, then the VAE), the comparison page, timings in s."""

    data: str
    runs: list[Run]
    compare_path: Path
    seconds: dict[str, float] = field(default_factory=dict)


def demo(
    out: str | Path = "runs",
    *,
    epochs: int = 10,
    data: str | None = None,
    notify: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> DemoResult:
    """Run the whole pipeline on built-in data into ``out``.

    Parameters
    ----------
    out : folder for the runs ``<data>-pca`` and ``<data>-vae`` and ``compare.html``.
    epochs : VAE training epochs.
    data : ``"mnist"`` or ``"digits"``; default MNIST when installed, else digits.
    notify : called with one line of news after every step (default: the module's logger).
    overwrite : replace the demo's runs and ``compare.html`` where they exist (otherwise refused,
        before any work).
    """
    from ..atomic import atomic_write
    from ..data import load
    from ..data.builtin import BUILTINS
    from ..interpret.runs import interpret_run
    from ..maps.store import map_run
    from ..metrics.card import compare_table
    from ..report.compare import compare_html
    from ..report.html import write_report
    from .evaluate import evaluate
    from .fit import fit, info_summary
    from .targets import check_target

    say = notify or log.info
    out = Path(out)
    if data is None:
        data = "mnist"
        if not BUILTINS["mnist"].available():
            say(f"MNIST is not installed ({BUILTINS['mnist'].missing_hint}); using digits.")
            data = "digits"
    names = {name: out / f"{data}-{name}" for name in ("pca", "vae")}
    for path in names.values():
        check_target(path, overwrite, kind="run")
    compare_path = check_target(out / "compare.html", overwrite, suffixes=(".html",))
    k = 16 if data == "mnist" else 8
    seconds: dict[str, float] = {}
    t_start = time.perf_counter()
    ds = load(data)
    seconds["load"] = time.perf_counter() - t_start
    runs: list[Run] = []
    for name, params in (("pca", {}), ("vae", {"arch": "mlp", "epochs": epochs})):
        t0 = time.perf_counter()
        run = fit(ds, name, latent_dim=k, out=names[name], overwrite=overwrite, **params)
        seconds[f"fit {name}"] = time.perf_counter() - t0
        say(f"{name} on {data} (latent {k}) fitted in {seconds[f'fit {name}']:.1f} s -> {run.path}")
        say("  " + info_summary(run.config["info"]))
        runs.append(run)
    for run in runs:
        t0 = time.perf_counter()
        evaluate(run)
        seconds[f"evaluate {run.name}"] = time.perf_counter() - t0
        say(f"evaluated {run.name} in {seconds[f'evaluate {run.name}']:.1f} s")
    t0 = time.perf_counter()
    m = map_run(runs[1], "umap")
    seconds["map"] = time.perf_counter() - t0
    q = m.quality
    acc = f", kNN accuracy {q['knn_accuracy_map']:.3f}" if "knn_accuracy_map" in q else ""
    trust = q["trustworthiness"]
    say(f"UMAP map of {runs[1].name} in {seconds['map']:.1f} s: trustworthiness {trust:.3f}{acc}")
    t0 = time.perf_counter()
    for run in runs:  # named directions and sensitivity, for the reports and the explorer's sliders
        meaning = interpret_run(run)
        say(f"interpreted {run.name}: {meaning.summary}")
    seconds["interpret"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for run in runs:
        say(f"wrote {write_report(run)}")
    cards = [r.read_json("metrics.json") for r in runs]
    header, body, best = compare_table(runs, cards)
    page = compare_html(header, body, best, runs=runs, out=compare_path)
    atomic_write(compare_path, page.encode(), replace=overwrite)
    say(f"wrote {compare_path}")
    seconds["reports"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start
    stages = ", ".join(f"{name} {s:.0f} s" for name, s in seconds.items() if name != "total")
    say(f"stage times: {stages}; total {seconds['total']:.0f} s")
    return DemoResult(data, runs, compare_path, seconds)
