"""Read a corpus as a stream of :class:`~semsearch.types.Document`.

Every format is read lazily, one record at a time, so a file larger than memory indexes in bounded
memory. A record that cannot become a document raises :class:`BadRecordError` naming the file, line
and field; with ``skip_bad`` it is counted in :class:`LoadReport` instead, never dropped silently.

Accepted sources (see ``INTERFACE.md``): ``.jsonl`` / ``.jsonl.gz``, ``.csv``, ``.parquet``, a
directory of ``.txt`` / ``.md`` files, and a BEIR folder (one holding ``corpus.jsonl``).

What counts as a bad record (each one a :class:`BadRecordError` with file, line and field; README
"Reliability" lists them): a line that is not valid UTF-8 or not a JSON object (including NaN,
Infinity, numbers out of range and nesting deeper than Python can parse); a missing, non-scalar,
over-long or control-character id; a missing, non-string or empty text; a duplicate id (the first
occurrence is kept); a string that is not valid Unicode (a lone surrogate such as ``"\ud800"``).
NUL characters are removed from the text. A file that cannot be read on at all (a truncated
``.gz``, a damaged Parquet file) is a :class:`CorpusError` naming the file and how far it got.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from semsearch.errors import BadRecordError, CorpusError
from semsearch.types import Document

TEXT_SUFFIXES = (".txt", ".md")
MAX_ID_LENGTH = 1024  # characters; an id is a key, repeated in every chunk row and filter
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# What a truncated or damaged compressed/Parquet file raises while being read.
_STREAM_ERRORS = (EOFError, OSError, zlib.error)


class Format(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"
    TEXT_DIR = "text-dir"
    BEIR = "beir"


@dataclass(frozen=True)
class FieldMap:
    """Which fields of a record hold the id, the text and the title. The rest is metadata."""

    id_fields: tuple[str, ...] = ("_id", "id")
    text_field: str = "text"
    title_field: str = "title"

    @classmethod
    def from_options(
        cls, id_field: str | None = None, text_field: str | None = None, title_field: str | None = None
    ) -> FieldMap:
        default = cls()
        return cls(
            id_fields=(id_field,) if id_field else default.id_fields,
            text_field=text_field or default.text_field,
            title_field=title_field or default.title_field,
        )


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
            self.skipped_examples.append(str(error))


# A raw record is (line number, field dict) or (line number, the error that made it unreadable).
RawRecord = tuple[int, dict[str, Any] | BadRecordError]


def detect_format(path: Path) -> Format:
    if path.is_dir():
        if (path / "corpus.jsonl").is_file() or (path / "corpus.jsonl.gz").is_file():
            return Format.BEIR
        return Format.TEXT_DIR
    if not path.exists():
        raise CorpusError(f"{path}: no such file or directory")
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")):
        return Format.JSONL
    if name.endswith((".csv", ".csv.gz")):
        return Format.CSV
    if name.endswith(".parquet"):
        return Format.PARQUET
    raise CorpusError(
        f"{path}: unknown corpus format (expected .jsonl, .jsonl.gz, .csv, .parquet, "
        "a directory of .txt/.md files or a BEIR folder with corpus.jsonl)"
    )


def _open_binary(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


class _NotJsonError(ValueError):
    """A value Python's json accepts but JSON does not (NaN, Infinity, 1e999)."""


def _utf8_reason(error: UnicodeDecodeError) -> str:
    return f"not valid UTF-8 (byte 0x{error.object[error.start]:02x} at byte column {error.start + 1})"


def _reject_constant(name: str) -> Any:
    raise _NotJsonError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJsonError(f"number {text[:20]} is out of range")
    return value


def parse_json_line(line: str) -> Any:
    """``json.loads`` restricted to standard JSON; raises ValueError or RecursionError otherwise."""
    return json.loads(line, parse_constant=_reject_constant, parse_float=_finite_float)


def _json_record(path: Path, number: int, raw: bytes) -> dict[str, Any] | BadRecordError:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRecordError(str(path), number, None, _utf8_reason(exc))
    if number == 1:
        line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
    try:
        obj = parse_json_line(line)
    except json.JSONDecodeError as exc:
        return BadRecordError(str(path), number, None, f"invalid JSON: {exc.msg} at column {exc.colno}")
    except RecursionError:
        return BadRecordError(str(path), number, None, "invalid JSON: nested too deeply")
    except ValueError as exc:  # NaN/Infinity, out-of-range numbers, integers with too many digits
        return BadRecordError(str(path), number, None, f"invalid JSON: {str(exc).split(';')[0]}")
    if not isinstance(obj, dict):
        return BadRecordError(str(path), number, None, "expected a JSON object")
    return obj


