"""The store of record: one LanceDB table holding every chunk's vector, its document and metadata.

Why Lance: a Lance dataset is versioned and every write is one atomic commit (a new manifest
that readers pick up whole), so a reader never sees half a batch and a killed writer leaves the last
committed version intact. It also gives a filtered vector search of its own (the ``lancedb``
backend) and column scans for the filters of the ``faiss`` backend. The table is the one LanceDB
opens (``lancedb.connect(DIR/store).open_table("chunks")``), read and written here with ``pylance``
itself, which imports in a fraction of the time. Everything else in an index
directory (the FAISS file, the BM25 index) is derived from this table and can be rebuilt from it.

Damage: a file of the table that is truncated, emptied or overwritten makes every method raise
:class:`IndexDamagedError` naming that file (found by :mod:`semsearch.store.damage`) and saying what
to do; :func:`semsearch.store.repair.repair` goes back to the newest intact version.
The layout of the table is :mod:`semsearch.store.schema`'s.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from semsearch import location
from semsearch.errors import IndexDamagedError, IndexNotFoundError, SemsearchError
from semsearch.filters import FieldInfo, Filter, Kind
from semsearch.store import damage as lance_files
from semsearch.store.held import Holder
from semsearch.store.rows import ChunkRows, chunk_table, vector_array
from semsearch.store.schema import (
    ARROW_KIND,
    KIND_OF_ARROW,
    LABEL_COLUMN,
    LABEL_FIELDS,
    LABELLED_BY_COLUMN,
    META_PREFIX,
    PROB_COLUMN,
    SYSTEM_FIELDS,
    TABLE,
    base_schema,
    id_conditions,
    quote,
    sha256,
)

log = logging.getLogger(__name__)

KEEP_VERSIONS = timedelta(days=7)  # versions an indexing run's clean-up keeps, for readers that hold one


def is_lance_failure(error: BaseException) -> bool:
    """Whether ``error`` is a failure of the store library (an exception, or a Rust panic, which pyo3
    raises as a BaseException) rather than the process being told to stop."""
    return not isinstance(error, KeyboardInterrupt | SystemExit | GeneratorExit)


@dataclass(frozen=True)
class StoredDocument:
    """A document as the store holds it: its text and metadata, and its predicted label if it has one."""

    text: str
    metadata: dict[str, Any]
    label: str | None = None
    label_prob: float | None = None


@dataclass(frozen=True)
class StoredWindow:
    """A window of a document as the store holds it: its number, character span and vector."""

    number: int
    start: int
    end: int
    vector: np.ndarray


class Store:
    """The LanceDB table of an index directory."""

    def __init__(self, path: Path, dataset: lance.LanceDataset) -> None:
        self.path = path
        self.dataset = dataset
        self._first_chunks: tuple[int, dict[str, int]] | None = None  # (version, doc_id -> lance row id)
        self._holder = Holder()  # the documents of a version, in memory where they are few
        self._labelled: tuple[int, bool] | None = None  # (version, whether it has the label columns)

    @property
    def table_dir(self) -> Path:
        return self.path / f"{TABLE}.lance"

    @property
    def schema(self) -> pa.Schema:
        return self.dataset.schema

    @property
    def dim(self) -> int:
        """Length of the stored vectors."""
        return int(self.dataset.schema.field("vector").type.list_size)

    @classmethod
    def create(cls, path: Path, dim: int) -> Store:
        """The table at ``path``, created if new (a table directory without any version is a creation
        that was interrupted before its first commit: it holds nothing and is started again)."""
        uri, options = location.store_uri(path.parent, f"{TABLE}.lance")
        if options is not None:  # on object storage: Lance's "create" fails rather than replace a table
            try:
                return cls.open(path)
            except IndexNotFoundError:
                schema = base_schema(dim)
                empty = schema.empty_table()
                return cls(path, lance.write_dataset(empty, uri, schema=schema, mode="create", storage_options=options))
        table_dir = path / f"{TABLE}.lance"
        if table_dir.is_dir() and not lance_files.version_files(table_dir):
            log.warning("%s was left empty by an interrupted run; creating it again", table_dir)
            shutil.rmtree(table_dir)
        if table_dir.is_dir():
            return cls.open(path)
        schema = base_schema(dim)
        return cls(path, lance.write_dataset(schema.empty_table(), str(table_dir), schema=schema, mode="create"))

    @classmethod
    def open(cls, path: Path) -> Store:
        """The table at ``path`` as of its newest version, held at that version (later commits by a
        writer are not seen by this handle, so everything it reads belongs to one version)."""
        uri, options = location.store_uri(path.parent, f"{TABLE}.lance")
        if options is not None:
            return cls._open_remote(path, uri, options)
        table_dir = path / f"{TABLE}.lance"
        if not table_dir.is_dir():
            raise IndexNotFoundError(f"no store at {path} ({table_dir.name} is missing); index a corpus into it first")
        if not lance_files.version_files(table_dir):
            raise IndexDamagedError(
                f"{table_dir} holds no committed version (its creation was interrupted, or files were removed); "
                "index the corpus again to build it"
            )
        damage = lance_files.latest_manifest_damage(table_dir)
        if damage is not None:  # checked before lance reads it: a garbled manifest can make lance panic
            raise lance_files.damaged(path, damage)
        try:
            return cls(path, lance.dataset(str(table_dir)))
        except BaseException as exc:  # lance raises ValueError/OSError/RuntimeError, or panics, on damaged data
            if not is_lance_failure(exc):
                raise
            damage = lance_files.find_damage(table_dir, exc)
            if damage is None:  # its framing was sound, so its content is what lance cannot decode
                latest = lance_files.version_files(table_dir)[-1]
                damage = lance_files.Damage(
                    latest.path, f"cannot be decoded ({lance_files.first_line(exc)})", latest.version
                )
            raise lance_files.damaged(path, damage) from exc

    @classmethod
    def _open_remote(cls, path: Path, uri: str, options: dict[str, str]) -> Store:
        """The table on object storage (Lance reads it there; the damage checks of a local folder do not apply)."""
        try:
            return cls(path, lance.dataset(uri, storage_options=options))
        except BaseException as exc:
            if not is_lance_failure(exc):
                raise
            text = lance_files.first_line(exc)
            if "not found" in text.lower() or "does not exist" in text.lower():
                raise IndexNotFoundError(f"no store at {uri}; index a corpus into it first") from exc
            raise location.ObjectStoreError(f"cannot open {uri}: {text}") from exc

    @contextmanager
    def guarded(self) -> Iterator[None]:
        """Turn a failure caused by a damaged file into :class:`IndexDamagedError` naming the file."""
        try:
            yield
        except SemsearchError:
            raise
        except BaseException as exc:
            if not is_lance_failure(exc):
                raise
            damage = lance_files.find_damage(self.table_dir, exc)
            if damage is None:
                raise
            raise lance_files.damaged(self.path, damage) from exc

    def is_latest(self) -> bool:
        """Whether no commit has happened since this handle was opened (derived files are only
        saved for the newest version, so an old reader never replaces a newer writer's file)."""
        try:
            return int(self.dataset.latest_version) == self.version
        except BaseException as exc:  # unreadable newest version: certainly not ours to describe
            if not is_lance_failure(exc):
                raise
            return False

    @property
    def version(self) -> int:
        return int(self.dataset.version)

    def fields(self) -> dict[str, FieldInfo]:
        """Filterable fields: metadata columns plus the system ones.

        Reserved names win over metadata fields of the same name (a corpus field ``id`` beside
        ``_id``): ``id`` in a filter is always the document id. Such a field still comes back in
        each hit's metadata.
        """
        found = {}
        for column in self.dataset.schema:
            if column.name.startswith(META_PREFIX):
                kind = KIND_OF_ARROW.get(str(column.type))
                if kind is not None:
                    found[column.name[len(META_PREFIX) :]] = FieldInfo(column=column.name, kind=kind)
        found.update(SYSTEM_FIELDS)
        if self.has_labels():
            found.update(LABEL_FIELDS)
        return found

    def has_labels(self) -> bool:
        """Whether the table has the predicted-label columns (read once a version: every fetch asks)."""
        version = self.version
        if self._labelled is None or self._labelled[0] != version:
            self._labelled = (version, LABEL_COLUMN in self.dataset.schema.names)
        return self._labelled[1]

    def ensure_label_columns(self) -> None:
        """Add the predicted-label columns (a schema-only commit; documents get NULL until labelled)."""
        if not self.has_labels():
            with self.guarded():
                self.dataset.add_columns(
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
        known = set(self.dataset.schema.names)
        new = [
            pa.field(META_PREFIX + name, ARROW_KIND[kind])
            for name, kind in kinds.items()
            if META_PREFIX + name not in known
        ]
        if new:
            with self.guarded():
                self.dataset.add_columns(new)

    def count_chunks(self, where: Filter | None = None) -> int:
        with self.guarded():
            return int(self.dataset.count_rows(where.sql if where else None))

    def count_docs(self) -> int:
        with self.guarded():
            return int(self.dataset.count_rows("chunk = 0"))

    def scan(self, columns: Sequence[str], where: str | None = None) -> pa.Table:
        with self.guarded():
            return self.dataset.to_table(columns=list(columns), filter=where or None)

    def nearest(self, query: np.ndarray, limit: int, where: str | None = None) -> pa.Table:
        """``doc_id`` and inner product (``score``) of the ``limit`` chunks nearest ``query`` among those
        matching ``where`` (filtered before the top ``limit``), by an exact scan of the vectors."""
        nearest = {"column": "vector", "q": query.astype(np.float32), "k": limit, "metric": "dot", "use_index": False}
        with self.guarded():
            rows = self.dataset.to_table(
                columns=["doc_id", "rowid", "_distance"],
                nearest=nearest,
                filter=where or None,
                prefilter=where is not None,
            )
        # Lance's "dot" distance is 1 - inner product; turn it back into a similarity.
        scores = pc.subtract(1.0, rows["_distance"].cast(pa.float32()))
        return pa.table({"doc_id": rows["doc_id"], "rowid": rows["rowid"], "score": scores})

    def vectors_of(self, rowids: np.ndarray) -> np.ndarray:
        """The vectors of the chunks ``rowids`` (the store's own rowid column), in that order."""
        wanted = [int(i) for i in rowids]
        if not wanted:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = self.scan(["rowid", "vector"], f"rowid IN ({', '.join(map(str, wanted))})")
        found = dict(zip(rows["rowid"].to_pylist(), range(rows.num_rows), strict=True))
        missing = [i for i in wanted if i not in found]
        if missing:
            raise KeyError(f"no chunk with rowid {missing[0]} in {self.table_dir}")
        return vector_array(rows)[[found[i] for i in wanted]]

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
        largest = pc.max(rows["rowid"]).as_py() if rows.num_rows else None
        return -1 if largest is None else int(largest)  # 0 is a rowid like any other

    def chunks_of(self, doc_ids: Sequence[str]) -> pa.Table:
        """Stored chunks (vectors included) of ``doc_ids``, to reuse when only metadata changed."""
        tables = [self.scan(["doc_id", "chunk", "rowid", "start", "end", "vector"], c) for c in id_conditions(doc_ids)]
        return pa.concat_tables(tables) if tables else pa.table({})

    def windows(self, doc_ids: Sequence[str]) -> dict[str, list[StoredWindow]]:
        """Each of ``doc_ids``' windows, in order (a document the store lacks is left out)."""
        rows = self.chunks_of(doc_ids)
        if rows.num_rows == 0:
            return {}
        found: dict[str, list[StoredWindow]] = {}
        for doc_id, number, start, end, vector in zip(
            rows["doc_id"].to_pylist(), rows["chunk"].to_pylist(), rows["start"].to_pylist(), rows["end"].to_pylist(),
            vector_array(rows), strict=True,
        ):  # fmt: skip
            found.setdefault(doc_id, []).append(StoredWindow(number, start, end, vector))
        return {doc_id: sorted(windows, key=lambda w: w.number) for doc_id, windows in found.items()}

    def present(self, doc_ids: Iterable[str]) -> set[str]:
        """Which of ``doc_ids`` this version holds."""
        rows = self._first_chunk_rows()
        return {doc_id for doc_id in doc_ids if doc_id in rows}

    def documents(self, doc_ids: Sequence[str], hold: bool = False) -> dict[str, StoredDocument]:
        """Text, metadata and predicted label of ``doc_ids`` (those that exist).

        Each text is checked against the hash stored with it, so a damaged data file can never
        put wrong text into a result (a mismatch raises :class:`IndexDamagedError`). ``hold``: keep this
        version's documents in memory where they fit (:mod:`semsearch.store.held`), for a reader that fetches
        a few at a time, many times (searches); a writer that fetches between its commits would read them
        again after each.
        """
        found: dict[str, StoredDocument] = {}
        labelled = self.has_labels()
        # No doc_id column: a take returns its rows in the order asked, and each column adds to its cost.
        columns = ["text", "metadata", "text_hash"] + ([LABEL_COLUMN, PROB_COLUMN] if labelled else [])
        held = None
        if hold:
            with self.guarded():
                held = self._holder.documents(self.dataset, self.version, columns)
        positions = held if held is not None else self._first_chunk_rows()
        present = [doc_id for doc_id in dict.fromkeys(doc_ids) if doc_id in positions]
        if not present:
            return found
        if held is not None:
            records = [held[doc_id] for doc_id in present]
        else:
            with self.guarded():
                # pylance's take by row id (what LanceDB's take_row_ids calls)
                rows = self.dataset._take_rows([positions[doc_id] for doc_id in present], columns=columns)
            if rows.num_rows != len(present):
                raise IndexDamagedError(
                    f"{self.table_dir} returned {rows.num_rows} rows for {len(present)} documents it lists",
                    lance_files.repair_hint(self.path),
                )
            records = list(zip(*(rows[name].to_pylist() for name in columns), strict=True))
        for doc_id, record in zip(present, records, strict=True):
            text, meta, text_hash = record[:3]
            label, prob = record[3:] if labelled else (None, None)
            if text is None or sha256(text) != text_hash:
                raise IndexDamagedError(
                    f"the text of document {doc_id!r} in {self.table_dir} does not match its hash "
                    "(a data file is damaged)",
                    lance_files.repair_hint(self.path),
                )
            try:
                found[doc_id] = StoredDocument(text, json.loads(meta) if meta else {}, label, prob)
            except ValueError as exc:
                raise IndexDamagedError(
                    f"the metadata of document {doc_id!r} in {self.table_dir} is not JSON (a data file is damaged)",
                    lance_files.repair_hint(self.path),
                ) from exc
        return found

    @property
    def holds_documents(self) -> bool:
        """Whether this handle's searches take their hits from memory now (:mod:`semsearch.store.held`)."""
        return self._holder.held is not None and self._holder.held.rows is not None

    def release(self) -> None:
        """Let go of the documents held in memory (read again at a later search's second fetch)."""
        self._holder.release()

    def _first_chunk_rows(self) -> dict[str, int]:
        """Each document's chunk-0 row id in this version, so hits are fetched by id, not by a scan.

        Taking 10 rows by id costs about 2 ms against 5 ms for a filtered scan of a 10,000-chunk
        table (most of a query's time after encoding). Row ids hold within a version; a handle that
        has committed since (a writer) maps again.
        """
        version = self.version
        if self._first_chunks is None or self._first_chunks[0] != version:
            with self.guarded():
                rows = self.dataset.to_table(columns=["doc_id"], filter="chunk = 0", with_row_id=True)
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
                self.dataset.merge_insert("key")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(stale)
                .execute(data)
            )

    def commit_fragments(self, fragments: Sequence[Any], replaced: Sequence[str] = ()) -> None:
        """Make ``fragments`` written elsewhere (by Ray tasks) part of the table in one commit, and delete
        the stored chunks of the ``replaced`` documents in that same commit: a reader sees a changed
        document's old chunks or its new ones, never both or neither. Always an Append or an Update,
        never an Overwrite (a stale Overwrite would silently win over concurrent appends)."""
        if not fragments and not replaced:
            return
        read_version = self.version
        updated, removed = [], []
        if replaced:
            predicate = " OR ".join(f"({c})" for c in id_conditions(list(replaced)))
            with self.guarded():
                for fragment in self.dataset.get_fragments():
                    new = fragment.delete(predicate)  # writes a deletion file; commits nothing
                    if new is None:
                        removed.append(fragment.fragment_id)
                    elif new.deletion_file != fragment.metadata.deletion_file:
                        updated.append(new)
            operation: Any = lance.LanceOperation.Update(
                removed_fragment_ids=removed, updated_fragments=updated, new_fragments=list(fragments)
            )
        else:
            operation = lance.LanceOperation.Append(list(fragments))
        with self.guarded():
            self.dataset = lance.LanceDataset.commit(self.dataset, operation, read_version=read_version)

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Delete ``doc_ids`` in one commit: a reader, or a run killed half-way, sees all or none gone."""
        ids = list(doc_ids)
        if ids:
            with self.guarded():
                self.dataset.delete(f"doc_id IN ({', '.join(quote(i) for i in ids)})")
        return len(ids)

    def compact(self, keep: timedelta = KEEP_VERSIONS) -> int:
        """Merge the small files that many batch commits leave behind, and remove versions older than
        ``keep`` (with the files only they use); returns how many versions went.

        Compaction is itself one commit (a killed compaction leaves the previous version, plus
        unreferenced files that a later clean-up removes). A reader holding a removed version must reopen.
        """
        with self.guarded():
            self.dataset.optimize.compact_files()
            stats = self.dataset.cleanup_old_versions(older_than=keep)
        return int(getattr(stats, "old_versions", 0))

    def _arrow(self, rows: ChunkRows) -> pa.Table:
        return chunk_table(self.dataset.schema, rows)
