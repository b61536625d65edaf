"""Other libraries' error messages, made fit for a one-line error of ours."""

from __future__ import annotations

_MAX_CHARS = 160


def reason(exc: BaseException) -> str:
    """The first line of ``exc``'s message, non-printable characters escaped, at most 160 characters.

    A parser's message may quote the bytes it choked on (a CSV reader shown a binary file quotes
    the binary): the user gets a readable hint, never control characters or a second line.
    """
    text = str(exc).strip() or type(exc).__name__
    text = text.splitlines()[0]
    text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 3] + "..."
