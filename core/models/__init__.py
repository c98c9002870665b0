"""Colorization networks, built by name through the registry."""

from .registry import ColorizationModel, available_models, build_model, register, with_head
from . import koalarization  # noqa: F401  (registers "koalarization")
from . import koalarization_unet  # noqa: F401  (registers "koalarization_unet")
from . import iizuka  # noqa: F401  (registers "iizuka")
from . import baseline  # noqa: F401  (registers "vanilla_cnn")
from . import autoencoder  # noqa: F401  (the "conv_autoencoder" feature extractor)

__all__ = ["ColorizationModel", "available_models", "build_model", "register", "with_head"]
