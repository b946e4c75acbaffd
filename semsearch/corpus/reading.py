"""Reading a source: the reader for its format, what error messages call it, and how many records it holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from semsearch.corpus.delimited import count_rows, read_delimited
from semsearch.corpus.formats import STDIN_NAME, Format, RawRecord, delimiter, detect_format, is_stdin
from semsearch.corpus.jsonl import read_jsonl
from semsearch.corpus.notes import note_files, read_notes, read_text_dir
from semsearch.corpus.parquet import read_parquet
from semsearch.corpus.records import FieldMap


def read_raw(path: Path, fmt: Format, fields: FieldMap | None = None, glob: str | None = None) -> Iterator[RawRecord]:
    """The raw records of ``path``; ``fields`` says which CSV/TSV columns stay text and which types are declared."""
    if fmt is Format.JSONL:
        return read_jsonl(path)
    if fmt in (Format.CSV, Format.TSV):
        return read_delimited(path, delimiter(fmt), fields or FieldMap())
    if fmt is Format.PARQUET:
        return read_parquet(path)
    if fmt is Format.BEIR:
        corpus = path / "corpus.jsonl"
        return read_jsonl(corpus if corpus.is_file() else path / "corpus.jsonl.gz")
    if fmt is Format.TEXT_FILE:
        return read_notes([path], path.parent)
    return read_text_dir(path, glob)


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
        return count_rows(file, delimiter(fmt))
    with file.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
