"""What a corpus source is: its format, from its name or what a folder holds, and what the readers share.

Each format has its reader: :mod:`.jsonl` (JSONL, BEIR), :mod:`.delimited` (CSV, TSV), :mod:`.parquet`,
:mod:`.notes` (folders of ``.txt``/``.md`` files, or one such file); :mod:`.reading` picks one. Every
reader yields raw records (a dict of fields, or the error that made a line unreadable) lazily, one at a
time, so a file larger than memory indexes in bounded memory; :mod:`.records` makes documents of them.
A file that cannot be read on at all (a truncated ``.gz``, a damaged Parquet file) is a
:class:`CorpusError` naming the file and how far it got.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from semsearch.errors import BadRecordError, CorpusError, OptionError

TEXT_SUFFIXES = (".txt", ".md")


MARKDOWN_SUFFIXES = (".md", ".markdown")


STDIN = "-"  # as a source: JSONL on standard input


STDIN_NAME = "<stdin>"  # how messages name it


SURROGATE = re.compile(r"[\ud800-\udfff]")


# What a truncated or damaged compressed/Parquet file raises while being read.
STREAM_ERRORS = (EOFError, OSError, zlib.error)


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


def open_binary(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def utf8_reason(error: UnicodeDecodeError) -> str:
    return f"not valid UTF-8 (byte 0x{error.object[error.start]:02x} at byte column {error.start + 1})"


def delimiter(fmt: Format) -> str:
    return "\t" if fmt is Format.TSV else ","
