"""Metrics: pure functions returning numbers or dicts, and the report card built from them."""

from .base import NotApplicable
from .card import FAMILIES, evaluate
from .disentanglement import dci, mig, sap
from .neighbourhood import continuity, neighbourhood_scores, trustworthiness
from .reconstruction import reconstruction, reconstruction_errors

__all__ = [
    "NotApplicable",
    "FAMILIES",
    "evaluate",
    "dci",
    "mig",
    "sap",
    "continuity",
    "neighbourhood_scores",
    "trustworthiness",
    "reconstruction",
    "reconstruction_errors",
]
