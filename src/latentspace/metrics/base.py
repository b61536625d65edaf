"""What metric functions share."""

from __future__ import annotations

from ..errors import LatentspaceError


class NotApplicable(LatentspaceError):
    """A metric does not apply to this model or data; the message is the reason shown in the table."""
