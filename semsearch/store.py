"""The store of record: one LanceDB table holding every chunk's vector, its document and metadata.

Why LanceDB: a Lance table is versioned and every write is one atomic commit (a new manifest
that readers pick up whole), so a reader never sees half a batch and a killed writer leaves the last
committed version intact. It also gives a filtered vector search of its own (the ``lancedb``
backend) and column scans for the filters of the ``faiss`` backend. Everything else in an index
directory (the FAISS file, the BM25 index) is derived from this table and can be rebuilt from it.

Layout: one row per chunk. Document-level fields (``text``, ``metadata``, hashes) are filled on
chunk 0 only; metadata fields that can be filtered on are copied to every chunk as ``m_<name>``
columns so that a filter can run inside the vector search, before top-k.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa

from semsearch.errors import IndexDamagedError, IndexNotFoundError
from semsearch.filters import FieldInfo, Filter, Kind
from semsearch.types import Document

TABLE = "chunks"
META_PREFIX = "m_"
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_ARROW_KIND = {Kind.NUMBER: pa.float64(), Kind.STRING: pa.string(), Kind.BOOL: pa.bool_()}
_KIND_OF_ARROW = {str(v): k for k, v in _ARROW_KIND.items()}
# Fields every index can be filtered on, whatever its metadata.
SYSTEM_FIELDS = {"id": FieldInfo(column="doc_id", kind=Kind.STRING)}
# Predicted labels (semsearch.classify) live in reserved columns, never in the m_ metadata namespace, so
# a corpus's own "label" field stays what it is. In `where` they are named LABEL_FIELD and PROB_FIELD.
LABEL_COLUMN = "sys_label"  # the classifier's label for the document (every chunk carries it)
PROB_COLUMN = "sys_label_prob"  # its probability
LABELLED_BY_COLUMN = "sys_label_by"  # fingerprint of the classifier that labelled it: others' labels are stale
LABEL_FIELD = "_label"
PROB_FIELD = "_label_prob"
_LABEL_FIELDS = {
    LABEL_FIELD: FieldInfo(column=LABEL_COLUMN, kind=Kind.STRING),
    PROB_FIELD: FieldInfo(column=PROB_COLUMN, kind=Kind.NUMBER),
}
_IN_LIST_CHUNK = 500  # ids per IN (...) list, to keep generated conditions small


def base_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),  # "<doc_id>\x1f<chunk>": the merge key
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("chunk", pa.int32(), nullable=False),
            pa.field("rowid", pa.int64(), nullable=False),  # identity of this vector; never reused
            pa.field("start", pa.int32()),  # character span of the chunk in the text
            pa.field("end", pa.int32()),
            pa.field("text", pa.string()),  # chunk 0 only
            pa.field("metadata", pa.string()),  # chunk 0 only: the full metadata as JSON
            pa.field("text_hash", pa.string()),  # chunk 0 only
            pa.field("doc_hash", pa.string()),  # chunk 0 only: text and metadata
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def metadata_json(metadata: Mapping[str, Any]) -> str:
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str)


def kind_of(value: Any) -> Kind | None:
    """The filter kind of a metadata value, or None if it is not a filterable scalar."""
    if isinstance(value, bool):
        return Kind.BOOL
    if isinstance(value, int | float):
        return Kind.NUMBER
    if isinstance(value, str):
        return Kind.STRING
    return None


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def id_conditions(ids: Sequence[str]) -> Iterator[str]:
    """``doc_id IN (...)`` conditions for ``ids``, a bounded number of ids each."""
    for begin in range(0, len(ids), _IN_LIST_CHUNK):
        part = ids[begin : begin + _IN_LIST_CHUNK]
        yield f"doc_id IN ({', '.join(quote(i) for i in part)})"


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


class Store:
    """The LanceDB table of an index directory."""

    def __init__(self, path: Path, table: lancedb.table.Table) -> None:
        self.path = path
        self.table = table

    @classmethod
    def create(cls, path: Path, dim: int) -> Store:
        db = lancedb.connect(path)
        if TABLE in db.table_names():
            return cls(path, db.open_table(TABLE))
        return cls(path, db.create_table(TABLE, schema=base_schema(dim)))

    @classmethod
    def open(cls, path: Path) -> Store:
        if not path.is_dir():
            raise IndexNotFoundError(f"no store at {path}")
        try:
            db = lancedb.connect(path)
            return cls(path, db.open_table(TABLE))
        except Exception as exc:  # lance raises ValueError/OSError/RuntimeError for damaged data
            raise IndexDamagedError(f"the store at {path} cannot be opened ({exc})") from exc

    @property
    def version(self) -> int:
        return int(self.table.version)

    def fields(self) -> dict[str, FieldInfo]:
        """Filterable fields: metadata columns plus the system ones."""
        found = dict(SYSTEM_FIELDS)
        for column in self.table.schema:
            if column.name.startswith(META_PREFIX):
                kind = _KIND_OF_ARROW.get(str(column.type))
                if kind is not None:
                    found[column.name[len(META_PREFIX) :]] = FieldInfo(column=column.name, kind=kind)
        if self.has_labels():  # reserved names win over metadata fields of the same name
            found.update(_LABEL_FIELDS)
        return found

    def has_labels(self) -> bool:
        return LABEL_COLUMN in self.table.schema.names

    def ensure_label_columns(self) -> None:
        """Add the predicted-label columns (a schema-only commit; documents get NULL until labelled)."""
        if not self.has_labels():
            self.table.add_columns(
                [
                    pa.field(LABEL_COLUMN, pa.string()),
                    pa.field(PROB_COLUMN, pa.float64()),
                    pa.field(LABELLED_BY_COLUMN, pa.string()),
                ]
            )

    def docs_not_labelled_by(self, fingerprint: str) -> list[str]:
        """Documents without a label from the classifier ``fingerprint`` (new to it, or labelled by another)."""
        if not self.has_labels():
            return self.scan(["doc_id"], "chunk = 0")["doc_id"].to_pylist()
        condition = f"chunk = 0 AND ({LABELLED_BY_COLUMN} IS NULL OR {LABELLED_BY_COLUMN} != {quote(fingerprint)})"
        return self.scan(["doc_id"], condition)["doc_id"].to_pylist()

    def ensure_fields(self, kinds: Mapping[str, Kind]) -> None:
        """Add a column for each new metadata field (a schema-only commit; old rows get NULL)."""
        known = set(self.table.schema.names)
        new = [
            pa.field(META_PREFIX + name, _ARROW_KIND[kind])
            for name, kind in kinds.items()
            if META_PREFIX + name not in known
        ]
        if new:
            self.table.add_columns(new)

    def count_chunks(self, where: Filter | None = None) -> int:
        return int(self.table.count_rows(where.sql if where else None))

    def count_docs(self) -> int:
        return int(self.table.count_rows("chunk = 0"))

    def scan(self, columns: Sequence[str], where: str | None = None) -> pa.Table:
        query = self.table.search().select(list(columns)).limit(None)
        if where:
            query = query.where(where)
        return query.to_arrow()

    def doc_hashes(self) -> dict[str, tuple[str, str]]:
        rows = self.scan(["doc_id", "text_hash", "doc_hash"], "chunk = 0")
        return dict(
            zip(
                rows["doc_id"].to_pylist(),
                zip(rows["text_hash"].to_pylist(), rows["doc_hash"].to_pylist(), strict=True),
                strict=True,
            )
        )

    def max_rowid(self) -> int:
        rows = self.scan(["rowid"])
        return int(pa.compute.max(rows["rowid"]).as_py() or -1) if rows.num_rows else -1

    def chunks_of(self, doc_ids: Sequence[str]) -> pa.Table:
        """Stored chunks (vectors included) of ``doc_ids``, to reuse when only metadata changed."""
        tables = [self.scan(["doc_id", "chunk", "rowid", "start", "end", "vector"], c) for c in id_conditions(doc_ids)]
        return pa.concat_tables(tables) if tables else pa.table({})

    def documents(self, doc_ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Text and metadata of ``doc_ids`` (those that exist)."""
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for condition in id_conditions(list(dict.fromkeys(doc_ids))):
            rows = self.scan(["doc_id", "text", "metadata"], f"chunk = 0 AND {condition}")
            for doc_id, text, meta in zip(
                rows["doc_id"].to_pylist(), rows["text"].to_pylist(), rows["metadata"].to_pylist(), strict=True
            ):
                found[doc_id] = (text, json.loads(meta) if meta else {})
        return found

    def write(self, rows: ChunkRows) -> None:
        """Insert or replace the documents of ``rows`` in one atomic commit.

        Chunks of these documents that are not in ``rows`` (a document that got shorter) are
        deleted in the same commit, so no reader ever sees a document with stale chunks.
        """
        if not rows.docs:
            return
        data = self._arrow(rows)
        ids = [d.id for d in rows.docs]
        stale = " OR ".join(f"({c})" for c in id_conditions(ids))
        (
            self.table.merge_insert("key")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(stale)
            .execute(data)
        )

    def delete(self, doc_ids: Iterable[str]) -> int:
        ids = list(doc_ids)
        for condition in id_conditions(ids):
            self.table.delete(condition)
        return len(ids)

    def compact(self) -> None:
        """Merge the small files that many batch commits leave behind (keeps old versions)."""
        self.table.optimize()

    def _arrow(self, rows: ChunkRows) -> pa.Table:
        schema = self.table.schema
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
            for name in meta_columns:
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


def filterable_kinds(docs: Iterable[Document]) -> dict[str, Kind]:
    """The first-seen kind of every filterable metadata field of ``docs``."""
    kinds: dict[str, Kind] = {}
    for doc in docs:
        for name, value in doc.metadata.items():
            if name not in kinds and FIELD_NAME.match(name):
                kind = kind_of(value)
                if kind is not None:
                    kinds[name] = kind
    return kinds
