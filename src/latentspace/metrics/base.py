"""What metric functions share: the exception that skips a metric, and how one value of the report
card is read (:class:`Reading`; the table of every key is ``metrics.card.READINGS``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LatentspaceError

HIGHER, LOWER, UNRANKED = 1, -1, 0  # which way a value is better
SCORE = "score"  # a measurement of the latent space, ranked when ``better`` is not UNRANKED
REFERENCE = "reference"  # the same measurement on something else (the raw data, real vs real)
PARAMETER = "parameter"  # a setting or a count of the measurement (k, n, rows, the split)
SPREAD = "spread"  # the uncertainty of the score named by ``of`` (shown beside it, as ±)
ROLES = (SCORE, REFERENCE, PARAMETER, SPREAD)


class NotApplicable(LatentspaceError):
    """A metric does not apply to this model or data; the message is the reason shown in the table."""


@dataclass(frozen=True)
class Reading:
    """How one value of the report card is read.

    ``better``: HIGHER, LOWER or UNRANKED; ``role``: one of ``ROLES``; ``meaning``: a few words a
    person reads beside the value; ``of``: for a SPREAD or REFERENCE, the score it belongs to."""

    better: int = UNRANKED
    role: str = SCORE
    meaning: str = ""
    of: str = ""

    @property
    def arrow(self) -> str:
        """``↑`` (higher is better), ``↓`` (lower is better) or ``""``."""
        return {HIGHER: "↑", LOWER: "↓"}.get(self.better, "")


@dataclass(frozen=True)
class ByConstruction:
    """A value a model family gets from its form, not from learning: ``families`` (model names),
    the metric keys it covers (``prefixes``), and ``why`` (one clause a person reads)."""

    families: tuple[str, ...]
    prefixes: tuple[str, ...]
    why: str

    def covers(self, model_name: str, key: str) -> bool:
        return model_name in self.families and key.startswith(self.prefixes)
