"""Interpreting a latent space: what its dimensions and leading directions are tied to (named
dimensions and directions, :mod:`.named`, :mod:`.association`), where its decoder is sensitive
(:mod:`.sensitivity`), and the verdicts that say when a result should not be trusted
(:mod:`.verdicts`).

:func:`latentspace.stages.interpret.interpret` (``ls.interpret``, ``latentspace interpret RUN``)
builds a run's interpret.json from these; :func:`read_interpretation` reads it back, checked.
"""

from .interpretation import FILE, Interpretation, read_interpretation, slider_dimensions

__all__ = ["FILE", "Interpretation", "read_interpretation", "slider_dimensions"]
