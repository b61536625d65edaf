"""The ``latentspace`` command: one sub-command per stage of the pipeline.

``app`` (the Typer application and the helpers every command shares) imports no command; each module
below registers its group of commands on it when imported here. Only this package prints.
"""

# Imported in the order `latentspace --help` lists them: each registers its commands on `app`.
from . import run  # noqa: F401,I001
from . import imports, evaluate, interpret, maps, ops, export, explore, reproduce  # noqa: F401,I001
from .app import app, main

__all__ = ["app", "main"]
