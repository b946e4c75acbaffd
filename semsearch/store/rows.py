"""A batch of chunks on its way into the table, and its layout as the table's rows.

Kept apart from :mod:`.table` (which reads and commits) because rows are made in more than one place:
the local indexing run, and Ray's encoding actors (:mod:`semsearch.ingest.distributed`), which lay out their
rows themselves and hand the store only the fragments they wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from semsearch.store.schema import LABEL_COLUMN, LABELLED_BY_COLUMN, META_PREFIX, PROB_COLUMN, metadata_json, sha256
from semsearch.types import Document


def vector_array(rows: pa.Table) -> np.ndarray:
    """The ``vector`` column of ``rows`` (read from the table) as one float32 array, a row per chunk."""
    column = rows["vector"]
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(flat.reshape(-1, column.type.list_size), dtype=np.float32)


@dataclass(frozen=True)
class DocLabel:
    """A classifier's verdict on one document."""

    label: str
    prob: float
    by: str  # the classifier's fingerprint


@dataclass(frozen=True)
class ChunkRows:
    """The chunks of a batch of documents, ready to be written in one commit."""

    docs: Sequence[Document]
    doc_index: Sequence[int]  # per chunk: which document
    numbers: Sequence[int]  # per chunk: its number within the document
    spans: Sequence[tuple[int, int]]
    rowids: Sequence[int]
    vectors: np.ndarray
    labels: Sequence[DocLabel] | None = None  # per document, when the index has a classifier


def chunk_table(schema: pa.Schema, rows: ChunkRows) -> pa.Table:
    """The rows of ``rows`` in the table's layout ``schema`` (a writer elsewhere, e.g. a Ray task, makes them too)."""
    n = len(rows.doc_index)
    columns: dict[str, list[Any]] = {name: [None] * n for name in schema.names if name != "vector"}
    meta_columns = [name for name in schema.names if name.startswith(META_PREFIX)]
    doc_level = {i: (sha256(d.text), sha256(d.text + metadata_json(d.metadata))) for i, d in enumerate(rows.docs)}
    for row, (doc, number, (start, end), rowid) in enumerate(
        zip(rows.doc_index, rows.numbers, rows.spans, rows.rowids, strict=True)
    ):
        document = rows.docs[doc]
        columns["key"][row] = f"{document.id}\x1f{number}"
        columns["doc_id"][row] = document.id
        columns["chunk"][row] = number
        columns["rowid"][row] = rowid
        columns["start"][row] = start
        columns["end"][row] = end
        if number == 0:
            columns["text"][row] = document.text
            columns["metadata"][row] = metadata_json(document.metadata)
            columns["text_hash"][row], columns["doc_hash"][row] = doc_level[doc]
        for name in meta_columns:  # None where the document lacks the field; a list of strings as is
            value = document.metadata.get(name[len(META_PREFIX) :])
            columns[name][row] = float(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if rows.labels is not None and LABEL_COLUMN in columns:
            verdict = rows.labels[doc]
            columns[LABEL_COLUMN][row] = verdict.label
            columns[PROB_COLUMN][row] = verdict.prob
            columns[LABELLED_BY_COLUMN][row] = verdict.by
    arrays = {name: pa.array(values, type=schema.field(name).type) for name, values in columns.items()}
    dim = schema.field("vector").type.list_size
    flat = pa.array(np.ascontiguousarray(rows.vectors, dtype=np.float32).reshape(-1))
    arrays["vector"] = pa.FixedSizeListArray.from_arrays(flat, dim)
    return pa.table([arrays[name] for name in schema.names], schema=schema)
