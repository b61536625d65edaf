"""The training engine: one loop for every neural model (see :mod:`.engine`)."""

from .device import resolve_device
from .engine import Trainer, TrainingDiverged, TrainSettings

__all__ = ["Trainer", "TrainSettings", "TrainingDiverged", "resolve_device"]
