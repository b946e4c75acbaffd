"""Reading corpus files record by record: JSONL (plain, gzipped, or on standard input as ``-``),
CSV and TSV (plain or gzipped), Parquet, BEIR folders, and notes: a folder of ``.txt``/``.md`` files
or one such file. Each reader yields raw records (a dict of fields, or the error that made a line
unreadable); :mod:`.records` turns them into documents.

Every format is read lazily, one record at a time, so a file larger than memory indexes in bounded
memory. A file that cannot be read on at all (a truncated ``.gz``, a damaged Parquet file) is a
:class:`CorpusError` naming the file and how far it got.

CSV cells are text, but a ``year`` column should filter as a number, and the same rows as Parquet
should give the same metadata. So a CSV/TSV file is read twice: a first pass (streamed, stopping as
soon as every column is known to be text) finds each column's type over the whole file, the second
converts the cells. A column is a number only if every non-empty cell is one in JSON's spelling (a
leading zero, as in zip codes or ``007``, keeps it text), a bool only if every non-empty cell is
true/false; ints stay ints unless the column also holds fractions. Deciding per column, not per
cell, keeps one field one filter type. The id, text and title columns stay as written, and a type
declared in :class:`~semsearch.corpus.FieldMap` wins over inference (its cells are checked and a cell
that is not of that type is a bad record). Empty cells are missing values (None), as Parquet's nulls.

Notes are what people keep in folders (an Obsidian vault, a docs tree): hidden files and folders
(``.git``, ``.obsidian``) are not notes, an empty file is counted rather than failed, YAML front
matter is metadata (its ``title`` the title), and a Markdown file that opens with a ``# Heading``
takes it as its title (moved out of the text, so the title prepended by :mod:`.records` is not
there twice). A glob chooses other files than every ``.txt``/``.md`` one.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import gzip
import json
import math
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from semsearch.corpus.records import FieldMap
from semsearch.errors import BadRecordError, CorpusError, OptionError

TEXT_SUFFIXES = (".txt", ".md")
MARKDOWN_SUFFIXES = (".md", ".markdown")
STDIN = "-"  # as a source: JSONL on standard input
STDIN_NAME = "<stdin>"  # how messages name it
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# What a truncated or damaged compressed/Parquet file raises while being read.
_STREAM_ERRORS = (EOFError, OSError, zlib.error)


class Format(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    TSV = "tsv"
    PARQUET = "parquet"
    TEXT_DIR = "text-dir"
    TEXT_FILE = "text-file"
    BEIR = "beir"


@dataclass(frozen=True)
class EmptyFile:
    """A note with nothing to index (empty or whitespace only): counted, neither a document nor a bad record."""

    source: str


# A raw record is (line number, field dict), (line number, the error that made it unreadable), or an
# empty note.
RawRecord = tuple[int, dict[str, Any] | BadRecordError | EmptyFile]
TABULAR = (Format.CSV, Format.TSV, Format.PARQUET)  # whose fields messages call columns


def is_stdin(path: str | Path) -> bool:
    return str(path) == STDIN


def detect_format(path: str | Path, glob: str | None = None) -> Format:
    """The format of ``path``; a ``glob`` makes a folder a folder of notes (even one with corpus.jsonl)."""
    if is_stdin(path):
        if glob is not None:
            raise OptionError("glob", glob, "chooses files in a folder; '-' is standard input")
        return Format.JSONL
    path = Path(path)
    if path.is_dir():
        if glob is None and ((path / "corpus.jsonl").is_file() or (path / "corpus.jsonl.gz").is_file()):
            return Format.BEIR
        return Format.TEXT_DIR
    if not path.exists():
        raise CorpusError(f"{path}: no such file or directory")
    if glob is not None:
        raise OptionError("glob", glob, f"chooses files in a folder; {path} is a file")
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")):
        return Format.JSONL
    if name.endswith((".csv", ".csv.gz")):
        return Format.CSV
    if name.endswith((".tsv", ".tsv.gz")):
        return Format.TSV
    if name.endswith(".parquet"):
        return Format.PARQUET
    if name.endswith(TEXT_SUFFIXES):
        return Format.TEXT_FILE
    raise CorpusError(
        f"{path}: unknown corpus format (expected .jsonl, .jsonl.gz, .csv, .tsv, .parquet, a .txt/.md file, "
        "a directory of .txt/.md files, a BEIR folder with corpus.jsonl, or - for JSONL on standard input)"
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


def _json_record(name: str, number: int, raw: bytes) -> dict[str, Any] | BadRecordError:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRecordError(name, number, None, _utf8_reason(exc))
    if number == 1:
        line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
    try:
        obj = parse_json_line(line)
    except json.JSONDecodeError as exc:
        # Some of Python's messages end in "at" ("Invalid control character '\x00' at"): say it once.
        reason = exc.msg.removesuffix(" at")
        return BadRecordError(name, number, None, f"invalid JSON: {reason} at column {exc.colno}")
    except RecursionError:
        return BadRecordError(name, number, None, "invalid JSON: nested too deeply")
    except ValueError as exc:  # NaN/Infinity, out-of-range numbers, integers with too many digits
        return BadRecordError(name, number, None, f"invalid JSON: {str(exc).split(';')[0]}")
    if not isinstance(obj, dict):
        return BadRecordError(name, number, None, "expected a JSON object")
    return obj


def _read_jsonl(path: Path) -> Iterator[RawRecord]:
    stdin = is_stdin(path)
    name = STDIN_NAME if stdin else str(path)
    number = 0
    try:
        with contextlib.nullcontext(sys.stdin.buffer) if stdin else _open_binary(path) as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield number, _json_record(name, number, raw)
    except _STREAM_ERRORS as exc:
        raise CorpusError(f"{name}: cannot be read past line {number} ({type(exc).__name__}: {exc})") from exc


# Cell spellings. Inference takes JSON's numbers only (no leading zeros, no "+", no "1_000", no
# "inf"/"nan"); a column declared a number also takes "007", "+5", ".5" and "5.".
_JSON_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INT = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_MAX_DIGITS = 4000  # Python refuses to parse longer integers (sys.int_info.str_digits_check_threshold)
_BOOLS = {"true": True, "false": False}  # what inference takes
_DECLARED_BOOLS = {**_BOOLS, "yes": True, "no": False, "1": True, "0": False}  # what a declared bool takes
# Column types, for the cells of a CSV file: "string", "bool", "int", "float" ("number" is int or float).
_ANY = frozenset({"bool", "int", "float"})
_IS_BOOL = frozenset({"bool"})
_IS_INT = frozenset({"int", "float"})
_IS_FLOAT = frozenset({"float"})
_NONE: frozenset[str] = frozenset()


def _delimiter(fmt: Format) -> str:
    return "\t" if fmt is Format.TSV else ","


def _open_text(path: Path) -> TextIO:
    # surrogateescape keeps undecodable bytes as lone surrogates, so one bad row is one bad record
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="", errors="surrogateescape")
    return path.open("r", encoding="utf-8-sig", newline="", errors="surrogateescape")


def _rows(path: Path, delimiter: str) -> Iterator[tuple[int, dict[Any, Any]]]:
    """(last line number, row) of a CSV/TSV file; a row with more cells than columns has a None key."""
    csv.field_size_limit(sys.maxsize)
    kind = "TSV" if delimiter == "\t" else "CSV"
    number = 0
    try:
        with _open_text(path) as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            if any(_SURROGATE.search(name) for name in reader.fieldnames or []):
                raise CorpusError(f"{path}:1: the header is not valid UTF-8")
            for row in reader:
                number = reader.line_num
                yield number, row
    except csv.Error as exc:
        raise CorpusError(f"{path}:{number + 1}: malformed {kind}: {exc}") from exc
    except _STREAM_ERRORS as exc:
        raise CorpusError(f"{path}: cannot be read past line {number} ({type(exc).__name__}: {exc})") from exc


def _unusable(row: dict[Any, Any]) -> str | None:
    """Why a row is a bad record whatever its types, if it is."""
    if None in row:
        return "more cells than columns"
    if any(isinstance(v, str) and _SURROGATE.search(v) for v in row.values()):
        return "not valid UTF-8"
    return None


def _inferred(cell: str) -> frozenset[str]:
    """The column types a (stripped, non-empty) cell allows."""
    if cell.lower() in _BOOLS:
        return _IS_BOOL
    if _JSON_INT.fullmatch(cell):
        return _IS_INT if len(cell) <= _MAX_DIGITS else _NONE
    if _JSON_NUMBER.fullmatch(cell) and math.isfinite(float(cell)):
        return _IS_FLOAT
    return _NONE


def _column_types(path: Path, delimiter: str, fields: FieldMap) -> dict[str, str]:
    """Each column's type over the whole file (the first pass): a declared type, "string" for the
    columns kept as written, else what every non-empty cell allows. Stops reading once nothing is
    left to learn."""
    declared = fields.declared()
    as_written = fields.as_written()
    types: dict[str, str] = {}
    inferring: dict[str, frozenset[str]] = {}  # columns still open: the types their cells allow so far
    ints: dict[str, bool] = {}  # columns declared numbers: whether every number so far is an integer
    seen: set[str] = set()
    columns: list[str] | None = None
    for _, row in _rows(path, delimiter):
        if columns is None:
            columns = [name for name in row if name is not None]
            for name in columns:
                kind = declared.get(name)
                if kind == "number":
                    ints[name] = True
                elif kind is not None:
                    types[name] = kind
                elif name in as_written:
                    types[name] = "string"
                else:
                    inferring[name] = _ANY
        if not inferring and not any(ints.values()):
            break
        if None in row:
            continue  # a bad record either way (more cells than columns): its cells say nothing
        for name in list(inferring):
            cell = (row[name] or "").strip()
            if cell:
                allowed = inferring[name] & _inferred(cell)
                if allowed:
                    seen.add(name)
                    inferring[name] = allowed
                elif _unusable(row) is None:  # not one of the bad rows (invalid UTF-8)
                    del inferring[name]
                    types[name] = "string"
        for name in [n for n, integral in ints.items() if integral]:
            cell = (row[name] or "").strip()
            if cell and not _INT.fullmatch(cell) and _NUMBER.fullmatch(cell):
                ints[name] = False  # an invalid cell is a bad record later, not a reason for floats
    for name, allowed in inferring.items():
        if name not in seen:
            types[name] = "string"
        else:
            types[name] = "bool" if allowed == _IS_BOOL else "int" if "int" in allowed else "float"
    for name, integral in ints.items():
        types[name] = "int" if integral else "float"
    return types


def _short(cell: str) -> str:
    return repr(cell[:40]) + ("…" if len(cell) > 40 else "")


def _cell(value: str | None, kind: str) -> Any:
    """One cell as its column's type; None when empty; ValueError (the reason) when it is not that type."""
    if value is None or value == "":
        return None
    if kind == "string":
        return value
    cell = value.strip()
    if not cell:
        return None
    if kind == "bool":
        flag = _DECLARED_BOOLS.get(cell.lower())
        if flag is None:
            raise ValueError(f"expected true or false, got {_short(cell)}")
        return flag
    if not _NUMBER.fullmatch(cell):
        raise ValueError(f"expected a number, got {_short(cell)}")
    if kind == "int" and _INT.fullmatch(cell):
        if len(cell.lstrip("+-")) > _MAX_DIGITS:
            raise ValueError(f"number {cell[:20]}... has more than {_MAX_DIGITS} digits")
        return int(cell)
    number = float(cell)
    if not math.isfinite(number):
        raise ValueError(f"number {cell[:20]} is out of range")
    return number


