"""Errors a user can act on.

Every failure that is the user's to fix (a bad row, a missing index, a filter on an unknown field)
raises a subclass of :class:`SemsearchError` whose message says what went wrong and where. The CLI
prints that message on one line and exits non-zero; anything else is a bug and keeps its traceback.

The library speaks in its own terms: an option is named as the Python parameter it is
(``skip_bad=True``), never as a command-line flag. Where the way forward is an option or a call, the
error carries it as a :class:`Hint`, and the CLI renders the same hint in its own terms (``--skip-bad``,
``semsearch repair --index DIR``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hint:
    """A way forward: ``text`` holds ``{how}``, filled in as a Python parameter or call, or as the CLI's
    flag or command. An option hint names ``option`` (and ``value``); a call hint gives both spellings."""

    text: str  # e.g. "pass {how} to skip such records", "run {how} to restore it"
    option: str | None = None  # a Python parameter, e.g. "skip_bad"
    value: str = "True"  # what to set it to, as the user would write it ("SECONDS", "True")
    python: str = ""  # a call hint: e.g. "semsearch.repair('indexes/x')"
    command: str = ""  # ... and the same as a command: "semsearch repair --index indexes/x"

    def in_python(self) -> str:
        return self.text.format(how=f"{self.option}={self.value}" if self.option else self.python)


def repair_hint(directory: object, text: str) -> Hint:
    """``text`` ("run {how} to ...") with repairing the index at ``directory`` as the call."""
    return Hint(text, python=f"semsearch.repair({str(directory)!r})", command=f"semsearch repair --index {directory}")


class SemsearchError(Exception):
    """Base class for errors with a message meant for the user."""

    def __init__(self, message: str, hint: Hint | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}; {hint.in_python()}" if hint else message)


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

    SKIP = Hint("pass {how} to skip such records", option="skip_bad")

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


class DocumentNotFoundError(SemsearchError):
    """The index holds no document of that id."""


class IncompatibleEncoderError(SemsearchError):
    """A query or update would mix vectors from two different encoders."""


class FilterError(SemsearchError):
    """A ``where`` condition is not in the accepted subset of SQL or names an unknown field."""


class IndexLockedError(SemsearchError):
    """Another process is writing to the same index."""

    WAIT = Hint("or set {how} to wait for it", option="lock_timeout", value="SECONDS")

    def __init__(self, directory: object, holder: str, waited: float) -> None:
        self.directory = directory
        self.holder = holder
        self.waited = waited
        waited_text = f" (waited {waited:g} s)" if waited > 0 else ""
        super().__init__(
            f"{directory} is being written by another process (pid {holder}){waited_text}; try again when it ends",
            None if waited > 0 else self.WAIT,
        )


class EvaluationError(SemsearchError):
    """Queries or relevance judgements cannot be read, or none can be scored."""


class ClassifierError(SemsearchError):
    """A classifier directory is missing or unusable, or training data is unusable."""


class AdaptError(SemsearchError):
    """Domain adaptation cannot run or resume as asked."""
