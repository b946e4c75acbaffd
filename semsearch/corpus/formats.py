"""Reading corpus files record by record: JSONL (plain or gzipped), CSV, Parquet, folders of
``.txt``/``.md`` files, BEIR folders. Each reader yields raw records (a dict of fields, or the error
that made a line unreadable); :mod:`.records` turns them into documents.

Every format is read lazily, one record at a time, so a file larger than memory indexes in bounded
memory. A file that cannot be read on at all (a truncated ``.gz``, a damaged Parquet file) is a
:class:`CorpusError` naming the file and how far it got.
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
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from semsearch.errors import BadRecordError, CorpusError

TEXT_SUFFIXES = (".txt", ".md")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# What a truncated or damaged compressed/Parquet file raises while being read.
_STREAM_ERRORS = (EOFError, OSError, zlib.error)


class Format(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"
    TEXT_DIR = "text-dir"
    BEIR = "beir"


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
        with opener(path, "rt", encoding="utf-8-sig", newline="", errors="surrogateescape") as handle:
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


def read_raw(path: Path, fmt: Format) -> Iterator[RawRecord]:
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
