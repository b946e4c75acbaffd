"""Read a corpus as a stream of :class:`~semsearch.types.Document`.

Accepted sources (docs/interface.md): ``.jsonl`` / ``.jsonl.gz``, ``.csv`` / ``.tsv`` (plain or
gzipped), ``.parquet``, a folder of notes (``.txt`` / ``.md`` files, or those a ``glob`` chooses), one
``.txt`` / ``.md`` file, a BEIR folder (one holding ``corpus.jsonl``), and ``-``: JSONL on standard
input. :mod:`.formats` reads files into raw records, :mod:`.records` makes documents of them;
:func:`load` streams them, counting what it skips (bad records) and what held nothing (empty notes)
in a :class:`LoadReport`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from semsearch.corpus.formats import STDIN, TABULAR, EmptyFile, Format, detect_format, is_stdin
from semsearch.corpus.reading import estimate_count, read_raw, source_name
from semsearch.corpus.records import (
    MAX_ID_LENGTH,
    TYPES,
    FieldMap,
    check_fields,
    declared_strings,
    record_id,
    to_document,
)
from semsearch.errors import BadRecordError, CorpusError, OptionError
from semsearch.types import Document

__all__ = [
    "MAX_ID_LENGTH", "STDIN", "TYPES", "FieldMap", "Format", "LoadReport", "Source", "count", "detect_format",
    "estimate_count", "load", "place_of", "raw_records", "to_document",
]  # fmt: skip

# What can be indexed: a corpus file or folder, "-" (standard input), or documents in memory (an
# iterable of dicts).
Source = str | Path | Iterable[Mapping[str, Any]]
IN_MEMORY = "documents"  # what error messages call documents given in memory: documents[3]


def place_of(doc: Document) -> str | None:
    """Where an error names ``doc``, for a document given in memory (``documents[3]``); None for one from a
    file, which is named by its file and line."""
    return f"{IN_MEMORY}[{doc.line}]" if doc.source == IN_MEMORY else None


def is_path(source: Source) -> TypeGuard[str | Path]:
    """Whether ``source`` names a file, a folder or standard input (rather than holding documents)."""
    return isinstance(source, str | Path)


def count(source: Source, *, glob: str | None = None) -> int | None:
    """How many records ``source`` holds, if that is cheap to know (for a progress bar); checks that a
    path exists and has a known format, and that anything else is an iterable of dicts."""
    if isinstance(source, str | Path):
        return estimate_count(source, glob)
    _no_glob(glob)
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise CorpusError(f"expected a corpus path or an iterable of dicts, got {type(source).__name__}")
    return len(source) if isinstance(source, Sized) else None


def describe(source: Source) -> str:
    """How messages name ``source``."""
    if is_path(source):
        return "standard input" if is_stdin(source) else str(source)
    return f"the {IN_MEMORY} given"


@dataclass
class LoadReport:
    """What happened to the records that did not become documents (filled while streaming).

    ``read`` counts every record met: the documents, the ``skipped`` bad records, and the ``empty``
    notes (files with nothing in them, which are no mistake and so not bad records)."""

    read: int = 0
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    skipped_ids: set[str] = field(default_factory=set)  # ids of skipped records that had one
    empty: int = 0
    # The reader of a source and the indexing run both skip records, from two threads.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def skip(self, error: BadRecordError, doc_id: str | None = None) -> None:
        with self._lock:
            self.skipped += 1
            if doc_id is not None:
                self.skipped_ids.add(doc_id)
            if len(self.skipped_examples) < 5:
                self.skipped_examples.append(error.message)  # the way forward is the caller's to say


def load(
    source: Source,
    fields: FieldMap | None = None,
    *,
    skip_bad: bool = False,
    report: LoadReport | None = None,
    glob: str | None = None,
) -> Iterator[Document]:
    """Stream the documents of ``source`` (a path, or an iterable of dicts with the same fields a file has);
    ``glob`` chooses the files of a folder of notes (``"**/*.md"``).

    Duplicate ids are bad records too: the second occurrence would silently replace the first. When
    the first record has no id or no text field at all, the fields are misnamed: a :class:`CorpusError`
    (not skippable) lists the fields the records have.
    """
    fields = fields or FieldMap()
    report = report if report is not None else LoadReport()
    fmt = detect_format(source, glob) if isinstance(source, str | Path) else None
    noun = "columns" if fmt in TABULAR else "fields"
    first_line: dict[str, int] = {}
    checked = False
    for origin, line, place, raw in _records(source, fields, glob):
        report.read += 1
        if isinstance(raw, EmptyFile):
            report.empty += 1
            continue
        if not checked and isinstance(raw, dict):
            checked = True
            named = describe(source) if place or fmt is Format.TEXT_DIR else origin  # a folder of notes, not its file
            check_fields(raw, fields, named, noun)
        try:
            if isinstance(raw, BadRecordError):
                raise raw
            doc = to_document(raw, fields, origin, line, place)
            if doc.id in first_line:
                first = first_line[doc.id]
                seen = f"first at {IN_MEMORY}[{first}]" if place else f"first at line {first}"
                raise BadRecordError(origin, line, "id", f"duplicate id '{doc.id}' ({seen})", place)
            first_line[doc.id] = line
        except BadRecordError as error:
            if not skip_bad:
                raise
            report.skip(error, None if isinstance(raw, BadRecordError) else record_id(raw, fields))
            continue
        yield doc


def _records(
    source: Source, fields: FieldMap, glob: str | None
) -> Iterator[tuple[str, int, str | None, dict[str, Any] | BadRecordError | EmptyFile]]:
    """(file, line, place, record or the error that made it unreadable) for a path or for documents in
    memory, where ``place`` (``documents[3]``, 0-based) says where a bad one is."""
    if isinstance(source, str | Path):
        for origin, line, raw in _path_records(source, fields, glob):
            yield origin, line, None, raw
        return
    _no_glob(glob)
    for position, item in enumerate(source):
        place = f"{IN_MEMORY}[{position}]"
        if not isinstance(item, Mapping):
            yield IN_MEMORY, position, place, BadRecordError(IN_MEMORY, position, None, "expected a dict", place)
        else:
            yield IN_MEMORY, position, place, declared_strings(dict(item), fields)


def _no_glob(glob: str | None) -> None:
    if glob is not None:
        raise OptionError("glob", glob, "chooses files in a folder; the documents given are in memory")


def _path_records(
    path: str | Path, fields: FieldMap, glob: str | None
) -> Iterator[tuple[str, int, dict[str, Any] | BadRecordError | EmptyFile]]:
    path = Path(path)
    fmt = detect_format(path, glob)
    source = source_name(path, fmt)
    for line, raw in read_raw(path, fmt, fields, glob):
        if isinstance(raw, dict):
            origin = str(path / raw["path"]) if fmt is Format.TEXT_DIR else source
            yield origin, line, declared_strings(raw, fields)
        else:
            yield raw.source, line, raw


def raw_records(
    path: str | Path,
    fields: FieldMap | None = None,
    *,
    glob: str | None = None,
    report: LoadReport | None = None,
) -> Iterator[tuple[str, int, dict[str, Any] | BadRecordError]]:
    """(file, line, record or the error that made it unreadable), before records become documents:
    for inputs that need no id, such as a classifier's labelled examples. ``fields`` says which CSV
    columns stay text (its id, text and title) and which types are declared; empty notes are left
    out (counted in ``report.empty`` when a report is given)."""
    for origin, line, raw in _path_records(path, fields or FieldMap(), glob):
        if isinstance(raw, EmptyFile):
            if report is not None:
                report.empty += 1
            continue
        yield origin, line, raw