def _read_delimited(path: Path, delimiter: str, fields: FieldMap) -> Iterator[RawRecord]:
    types = _column_types(path, delimiter, fields)
    for number, row in _rows(path, delimiter):
        reason = _unusable(row)
        if reason is not None:
            yield number, BadRecordError(str(path), number, None, reason)
            continue
        record: dict[str, Any] = {}
        try:
            for name, value in row.items():
                record[name] = _cell(value, types.get(name, "string"))
        except ValueError as exc:
            yield number, BadRecordError(str(path), number, name, str(exc))
            continue
        yield number, record


def _count_rows(path: Path, delimiter: str) -> int | None:
    """How many records a CSV/TSV file holds (rows, not lines: a quoted cell may span several)."""
    csv.field_size_limit(sys.maxsize)
    try:
        with _open_text(path) as handle:
            rows = sum(1 for row in csv.reader(handle, delimiter=delimiter) if row)
    except (csv.Error, *_STREAM_ERRORS):
        return None  # reading it says what is wrong
    return max(rows - 1, 0)


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


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def note_files(path: Path, glob: str | None = None) -> list[Path]:
    """The notes of a folder, in order: every ``.txt``/``.md`` file below it, or those matching
    ``glob`` (relative to it); never a hidden file or one in a hidden folder."""
    if glob is None:
        candidates = [p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES]
    else:
        try:
            candidates = list(path.glob(glob))
        except (ValueError, NotImplementedError) as exc:  # "", an absolute pattern
            raise OptionError("glob", glob, f"expected a pattern of files relative to the folder ({exc})") from None
    return sorted(p for p in candidates if p.is_file() and not _hidden(p.relative_to(path)))


