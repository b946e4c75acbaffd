"""Read a corpus as a stream of :class:`~semsearch.types.Document`.

Accepted sources (docs/interface.md): ``.jsonl`` / ``.jsonl.gz``, ``.csv``, ``.parquet``, a directory
of ``.txt`` / ``.md`` files, and a BEIR folder (one holding ``corpus.jsonl``). :mod:`.formats` reads
files into raw records, :mod:`.records` makes documents of them; :func:`load` streams them, counting
what it skips in a :class:`LoadReport`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semsearch.corpus.formats import Format, detect_format, estimate_count, read_raw, source_name
from semsearch.corpus.records import MAX_ID_LENGTH, FieldMap, record_id, to_document
from semsearch.errors import BadRecordError, CorpusError
from semsearch.types import Document

__all__ = [
    "MAX_ID_LENGTH", "FieldMap", "Format", "LoadReport", "Source", "count", "detect_format", "estimate_count", "load",
    "raw_records", "to_document",
]  # fmt: skip

# What can be indexed: a corpus file or folder, or documents in memory (an iterable of dicts).
Source = str | Path | Iterable[Mapping[str, Any]]
IN_MEMORY = "documents"  # what error messages call documents given in memory: documents[3]


def is_path(source: Source) -> bool:
    return isinstance(source, str | Path)


def count(source: Source) -> int | None:
    """How many records ``source`` holds, if that is cheap to know (for a progress bar); checks that a
    path exists and has a known format, and that anything else is an iterable of dicts."""
    if isinstance(source, str | Path):
        return estimate_count(source)
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise CorpusError(f"expected a corpus path or an iterable of dicts, got {type(source).__name__}")
    return len(source) if isinstance(source, Sized) else None


def describe(source: Source) -> str:
    """How messages name ``source``."""
    return str(source) if is_path(source) else f"the {IN_MEMORY} given"


@dataclass
class LoadReport:
    """What happened to the records that did not become documents (filled while streaming)."""

    read: int = 0
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    skipped_ids: set[str] = field(default_factory=set)  # ids of skipped records that had one

    def skip(self, error: BadRecordError, doc_id: str | None = None) -> None:
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
) -> Iterator[Document]:
    """Stream the documents of ``source`` (a path, or an iterable of dicts with the same fields a file has).

    Duplicate ids are bad records too: the second occurrence would silently replace the first.
    """
    fields = fields or FieldMap()
    report = report if report is not None else LoadReport()
    first_line: dict[str, int] = {}
    for origin, line, place, raw in _records(source):
        report.read += 1
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


def _records(source: Source) -> Iterator[tuple[str, int, str | None, dict[str, Any] | BadRecordError]]:
    """(file, line, place, record or the error that made it unreadable) for a path or for documents in
    memory, where ``place`` (``documents[3]``, 0-based) says where a bad one is."""
    if isinstance(source, str | Path):
        for origin, line, raw in raw_records(source):
            yield origin, line, None, raw
        return
    for position, item in enumerate(source):
        place = f"{IN_MEMORY}[{position}]"
        if not isinstance(item, Mapping):
            yield IN_MEMORY, position, place, BadRecordError(IN_MEMORY, position, None, "expected a dict", place)
        else:
            yield IN_MEMORY, position, place, dict(item)


def raw_records(path: str | Path) -> Iterator[tuple[str, int, dict[str, Any] | BadRecordError]]:
    """(file, line, record or the error that made it unreadable), before records become documents:
    for inputs that need no id, such as a classifier's labelled examples."""
    path = Path(path)
    fmt = detect_format(path)
    source = source_name(path, fmt)
    for line, raw in read_raw(path, fmt):
        yield (str(path / raw["path"]) if fmt is Format.TEXT_DIR and isinstance(raw, dict) else source), line, raw
