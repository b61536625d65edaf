"""The interpret stage: what a run's latent directions mean and where its decoder is sensitive,
kept in the run's interpret.json. The work is :func:`latentspace.interpret.runs.interpret_run`
(the ``interpret`` room reads the run itself, so that ``latentspace.interpret(run)`` can call it);
this is its place in the pipeline, beside fit, encode and evaluate, with its parameters declared
once, there.
"""

from __future__ import annotations

from ..interpret.interpretation import read_interpretation
from ..interpret.runs import dumps, interpret_run

__all__ = ["interpret", "read_interpretation", "dumps"]

interpret = interpret_run
