"""Parquet, streamed in batches of rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from semsearch.corpus.formats import STREAM_ERRORS, RawRecord
from semsearch.errors import CorpusError


def read_parquet(path: Path) -> Iterator[RawRecord]:
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
        except (pa.ArrowException, *STREAM_ERRORS) as exc:
            raise CorpusError(f"{path}: cannot be read past row {number} ({exc})") from exc
        if batch is None:
            return
        for row in batch.to_pylist():
            number += 1
            yield number, row
