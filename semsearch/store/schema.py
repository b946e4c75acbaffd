"""The layout of the store table: columns, metadata fields and their kinds, the reserved label columns.

One row per chunk. Document-level fields (``text``, ``metadata``, hashes) are filled on chunk 0 only;
metadata fields that can be filtered on are copied to every chunk as ``m_<name>`` columns so that a
filter can run inside the vector search, before top-k: strings, numbers (float64), booleans, and lists of
strings (``list<string>``, tested with ``CONTAINS``). Predicted labels (:mod:`semsearch.classify`)
live in reserved ``sys_`` columns, never in the ``m_`` namespace, so a corpus's own "label" field stays
what it is; in ``where`` they are named ``_label`` and ``_label_prob``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from semsearch.filters import FieldInfo, Kind
from semsearch.types import Document

TABLE = "chunks"
META_PREFIX = "m_"
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
ARROW_KIND = {
    Kind.NUMBER: pa.float64(),
    Kind.STRING: pa.string(),
    Kind.BOOL: pa.bool_(),
    Kind.STRING_LIST: pa.list_(pa.string()),  # tested with CONTAINS, rendered as array_has
}
KIND_OF_ARROW = {str(v): k for k, v in ARROW_KIND.items()}
# Fields every index can be filtered on, whatever its metadata.
SYSTEM_FIELDS = {"id": FieldInfo(column="doc_id", kind=Kind.STRING)}
LABEL_COLUMN = "sys_label"  # the classifier's label for the document (every chunk carries it)
PROB_COLUMN = "sys_label_prob"  # its probability
LABELLED_BY_COLUMN = "sys_label_by"  # fingerprint of the classifier that labelled it: others' labels are stale
LABEL_FIELD = "_label"
PROB_FIELD = "_label_prob"
LABEL_FIELDS = {
    LABEL_FIELD: FieldInfo(column=LABEL_COLUMN, kind=Kind.STRING),
    PROB_FIELD: FieldInfo(column=PROB_COLUMN, kind=Kind.NUMBER),
}
IN_LIST_CHUNK = 500  # ids per IN (...) list, to keep generated conditions small


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
    """The filter kind of a metadata value: a scalar, or a list of strings (an empty list included);
    None for anything else (a list of numbers, a mixed list, an object), which cannot be filtered."""
    if isinstance(value, bool):
        return Kind.BOOL
    if isinstance(value, int | float):
        return Kind.NUMBER
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return Kind.STRING_LIST
    return None


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def id_conditions(ids: Sequence[str]) -> Iterator[str]:
    """``doc_id IN (...)`` conditions for ``ids``, a bounded number of ids each."""
    for begin in range(0, len(ids), IN_LIST_CHUNK):
        part = ids[begin : begin + IN_LIST_CHUNK]
        yield f"doc_id IN ({', '.join(quote(i) for i in part)})"


def filterable_kinds(docs: Iterable[Document]) -> dict[str, Kind]:
    """The first-seen kind of every filterable metadata field of ``docs``.

    An empty list does not decide a field's kind (it fits a list of strings, but a field whose other
    values are lists of numbers must not become a list-of-strings column because one document has ``[]``).
    """
    kinds: dict[str, Kind] = {}
    for doc in docs:
        for name, value in doc.metadata.items():
            if name not in kinds and FIELD_NAME.match(name) and not (isinstance(value, list) and not value):
                kind = kind_of(value)
                if kind is not None:
                    kinds[name] = kind
    return kinds
