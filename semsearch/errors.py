"""Errors a user can act on.

Every failure that is the user's to fix (a bad row, a missing index, a filter on an unknown field)
raises a subclass of :class:`SemsearchError` whose message says what went wrong and where. The CLI
prints that message on one line and exits non-zero; anything else is a bug and keeps its traceback.

The library speaks in its own terms: an option is named as the Python parameter it is
(``skip_bad=True``), never as a command-line flag. Where the way forward is an option, the error
carries it as a :class:`Hint`, and the CLI renders the same hint as its flag (``--skip-bad``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hint:
    """A way forward that is an option: ``text`` holds ``{option}``, filled in as a parameter or a flag."""

    option: str  # the Python parameter, e.g. "skip_bad"
    text: str  # e.g. "pass {option} to skip such records"
    value: str = "True"  # what to set it to, as the user would write it ("SECONDS", "True")

    def as_parameter(self) -> str:
        return self.text.format(option=f"{self.option}={self.value}")


class SemsearchError(Exception):
    """Base class for errors with a message meant for the user."""

    def __init__(self, message: str, hint: Hint | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint.as_parameter()})" if hint else message)


class OptionError(SemsearchError):
    """An argument's value cannot be used; ``option`` names the parameter (the CLI names its flag)."""

    def __init__(self, option: str, value: object, reason: str) -> None:
        self.option = option
        self.value = value
        self.reason = reason
        super().__init__(f"{option}={value!r}: {reason}")


class CorpusError(SemsearchError):
    """The corpus source cannot be read at all (missing file, unknown format, no documents)."""


class BadRecordError(SemsearchError):
    """One record of a corpus is unusable; names the file, line and field."""

    SKIP = Hint("skip_bad", "pass {option} to skip such records")

    def __init__(self, source: str, line: int, field: str | None, reason: str, place: str | None = None) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = reason
        what = f"field '{field}': {reason}" if field else reason
        super().__init__(f"{place or f'{source}:{line}'}: {what}", self.SKIP)


class ModelError(SemsearchError):
    """A model directory is missing or cannot be loaded."""


class IndexNotFoundError(SemsearchError):
    """The index directory does not exist or holds no index."""


class IndexDamagedError(SemsearchError):
    """A file of the index is unreadable or inconsistent."""


class IndexFormatError(SemsearchError):
    """The index was written in a format this version of semsearch does not read."""


class IncompatibleEncoderError(SemsearchError):
    """A query or update would mix vectors from two different encoders."""


class FilterError(SemsearchError):
    """A ``where`` condition is not in the accepted subset of SQL or names an unknown field."""


class IndexLockedError(SemsearchError):
    """Another process is writing to the same index."""

    WAIT = Hint("lock_timeout", "or set {option} to wait for it", value="SECONDS")

    def __init__(self, directory: object, holder: str, waited: float) -> None:
        self.directory = directory
        self.holder = holder
        self.waited = waited
        waited_text = f" (waited {waited:g} s)" if waited > 0 else ""
        super().__init__(
            f"{directory} is being written by another process (pid {holder}){waited_text}; try again when it ends",
            None if waited > 0 else self.WAIT,
        )


class ClassifierError(SemsearchError):
    """A classifier directory is missing or unusable, or training data is unusable."""


class AdaptError(SemsearchError):
    """Domain adaptation cannot run or resume as asked."""
