"""The project's own exception types: expected failures that a command reports in one line.

Anything else that escapes is a bug. Input errors carry the file and the reason so a stage can
skip the file, count it under its reason and go on.
"""

from __future__ import annotations


class JazzgenError(Exception):
    """Base class of every error jazzgen reports to the user without a traceback."""


class InputError(JazzgenError):
    """A data file that cannot be used.

    Args:
        path: the file, as the user named it.
        reason: a short, stable category used for counting ("not a MIDI file", "truncated",
            "no notes", "drums only", "no melody found", "unreadable header", "too long",
            "parse timeout", ...).
        detail: optional extra words for the one-line message.
    """

    def __init__(self, path: str, reason: str, detail: str = ""):
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))


class ChordParseError(JazzgenError):
    """A chord symbol jazzgen cannot spell; the message names the symbol."""

    def __init__(self, symbol: str, detail: str = ""):
        self.symbol = symbol
        super().__init__(f"unknown chord symbol {symbol!r}" + (f": {detail}" if detail else ""))


class UsageError(JazzgenError):
    """Bad arguments or a directory that is not what a command expects (exit code 2)."""