def _read_jsonl(path: Path) -> Iterator[RawRecord]:
    number = 0
    try:
        with _open_binary(path) as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield number, _json_record(path, number, raw)
    except _STREAM_ERRORS as exc:
        raise CorpusError(f"{path}: cannot be read past line {number} ({type(exc).__name__}: {exc})") from exc


def _read_csv(path: Path) -> Iterator[RawRecord]:
    csv.field_size_limit(sys.maxsize)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    number = 0
    try:
        # surrogateescape keeps undecodable bytes as lone surrogates, so one bad row is one bad record
        with opener(path, "rt", encoding="utf-8-sig", newline="", errors="surrogateescape") as handle:  # type: ignore[operator]
            reader = csv.DictReader(handle)
            if any(_SURROGATE.search(name) for name in reader.fieldnames or []):
                raise CorpusError(f"{path}:1: the header is not valid UTF-8")
            for row in reader:
                number = reader.line_num
                if None in row:  # more cells than header columns
                    yield number, BadRecordError(str(path), number, None, "more cells than columns")
                    continue
                if any(isinstance(v, str) and _SURROGATE.search(v) for v in row.values()):
                    yield number, BadRecordError(str(path), number, None, "not valid UTF-8")
                    continue
                yield number, {k: v for k, v in row.items() if v is not None}
    except csv.Error as exc:
        raise CorpusError(f"{path}:{number + 1}: malformed CSV: {exc}") from exc
    except _STREAM_ERRORS as exc:
        raise CorpusError(f"{path}: cannot be read past line {number} ({type(exc).__name__}: {exc})") from exc


def _read_parquet(path: Path) -> Iterator[RawRecord]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise CorpusError(f"{path}: not a readable Parquet file ({exc})") from exc
    number = 0
    batches = parquet.iter_batches(batch_size=1024)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, *_STREAM_ERRORS) as exc:
            raise CorpusError(f"{path}: cannot be read past row {number} ({exc})") from exc
        if batch is None:
            return
        for row in batch.to_pylist():
            number += 1
            yield number, row


def _read_text_dir(path: Path) -> Iterator[RawRecord]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    if not files:
        raise CorpusError(f"{path}: directory holds no .txt or .md files and no corpus.jsonl")
    for file in files:
        rel = file.relative_to(path).as_posix()
        try:
            text = file.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            yield 1, BadRecordError(str(file), 1, None, _utf8_reason(exc))
            continue
        except OSError as exc:
            yield 1, BadRecordError(str(file), 1, None, f"cannot be read ({exc.strerror})")
            continue
        yield 1, {"id": rel, "text": text, "path": rel}


def _raw_records(path: Path, fmt: Format) -> Iterator[RawRecord]:
    if fmt is Format.JSONL:
        return _read_jsonl(path)
    if fmt is Format.CSV:
        return _read_csv(path)
    if fmt is Format.PARQUET:
        return _read_parquet(path)
    if fmt is Format.BEIR:
        corpus = path / "corpus.jsonl"
        return _read_jsonl(corpus if corpus.is_file() else path / "corpus.jsonl.gz")
    return _read_text_dir(path)


def source_name(path: Path, fmt: Format) -> str:
    """The file that error messages name for records of ``path``."""
    if fmt is Format.BEIR:
        corpus = path / "corpus.jsonl"
        return str(corpus if corpus.is_file() else path / "corpus.jsonl.gz")
    return str(path)


def _id_field(raw: dict[str, Any], fields: FieldMap) -> str | None:
    """The first of the id fields that the record fills, if any."""
    return next((name for name in fields.id_fields if raw.get(name) not in (None, "")), None)


