"""Errors a user can act on.

Every failure that is the user's to fix (a bad row, a missing index, a filter on an unknown field)
raises a subclass of :class:`SemsearchError` whose message says what went wrong and where. The CLI
prints that message on one line and exits non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class SemsearchError(Exception):
    """Base class for errors with a message meant for the user."""


class CorpusError(SemsearchError):
    """The corpus source cannot be read at all (missing file, unknown format)."""


class BadRecordError(SemsearchError):
    """One record of a corpus is unusable; names the file, line and field."""

    def __init__(self, source: str, line: int, field: str | None, reason: str) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = reason
        where = f"{source}:{line}"
        what = f"field '{field}': {reason}" if field else reason
        super().__init__(f"{where}: {what} (use --skip-bad to skip such records)")


class IndexNotFoundError(SemsearchError):
    """The index directory does not exist or holds no index."""


class IndexDamagedError(SemsearchError):
    """A file of the index is unreadable or inconsistent."""


class IncompatibleEncoderError(SemsearchError):
    """A query or update would mix vectors from two different encoders."""


class FilterError(SemsearchError):
    """A ``where`` condition is not in the accepted subset of SQL or names an unknown field."""


class IndexLockedError(SemsearchError):
    """Another process is writing to the same index."""
