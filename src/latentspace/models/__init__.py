"""Latent models, looked up by name through one registry."""

from .base import LatentModel
from .registry import available_models, create_model, get_model_class, register

__all__ = ["LatentModel", "available_models", "create_model", "get_model_class", "register"]