# Front matter: a first line "---", YAML, a line "---".
_FRONT_MATTER = re.compile(r"---[ \t]*\r?\n((?:[^\n]*\n)*?)---[ \t]*\r?(?:\n|\Z)")
# A Markdown level-1 heading, with its optional closing #s.
_HEADING = re.compile(r"#[ \t]+([^\n]*?)(?:[ \t]+#+)?[ \t]*\r?(?:\n|\Z)")


def _plain(value: Any) -> Any:
    """A YAML value as JSON would hold it: string keys, lists, dates as ISO text, finite numbers."""
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, datetime.date):  # and datetime: "2024-03-01" filters as text, and sorts
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    return value


def _front_matter(file: Path, text: str) -> tuple[dict[str, Any], str] | BadRecordError:
    """(front matter, the text after it); no front matter is ({}, text)."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    import yaml

    try:
        # yaml.safe_load's rules; libyaml's parser where PyYAML was built with it (much faster)
        data = yaml.load(match.group(1), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = 2 + mark.line if mark is not None else 2
        problem = " ".join(str(getattr(exc, "problem", None) or type(exc).__name__).split())
        return BadRecordError(str(file), line, None, f"invalid YAML front matter: {problem}")
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # e.g. a date such as 2024-13-45
        return BadRecordError(str(file), 2, None, f"invalid YAML front matter: {type(exc).__name__}: {exc}")
    if data is None:
        data = {}  # "---" twice: an empty template
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else type(data).__name__
        return BadRecordError(str(file), 2, None, f"the front matter is not a mapping of fields (it is a {kind})")
    try:
        fields = _plain(data)
    except ValueError as exc:
        return BadRecordError(str(file), 2, None, f"front matter: {exc}")
    except RecursionError:
        return BadRecordError(str(file), 2, None, "front matter: nested too deeply")
    return fields, text[match.end() :]


def _note(file: Path, rel: str) -> dict[str, Any] | BadRecordError | EmptyFile:
    """One note as a record: ``id`` and ``path`` its relative path, ``text``, ``title`` if it has one,
    and its front matter under ``metadata`` (where :mod:`.records` takes metadata from, after which
    ``title`` and ``path`` are set, so front matter cannot change them)."""
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRecordError(str(file), 1, None, _utf8_reason(exc))
    except OSError as exc:
        return BadRecordError(str(file), 1, None, f"cannot be read ({exc.strerror})")
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return EmptyFile(str(file))
    parsed = _front_matter(file, text)
    if isinstance(parsed, BadRecordError):
        return parsed
    front, body = parsed
    title = front.get("title")
    if isinstance(title, int | float) and not isinstance(title, bool):
        title = str(title)  # title: 1984
    if title is None or (isinstance(title, str) and not title.strip()):
        title = None
        if file.suffix.lower() in MARKDOWN_SUFFIXES:
            start = len(body) - len(body.lstrip())
            heading = _HEADING.match(body, start)
            if heading is not None and heading.group(1).strip():
                title, body = heading.group(1).strip(), body[heading.end() :]
    if title is None and not body.strip():
        return EmptyFile(str(file))  # front matter and nothing else
    record: dict[str, Any] = {"id": rel, "text": body.lstrip() if front or title is not None else body}
    if front:
        record["metadata"] = front
    if title is not None:
        record["title"] = title
    record["path"] = rel
    return record


def _read_notes(files: list[Path], root: Path) -> Iterator[RawRecord]:
    for file in files:
        item = _note(file, file.relative_to(root).as_posix())
        yield (item.line if isinstance(item, BadRecordError) else 1), item


def _read_text_dir(path: Path, glob: str | None) -> Iterator[RawRecord]:
    files = note_files(path, glob)
    if not files:
        if glob is not None:
            raise CorpusError(f"{path}: no files match {glob!r} (hidden files and folders are skipped)")
        raise CorpusError(f"{path}: directory holds no .txt or .md files and no corpus.jsonl")
    return _read_notes(files, path)


def read_raw(path: Path, fmt: Format, fields: FieldMap | None = None, glob: str | None = None) -> Iterator[RawRecord]:
    """The raw records of ``path``; ``fields`` says which CSV/TSV columns stay text and which types are declared."""
    if fmt is Format.JSONL:
        return _read_jsonl(path)
    if fmt in (Format.CSV, Format.TSV):
        return _read_delimited(path, _delimiter(fmt), fields or FieldMap())
    if fmt is Format.PARQUET:
        return _read_parquet(path)
    if fmt is Format.BEIR:
        corpus = path / "corpus.jsonl"
        return _read_jsonl(corpus if corpus.is_file() else path / "corpus.jsonl.gz")
    if fmt is Format.TEXT_FILE:
        return _read_notes([path], path.parent)
    return _read_text_dir(path, glob)


def source_name(path: Path, fmt: Format) -> str:
    """The file that error messages name for records of ``path``."""
    if is_stdin(path):
        return STDIN_NAME
    if fmt is Format.BEIR:
        corpus = path / "corpus.jsonl"
        return str(corpus if corpus.is_file() else path / "corpus.jsonl.gz")
    return str(path)


def estimate_count(path: str | Path, glob: str | None = None) -> int | None:
    """A cheap record count for progress bars; None when counting would cost a full read (a ``.gz``
    file) or is impossible (standard input)."""
    fmt = detect_format(path, glob)
    if is_stdin(path):
        return None
    path = Path(path)
    if fmt is Format.PARQUET:
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if fmt is Format.TEXT_DIR:
        return len(note_files(path, glob))
    if fmt is Format.TEXT_FILE:
        return 1
    file = Path(source_name(path, fmt))
    if file.name.endswith(".gz"):
        return None
    if fmt in (Format.CSV, Format.TSV):
        return _count_rows(file, _delimiter(fmt))
    with file.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
