"""The interpret stage: what a run's latent directions mean and where its decoder is sensitive,
kept in the run's interpret.json. The work is :func:`latentspace.interpret.runs.interpret_run`
(the ``interpret`` room reads the run itself, so that ``latentspace.interpret(run)`` can call it);
this is its place in the pipeline, beside fit, encode and evaluate.
"""

from __future__ import annotations

from ..interpret.interpretation import Interpretation, read_interpretation
from ..interpret.runs import MAX_ROWS, MAX_SENSITIVITY_ROWS, dumps, interpret_run

__all__ = ["interpret", "read_interpretation", "dumps"]


def interpret(
    run,
    *,
    seed: int = 0,
    pcs: int = 8,
    rows: int = MAX_ROWS,
    traverse: int = 8,
    items: int = 3,
    steps: int = 7,
    span: float = 2.0,
    sensitivity_rows: int = MAX_SENSITIVITY_ROWS,
    write: bool = True,
) -> Interpretation:
    """Interpret the latent space of ``run`` (a Run or its folder) and, with ``write``, keep the
    result in its interpret.json; see :func:`~latentspace.interpret.runs.interpret_run`."""
    return interpret_run(
        run,
        seed=seed,
        pcs=pcs,
        rows=rows,
        traverse=traverse,
        items=items,
        steps=steps,
        span=span,
        sensitivity_rows=sensitivity_rows,
        write=write,
    )