def record_id(raw: dict[str, Any], fields: FieldMap) -> str | None:
    """The id a record gives, if any, even when the record is otherwise unusable: an index keeps the
    stored version of a document whose new record was skipped (``--delete-missing`` spares it)."""
    name = _id_field(raw, fields)
    value = None if name is None else raw[name]
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def to_document(raw: dict[str, Any], fields: FieldMap, source: str, line: int) -> Document:
    """Turn one raw record into a document, or say precisely why it cannot be one."""
    id_field = _id_field(raw, fields)
    if id_field is None:
        raise BadRecordError(source, line, "/".join(fields.id_fields), "missing id")
    doc_id: Any = raw[id_field]
    if isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
        raise BadRecordError(source, line, id_field, f"id must be a string or integer, got {type(doc_id).__name__}")
    doc_id = str(doc_id)
    if len(doc_id) > MAX_ID_LENGTH:
        raise BadRecordError(source, line, id_field, f"id is longer than {MAX_ID_LENGTH} characters")
    if _CONTROL.search(doc_id):
        raise BadRecordError(source, line, id_field, "id contains a control character (such as NUL or a newline)")
    _check_unicode(doc_id, source, line, id_field)

    text = raw.get(fields.text_field)
    if text is None:
        raise BadRecordError(source, line, fields.text_field, "missing text")
    if not isinstance(text, str):
        raise BadRecordError(source, line, fields.text_field, f"text must be a string, got {type(text).__name__}")
    title = raw.get(fields.title_field)
    if title is not None and not isinstance(title, str):
        raise BadRecordError(source, line, fields.title_field, f"title must be a string, got {type(title).__name__}")
    full = f"{title.strip()} {text}".strip() if title and title.strip() else text.strip()
    full = full.replace("\x00", "")  # NUL carries no meaning in text and breaks some tokenizers
    if not full.strip():
        raise BadRecordError(source, line, fields.text_field, "empty text")
    _check_unicode(full, source, line, fields.text_field)

    metadata: dict[str, Any] = {}
    for key, value in raw.items():
        if key in (id_field, fields.text_field):  # another id field (``id`` beside ``_id``) is metadata
            continue
        if key == "metadata" and isinstance(value, dict):  # BEIR nests extra fields here
            metadata.update(value)
        else:
            metadata[key] = value
    try:
        serialised = json.dumps(metadata, ensure_ascii=False, default=str)
    except (ValueError, RecursionError) as exc:
        raise BadRecordError(source, line, "metadata", f"cannot be stored as JSON ({type(exc).__name__})") from exc
    _check_unicode(serialised, source, line, "metadata")
    return Document(id=doc_id, text=full, metadata=metadata, source=source, line=line)


def _check_unicode(text: str, source: str, line: int, field: str) -> None:
    """A lone surrogate (JSON ``"\\ud800"``) is not Unicode text: it cannot be stored or tokenized."""
    match = _SURROGATE.search(text)
    if match is not None:
        code = f"\\u{ord(match.group()):04x}"
        raise BadRecordError(source, line, field, f"contains an unpaired surrogate ({code}): not valid Unicode")


def load(
    path: str | Path,
    fields: FieldMap | None = None,
    *,
    skip_bad: bool = False,
    report: LoadReport | None = None,
) -> Iterator[Document]:
    """Stream the documents of ``path``.

    Duplicate ids are bad records too: the second occurrence would silently replace the first.
    """
    path = Path(path)
    fmt = detect_format(path)
    fields = fields or FieldMap()
    report = report if report is not None else LoadReport()
    source = source_name(path, fmt)
    first_line: dict[str, int] = {}
    for line, raw in _raw_records(path, fmt):
        report.read += 1
        try:
            if isinstance(raw, BadRecordError):
                raise raw
            origin = str(path / raw["path"]) if fmt is Format.TEXT_DIR else source
            doc = to_document(raw, fields, origin, line)
            if doc.id in first_line:
                raise BadRecordError(
                    source, line, "id", f"duplicate id '{doc.id}' (first at line {first_line[doc.id]})"
                )
            first_line[doc.id] = line
        except BadRecordError as error:
            if not skip_bad:
                raise
            report.skip(error, None if isinstance(raw, BadRecordError) else record_id(raw, fields))
            continue
        yield doc


def estimate_count(path: str | Path) -> int | None:
    """A cheap record count for progress bars; None when counting would cost a full read."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt is Format.PARQUET:
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if fmt is Format.TEXT_DIR:
        return sum(1 for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    file = Path(source_name(path, fmt))
    if file.name.endswith(".gz"):
        return None
    with file.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - 1, 0) if fmt is Format.CSV else lines


def raw_records(path: str | Path) -> Iterator[tuple[str, int, dict[str, Any] | BadRecordError]]:
    """(file, line, record or the error that made it unreadable), before records become documents:
    for inputs that need no id, such as a classifier's labelled examples."""
    path = Path(path)
    fmt = detect_format(path)
    source = source_name(path, fmt)
    for line, raw in _raw_records(path, fmt):
        yield (str(path / raw["path"]) if fmt is Format.TEXT_DIR and isinstance(raw, dict) else source), line, raw
