"""Metrics: pure functions returning numbers or dicts. The report card that gathers them for a run is
the evaluate stage (``latentspace.stages.evaluate``)."""

from .base import NotApplicable
from .disentanglement import dci, mig, sap
from .neighbourhood import continuity, neighbourhood_scores, trustworthiness
from .reconstruction import reconstruction, reconstruction_errors

__all__ = [
    "NotApplicable",
    "dci",
    "mig",
    "sap",
    "continuity",
    "neighbourhood_scores",
    "trustworthiness",
    "reconstruction",
    "reconstruction_errors",
]
