"""Interpreting a latent space: what its dimensions and leading directions are tied to (named
dimensions and directions, :mod:`.named`, :mod:`.association`, :mod:`.columns`), where its decoder
is sensitive (:mod:`.sensitivity`), the run's interpret.json (:mod:`.interpretation`, :mod:`.runs`),
and the verdicts that say when a result should not be trusted (:mod:`.verdicts`).

This module is also callable: ``latentspace.interpret(run, seed=0, pcs=8, ...)`` is
:func:`.runs.interpret_run` (the same as ``latentspace interpret RUN`` and the stage
:func:`latentspace.stages.interpret.interpret`). It has to be: once ``latentspace.interpret`` (this
room) is imported, Python binds that name on the package to the room, whatever function held it.
"""

import sys
import types

from .interpretation import FILE, Interpretation, read_interpretation, slider_dimensions

__all__ = ["FILE", "Interpretation", "read_interpretation", "slider_dimensions", "interpret_run"]


def interpret_run(run, **params) -> Interpretation:
    """Interpret the latent space of ``run`` (a Run or its folder) into its interpret.json; the
    parameters are those of :func:`.runs.interpret_run`."""
    from .runs import interpret_run as run_interpret

    return run_interpret(run, **params)


class _CallableRoom(types.ModuleType):
    def __call__(self, run, **params) -> Interpretation:
        """``latentspace.interpret(run, ...)``: :func:`.runs.interpret_run`."""
        return interpret_run(run, **params)


sys.modules[__name__].__class__ = _CallableRoom
