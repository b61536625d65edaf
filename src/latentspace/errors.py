"""Exception types. Every error a user can cause derives from :class:`LatentspaceError`.

The CLI turns these into one-line messages with exit code 2; library users can catch them as
``ValueError`` (bad input) or ``ImportError`` (a missing optional package) as well.
"""

from __future__ import annotations


class LatentspaceError(Exception):
    """Base class of every error latentspace raises on purpose."""


class InputError(LatentspaceError, ValueError):
    """Bad data or parameters: the message names where (row, column, file, parameter) and what is allowed."""


class RunIntegrityError(LatentspaceError, ValueError):
    """A run folder that is incomplete, from another schema version, or altered after it was written."""


class MissingDependencyError(LatentspaceError, ImportError):
    """An optional package is needed; the message says how to install it."""
