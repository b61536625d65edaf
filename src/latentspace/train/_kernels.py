"""A numba loop for the training engine (imported only where it is used)."""

from __future__ import annotations

import numba


@numba.njit(cache=True)
def count_up(counters):  # pragma: no cover - compiled
    """Add one to each 0-d array of the tuple ``counters`` in place (in its own dtype)."""
    for counter in counters:
        counter[()] += 1
