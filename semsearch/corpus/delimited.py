"""CSV and TSV, with each column's type found over the whole file.

CSV cells are text, but a ``year`` column should filter as a number, and the same rows as Parquet
should give the same metadata. So a CSV/TSV file is read twice: a first pass (streamed, stopping as
soon as every column is known to be text) finds each column's type over the whole file, the second
converts the cells. A column is a number only if every non-empty cell is one in JSON's spelling (a
leading zero, as in zip codes or ``007``, keeps it text), a bool only if every non-empty cell is
true/false; ints stay ints unless the column also holds fractions. Deciding per column, not per
cell, keeps one field one filter type. The id, text and title columns stay as written, and a type
declared in :class:`~semsearch.corpus.FieldMap` wins over inference (its cells are checked and a cell
that is not of that type is a bad record). Empty cells are missing values (None), as Parquet's nulls.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from semsearch.corpus.formats import STREAM_ERRORS, SURROGATE, RawRecord
from semsearch.corpus.records import FieldMap
from semsearch.errors import BadRecordError, CorpusError

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
            reader = csv.DictReader(handle, delimiter=delimiter, strict=True)
            if any(SURROGATE.search(name) for name in reader.fieldnames or []):
                raise CorpusError(f"{path}:1: the header is not valid UTF-8")
            for row in reader:
                number = reader.line_num
                yield number, row
    except csv.Error as exc:
        raise CorpusError(f"{path}:{number + 1}: malformed {kind}: {_plain(exc, delimiter)}") from exc
    except STREAM_ERRORS as exc:
        raise CorpusError(f"{path}: cannot be read past line {number} ({type(exc).__name__}: {exc})") from exc


def _plain(error: csv.Error, delimiter: str) -> str:
    """What Python's csv module found wrong, said of the file (the module speaks of its parser).

    The reader is strict: a quote left open (which would swallow every row after it into one cell) or text
    after a closing quote stops the run, at the line where the record begins, rather than being read on."""
    said = str(error)
    if said == "unexpected end of data":
        return "a quoted cell that starts in this record is never closed"
    if said.endswith("expected after '\"'"):
        return f'text follows a closing quote (a quote inside a cell is written twice: ""), not {delimiter!r}'
    return said


def _misshapen(row: dict[Any, Any]) -> str | None:
    """Why a row's cells do not line up with the header, if they do not: too many (a None key) or too few
    (None values, where an empty cell would be ""). Either way its cells cannot be told apart."""
    columns = sum(1 for name in row if name is not None)
    if None in row:
        return f"more cells than columns ({columns + len(row[None])} for {columns})"
    missing = sum(1 for value in row.values() if value is None)
    if missing:
        return f"fewer cells than columns ({columns - missing} for {columns})"
    return None


def _unusable(row: dict[Any, Any]) -> str | None:
    """Why a row is a bad record whatever its types, if it is."""
    misshapen = _misshapen(row)
    if misshapen is not None:
        return misshapen
    if any(isinstance(v, str) and SURROGATE.search(v) for v in row.values()):
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
        if _misshapen(row) is not None:
            continue  # a bad record either way: its cells say nothing
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


def read_delimited(path: Path, delimiter: str, fields: FieldMap) -> Iterator[RawRecord]:
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


def count_rows(path: Path, delimiter: str) -> int | None:
    """How many records a CSV/TSV file holds (rows, not lines: a quoted cell may span several)."""
    csv.field_size_limit(sys.maxsize)
    try:
        with _open_text(path) as handle:
            rows = sum(1 for row in csv.reader(handle, delimiter=delimiter) if row)
    except (csv.Error, *STREAM_ERRORS):
        return None  # reading it says what is wrong
    return max(rows - 1, 0)
