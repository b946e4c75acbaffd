"""The store of record: one LanceDB table holding every chunk's vector, its document and metadata.

Why LanceDB: a Lance table is versioned and every write is one atomic commit (a new manifest
that readers pick up whole), so a reader never sees half a batch and a killed writer leaves the last
committed version intact. It also gives a filtered vector search of its own (the ``lancedb``
backend) and column scans for the filters of the ``faiss`` backend. Everything else in an index
directory (the FAISS file, the BM25 index) is derived from this table and can be rebuilt from it.

Damage: a file of the table that is truncated, emptied or overwritten makes every method raise
:class:`IndexDamagedError` naming that file (found by :mod:`semsearch.lance_files`) and saying
what to do; :func:`repair` sets damaged versions aside and goes back to the newest intact one.

Layout: one row per chunk. Document-level fields (``text``, ``metadata``, hashes) are filled on
chunk 0 only; metadata fields that can be filtered on are copied to every chunk as ``m_<name>``
columns so that a filter can run inside the vector search, before top-k.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa

from semsearch import lance_files
from semsearch.errors import IndexDamagedError, IndexNotFoundError, SemsearchError
from semsearch.filters import FieldInfo, Filter, Kind
from semsearch.types import Document

log = logging.getLogger(__name__)

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
# What lance says when a version manifest's content (not its framing) is broken; repair sets such a
# version aside, but never one that failed to open for another reason (permissions, a full disk).
_UNDECODABLE = re.compile(r"decode|protobuf|manifest|panic", re.IGNORECASE)


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
        self._first_chunks: tuple[int, dict[str, int]] | None = None  # (version, doc_id -> lance row id)

    @property
    def table_dir(self) -> Path:
        return self.path / f"{TABLE}.lance"

    @classmethod
    def create(cls, path: Path, dim: int) -> Store:
        """The table at ``path``, created if new (a table directory without any version is a creation
        that was interrupted before its first commit: it holds nothing and is started again)."""
        table_dir = path / f"{TABLE}.lance"
        if table_dir.is_dir() and not lance_files.version_files(table_dir):
            log.warning("%s was left empty by an interrupted run; creating it again", table_dir)
            shutil.rmtree(table_dir)
        if table_dir.is_dir():
            return cls.open(path)
        db = lancedb.connect(path)
        return cls(path, db.create_table(TABLE, schema=base_schema(dim)))

    @classmethod
    def open(cls, path: Path) -> Store:
        """The table at ``path`` as of its newest version, held at that version (later commits by a
        writer are not seen by this handle, so everything it reads belongs to one version)."""
        table_dir = path / f"{TABLE}.lance"
        if not table_dir.is_dir():
            raise IndexNotFoundError(
                f"no store at {path} ({table_dir.name} is missing); build the index with 'semsearch index'"
            )
        if not lance_files.version_files(table_dir):
            raise IndexDamagedError(
                f"{table_dir} holds no committed version (its creation was interrupted, or files were removed); "
                "run 'semsearch index' again to build it"
            )
        damage = lance_files.latest_manifest_damage(table_dir)
        if damage is not None:  # checked before lance reads it: a garbled manifest can make lance panic
            raise IndexDamagedError(_damage_message(path, damage))
        try:
            db = lancedb.connect(path)
            return cls(path, db.open_table(TABLE))
        except Exception as exc:  # lance raises ValueError/OSError/RuntimeError/RustPanic for damaged data
            damage = lance_files.find_damage(table_dir, exc)
            if damage is None:  # its framing was sound, so its content is what lance cannot decode
                latest = lance_files.version_files(table_dir)[-1]
                damage = lance_files.Damage(latest.path, f"cannot be decoded ({_first_line(exc)})", latest.version)
            raise IndexDamagedError(_damage_message(path, damage)) from exc

    @contextmanager
    def guarded(self) -> Iterator[None]:
        """Turn a failure caused by a damaged file into :class:`IndexDamagedError` naming the file."""
        try:
            yield
        except SemsearchError:
            raise
        except Exception as exc:
            damage = lance_files.find_damage(self.table_dir, exc)
            if damage is None:
                raise
            raise IndexDamagedError(_damage_message(self.path, damage)) from exc

    def is_latest(self) -> bool:
        """Whether no commit has happened since this handle was opened (derived files are only
        saved for the newest version, so an old reader never replaces a newer writer's file)."""
        try:
            return int(lancedb.connect(self.path).open_table(TABLE).version) == self.version
        except Exception:  # unreadable newest version: certainly not ours to describe
            return False

    @property
    def version(self) -> int:
        return int(self.table.version)

    def fields(self) -> dict[str, FieldInfo]:
        """Filterable fields: metadata columns plus the system ones.

        Reserved names win over metadata fields of the same name (a corpus field ``id`` beside
        ``_id``): ``id`` in a filter is always the document id. Such a field still comes back in
        each hit's metadata.
        """
        found = {}
        for column in self.table.schema:
            if column.name.startswith(META_PREFIX):
                kind = _KIND_OF_ARROW.get(str(column.type))
                if kind is not None:
                    found[column.name[len(META_PREFIX) :]] = FieldInfo(column=column.name, kind=kind)
        found.update(SYSTEM_FIELDS)
        if self.has_labels():
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
            with self.guarded():
                self.table.add_columns(new)

    def count_chunks(self, where: Filter | None = None) -> int:
        with self.guarded():
            return int(self.table.count_rows(where.sql if where else None))

    def count_docs(self) -> int:
        with self.guarded():
            return int(self.table.count_rows("chunk = 0"))

    def scan(self, columns: Sequence[str], where: str | None = None) -> pa.Table:
        query = self.table.search().select(list(columns)).limit(None)
        if where:
            query = query.where(where)
        with self.guarded():
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
        largest = pa.compute.max(rows["rowid"]).as_py() if rows.num_rows else None
        return -1 if largest is None else int(largest)  # 0 is a rowid like any other

    def chunks_of(self, doc_ids: Sequence[str]) -> pa.Table:
        """Stored chunks (vectors included) of ``doc_ids``, to reuse when only metadata changed."""
        tables = [self.scan(["doc_id", "chunk", "rowid", "start", "end", "vector"], c) for c in id_conditions(doc_ids)]
        return pa.concat_tables(tables) if tables else pa.table({})

    def documents(self, doc_ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Text and metadata of ``doc_ids`` (those that exist).

        Each text is checked against the hash stored with it, so a damaged data file can never
        put wrong text into a result (a mismatch raises :class:`IndexDamagedError`).
        """
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        positions = self._first_chunk_rows()
        wanted = [positions[doc_id] for doc_id in dict.fromkeys(doc_ids) if doc_id in positions]
        if wanted:
            with self.guarded():
                rows = self.table.take_row_ids(wanted).select(["doc_id", "text", "metadata", "text_hash"]).to_arrow()
            for doc_id, text, meta, text_hash in zip(
                rows["doc_id"].to_pylist(),
                rows["text"].to_pylist(),
                rows["metadata"].to_pylist(),
                rows["text_hash"].to_pylist(),
                strict=True,
            ):
                if text is None or sha256(text) != text_hash:
                    raise IndexDamagedError(
                        f"the text of document {doc_id!r} in {self.table_dir} does not match its hash "
                        f"(a data file is damaged); {_repair_hint(self.path)}"
                    )
                try:
                    found[doc_id] = (text, json.loads(meta) if meta else {})
                except ValueError as exc:
                    raise IndexDamagedError(
                        f"the metadata of document {doc_id!r} in {self.table_dir} is not JSON (a data file is "
                        f"damaged); {_repair_hint(self.path)}"
                    ) from exc
        return found

    def _first_chunk_rows(self) -> dict[str, int]:
        """Each document's chunk-0 row id in this version, so hits are fetched by id, not by a scan.

        Taking 10 rows by id costs about 2 ms against 5 ms for a filtered scan of a 10,000-chunk
        table (most of a query's time after encoding). Row ids hold within a version; a handle that
        has committed since (a writer) maps again.
        """
        version = self.version
        if self._first_chunks is None or self._first_chunks[0] != version:
            query = self.table.search().where("chunk = 0").select(["doc_id"]).with_row_id(True).limit(None)
            with self.guarded():
                rows = query.to_arrow()
            self._first_chunks = (
                version,
                dict(zip(rows["doc_id"].to_pylist(), rows["_rowid"].to_pylist(), strict=True)),
            )
        return self._first_chunks[1]

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
        with self.guarded():
            (
                self.table.merge_insert("key")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(stale)
                .execute(data)
            )

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Delete ``doc_ids`` in one commit: a reader, or a run killed half-way, sees all or none gone."""
        ids = list(doc_ids)
        if ids:
            with self.guarded():
                self.table.delete(f"doc_id IN ({', '.join(quote(i) for i in ids)})")
        return len(ids)

    def compact(self) -> None:
        """Merge the small files that many batch commits leave behind.

        Compaction is itself one commit (a killed compaction leaves the previous version, plus
        unreferenced files that a later optimize removes); versions from the last 7 days are kept.
        """
        with self.guarded():
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


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair` did: the files it set aside and the version the store is back at."""

    set_aside: tuple[Path, ...]
    damaged_versions: tuple[int, ...]  # versions that could not be read in full
    intact_version: int  # the newest version read in full
    version: int  # the store's version after the repair (a restore is a new commit)
    docs: int

    @property
    def changed(self) -> bool:
        return bool(self.set_aside or self.damaged_versions)


def _read_in_full(path: Path, version: int) -> int:
    """Read every column of every row of ``version``; returns its document count or raises."""
    table = lancedb.connect(path).open_table(TABLE, version=version)
    docs = 0
    for batch in table.search().limit(None).to_batches():
        docs += int(pa.compute.sum(pa.compute.equal(batch.column("chunk"), 0)).as_py() or 0)
    return docs


def repair(path: Path) -> RepairReport:
    """Bring the store at ``path`` back to its newest version that reads in full.

    Newest version manifests that cannot be opened are moved to ``path/damaged-<time>/`` (never
    deleted); then versions are read in full from the newest down, and if the newest intact one
    is not the current version it is restored (a new commit equal to it). Documents committed
    after it are gone from the index but not from the source: the next ``semsearch index`` run
    adds them again. The caller holds the writer lock.
    """
    table_dir = path / f"{TABLE}.lance"
    if not table_dir.is_dir():
        raise IndexNotFoundError(f"no store at {path}; nothing to repair")
    moved: list[Path] = []
    while True:
        damage = lance_files.latest_manifest_damage(table_dir)
        if damage is None:
            try:
                table = lancedb.connect(path).open_table(TABLE)
                break
            except Exception as exc:
                if not _UNDECODABLE.search(f"{type(exc).__name__} {exc}"):
                    raise IndexDamagedError(f"the store at {path} cannot be opened ({_first_line(exc)})") from exc
                log.warning("the newest version of %s cannot be decoded (%s)", table_dir, _first_line(exc))
        latest = lance_files.version_files(table_dir)
        if not latest:
            raise IndexDamagedError(
                f"no version of the store at {path} is intact (damaged files were moved to "
                f"{moved[0].parent if moved else path}); delete {path.parent} and index the corpus again"
            )
        moved.append(lance_files.set_aside(latest[-1].path, path))
        (table_dir / lance_files.VERSIONS / lance_files.HINT).unlink(missing_ok=True)
        log.warning("set aside %s (damaged)", latest[-1].path)
    damaged: list[int] = []
    for version in reversed([v.version for v in lance_files.version_files(table_dir)]):
        try:
            docs = _read_in_full(path, version)
        except Exception as exc:
            log.warning("version %d of %s cannot be read in full (%s)", version, table_dir, _first_line(exc))
            damaged.append(version)
            continue
        if version != table.version:
            table.restore(version)
        return RepairReport(
            set_aside=tuple(moved),
            damaged_versions=tuple(damaged),
            intact_version=version,
            version=int(table.version),
            docs=docs,
        )
    raise IndexDamagedError(
        f"no version of the store at {path} reads in full; delete {path.parent} and index the corpus again"
    )


def _first_line(error: BaseException) -> str:
    """The gist of a library error: its first line, without the Rust source location lance appends."""
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else type(error).__name__
    return re.sub(r",\s*/\S+\.rs:\d+:\d+", "", line)


def _repair_hint(store_dir: Path) -> str:
    return (
        f"run 'semsearch repair --index {store_dir.parent}' to go back to the newest intact version, "
        "then run 'semsearch index' again to re-add what that drops"
    )


def _damage_message(store_dir: Path, damage: lance_files.Damage) -> str:
    what = f"version {damage.version} of the store" if damage.version is not None else "a file of the store"
    return f"{damage.path} ({what}) {damage.problem}; {_repair_hint(store_dir)}"


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
