"""Read a corpus as a stream of :class:`~semsearch.types.Document`.

Every format is read lazily, one record at a time, so a file larger than memory indexes in bounded
memory. A record that cannot become a document raises :class:`BadRecordError` naming the file, line
and field; with ``skip_bad`` it is counted in :class:`LoadReport` instead, never dropped silently.

Accepted sources (see ``INTERFACE.md``): ``.jsonl`` / ``.jsonl.gz``, ``.csv``, ``.parquet``, a
directory of ``.txt`` / ``.md`` files, and a BEIR folder (one holding ``corpus.jsonl``).
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from semsearch.errors import BadRecordError, CorpusError
from semsearch.types import Document

TEXT_SUFFIXES = (".txt", ".md")


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

    def skip(self, error: BadRecordError) -> None:
        self.skipped += 1
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


def _read_jsonl(path: Path) -> Iterator[RawRecord]:
    with _open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, BadRecordError(str(path), number, None, f"not valid UTF-8 (byte {exc.start})")
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, BadRecordError(str(path), number, None, f"invalid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(obj, dict):
                yield number, BadRecordError(str(path), number, None, "expected a JSON object")
                continue
            yield number, obj


def _read_csv(path: Path) -> Iterator[RawRecord]:
    csv.field_size_limit(sys.maxsize)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="", errors="strict") as handle:  # type: ignore[operator]
        reader = csv.DictReader(handle)
        try:
            for row in reader:
                if None in row:  # more cells than header columns
                    yield reader.line_num, BadRecordError(str(path), reader.line_num, None, "more cells than columns")
                    continue
                yield reader.line_num, {k: v for k, v in row.items() if v is not None}
        except UnicodeDecodeError as exc:
            raise CorpusError(
                f"{path}: not valid UTF-8 after line {reader.line_num} (byte {exc.start} of a block)"
            ) from exc
        except csv.Error as exc:
            raise CorpusError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from exc


def _read_parquet(path: Path) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise CorpusError(f"{path}: not a readable Parquet file ({exc})") from exc
    number = 0
    for batch in parquet.iter_batches(batch_size=1024):
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
            yield 1, BadRecordError(str(file), 1, None, f"not valid UTF-8 (byte {exc.start})")
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


def to_document(raw: dict[str, Any], fields: FieldMap, source: str, line: int) -> Document:
    """Turn one raw record into a document, or say precisely why it cannot be one."""
    doc_id: Any = None
    id_field = fields.id_fields[0]
    for name in fields.id_fields:
        if raw.get(name) not in (None, ""):
            doc_id, id_field = raw[name], name
            break
    if doc_id is None:
        raise BadRecordError(source, line, "/".join(fields.id_fields), "missing id")
    if isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
        raise BadRecordError(source, line, id_field, f"id must be a string or integer, got {type(doc_id).__name__}")
    doc_id = str(doc_id)

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

    metadata: dict[str, Any] = {}
    for key, value in raw.items():
        if key in fields.id_fields or key == fields.text_field:
            continue
        if key == "metadata" and isinstance(value, dict):  # BEIR nests extra fields here
            metadata.update(value)
        else:
            metadata[key] = value
    return Document(id=doc_id, text=full, metadata=metadata, source=source, line=line)


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
            report.skip(error)
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
