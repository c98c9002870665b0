"""Colorization networks, built by name through the registry."""

from .registry import ColorizationModel, available_models, build_model, register
from . import koalarization  # noqa: F401  (registers "koalarization")

__all__ = ["ColorizationModel", "available_models", "build_model", "register"]
