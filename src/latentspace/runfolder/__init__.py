"""Run folders: save, open, verify."""

from .folder import SCHEMA_VERSION, Run, check_destination, open_run, save_run

__all__ = ["SCHEMA_VERSION", "Run", "check_destination", "open_run", "save_run"]
