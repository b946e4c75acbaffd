"""Build or update an index from a corpus source: new documents are added, changed ones re-encoded,
unchanged ones skipped (by content hash), and missing ones deleted on request.

Documents are processed in batches; each batch is one atomic commit of the store, so an
interrupted run keeps every batch it committed and the next run picks up from there without
re-encoding them. Derived data (the FAISS file, the BM25 index) is refreshed at the end.

Crash safety, step by step (a SIGKILL can land anywhere): the store is created before the
manifest, so a manifest always has a store; every batch, the ``--delete-missing`` deletion and
the compaction are single commits; derived files are written under unique temporary names and
renamed into place. One writer at a time: :func:`writer_lock` (an ``flock`` the kernel releases
when its holder dies, so a killed run never leaves a stale lock).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from tqdm.auto import tqdm

from semsearch import bm25, corpus
from semsearch.bm25 import BM25Index
from semsearch.chunking import DEFAULT_OVERLAP, ChunkConfig, default_window
from semsearch.encoder import DEFAULT_MODEL, Encoder, Precision
from semsearch.errors import BadRecordError, CorpusError, IndexDamagedError, IndexLockedError, SemsearchError
from semsearch.filters import FieldInfo
from semsearch.fsutil import atomic_write_text, size_on_disk, sweep_temporaries
from semsearch.index import open_backend
from semsearch.labelling import IndexLabeller, install_if_new, open_labeller
from semsearch.manifest import BACKUP, MANIFEST, STORE_DIR, Manifest
from semsearch.store import ChunkRows, Store, filterable_kinds, kind_of, metadata_json, sha256
from semsearch.types import Backend, Document, Pooling

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
ROWIDS = "rowids.json"  # the next rowid to hand out, so that one is never reused after a deletion
_LOCK_POLL = 0.2  # seconds between attempts while waiting for another writer


@dataclass(frozen=True)
class IndexOptions:
    """How to encode and store a corpus. Defaults are what a user gets from the CLI."""

    model: str = DEFAULT_MODEL
    pooling: Pooling = Pooling.MEAN
    precision: Precision | None = None  # None: the index's own, or for a new index the fastest exact-enough one
    window: int | None = None  # tokens per document window; None: the index's own, for a new one DEFAULT_WINDOW
    overlap: int | None = None  # tokens shared by consecutive windows; None: the index's own, else a default
    backend: Backend = Backend.FAISS
    faiss_factory: str = "auto"  # by size: exact while fast enough, HNSW above (see semsearch.index.faiss)
    fields: corpus.FieldMap = field(default_factory=corpus.FieldMap)
    batch_docs: int = 256  # documents per commit
    skip_bad: bool = False
    delete_missing: bool = False
    progress: bool = True
    lock_timeout: float = 0.0  # seconds to wait for another writer of the same index; 0: fail at once
    classifier: Path | None = None  # label every document with this classifier (see semsearch.labelling)


@dataclass(frozen=True)
class IndexSummary:
    docs: int  # documents in the index after the run
    chunks: int
    added: int
    updated: int
    unchanged: int
    deleted: int
    skipped_bad: int
    encoded_docs: int
    seconds: float
    bytes_on_disk: int
    skipped_examples: tuple[str, ...] = ()
    relabelled: int = 0  # unchanged documents given a label by the index's (new) classifier
    vector_index: str = ""  # which vector index serves the store, with its measured recall

    @property
    def docs_per_second(self) -> float:
        return self.encoded_docs / self.seconds if self.seconds > 0 else 0.0


@contextmanager
def writer_lock(directory: Path, timeout: float = 0.0) -> Iterator[None]:
    """Hold the index's writer lock, waiting up to ``timeout`` seconds for another writer to finish.

    A second writer then fails with :class:`IndexLockedError` naming the holder; it never touches
    the index. The lock is an ``flock``, so the kernel drops it when its holder exits or is killed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(timeout, 0.0)
    with (directory / LOCK_FILE).open("a+") as handle:
        waiting = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                handle.seek(0)
                holder = handle.read().strip()[:20] or "unknown"
                if not waiting and timeout > 0:
                    log.info("waiting up to %g s for the writer lock of %s (pid %s)", timeout, directory, holder)
                    waiting = True
                if time.monotonic() >= deadline:
                    waited = f" (waited {timeout:g} s)" if timeout > 0 else ""
                    raise IndexLockedError(
                        f"{directory} is being written by another process (pid {holder}){waited}; "
                        "try again when it ends, or pass --wait SECONDS to wait for it"
                    ) from exc
                time.sleep(_LOCK_POLL)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_for_writing(directory: Path, encoder: Encoder, options: IndexOptions) -> tuple[Manifest, Store]:
    """The manifest and store of ``directory``, created if new, refused if built differently.

    The store is created before the manifest is written, so an index whose manifest exists always
    has a store; a store without a manifest is a first run that was killed before its first commit.
    """
    existing = None
    if (directory / MANIFEST).exists() or (directory / BACKUP).exists():
        existing = Manifest.load(directory)  # a damaged one is refused with the way back, never replaced
    cut = chunking_of(existing, encoder, options)
    wanted = Manifest(
        model=encoder.identity,
        pooling=encoder.pooling,
        dim=encoder.dim,
        max_length=cut.max_length,
        overlap=cut.overlap,
        backend=options.backend,
        faiss_factory=options.faiss_factory,
        precision=encoder.precision,
    )
    if existing is not None:
        existing.check_same_vectors(wanted)
    for folder in (directory, directory / "faiss"):
        sweep_temporaries(folder)  # what runs killed earlier left behind
    bm25.tidy(directory / "bm25")
    store = Store.create(directory / STORE_DIR, encoder.dim)
    if existing is None and store.count_chunks() > 0:
        raise IndexDamagedError(
            f"{directory / MANIFEST} is missing but the store holds vectors from an unknown model; "
            f"delete {directory} and index the corpus again"
        )
    manifest = existing.with_search_settings(options.backend, options.faiss_factory) if existing else wanted
    manifest.save(directory)
    return manifest, store


def recorded_precision(directory: Path) -> Precision | None:
    """The precision an existing index was encoded at, so an update encodes the same way."""
    return Manifest.load(directory).precision if (directory / MANIFEST).exists() else None


def chunking_of(existing: Manifest | None, encoder: Encoder, options: IndexOptions) -> ChunkConfig:
    """How documents are cut: as asked, else as the existing index cuts them, else by default.

    An update encodes its documents as the index's other documents were, so what is not asked for
    comes from the manifest. A new index gets :data:`DEFAULT_WINDOW` tokens (or the model's whole
    length if shorter) and :data:`DEFAULT_OVERLAP` (or a quarter of a window too short for it). A
    window the model cannot read whole, or an overlap the window cannot hold, is refused before
    anything is written.
    """
    if options.window is not None and options.window > encoder.max_length:
        raise SemsearchError(
            f"--window {options.window}: {encoder.name} reads windows of 8 to {encoder.max_length} tokens"
        )
    window = options.window or (existing.max_length if existing else default_window(encoder.max_length))
    if options.overlap is not None:
        overlap = options.overlap
    elif existing and window == existing.max_length:
        overlap = existing.overlap
    else:
        overlap = min(DEFAULT_OVERLAP, window // 4)
    try:
        return ChunkConfig(window, overlap)
    except ValueError as exc:
        raise SemsearchError(f"{window}-token windows with an overlap of {overlap} tokens: {exc}") from exc


def check_metadata(doc: Document, fields: dict[str, FieldInfo]) -> None:
    """A metadata value whose type differs from its column's cannot be stored or filtered."""
    for name, value in doc.metadata.items():
        info = fields.get(name)
        if info is None or value is None or info.column == "doc_id":
            continue
        found = kind_of(value)
        if found is not info.kind:
            got = type(value).__name__
            raise BadRecordError(
                doc.source, doc.line, name, f"expected a {info.kind} (as in earlier records), got {got}"
            )


class _Run:
    """One indexing run: counts what happened while the batches stream through."""

    def __init__(
        self,
        encoder: Encoder,
        store: Store,
        manifest: Manifest,
        options: IndexOptions,
        report: corpus.LoadReport,
        labeller: IndexLabeller | None = None,
    ) -> None:
        self.rowids = RowidCounter(store)
        self.encoder = encoder
        self.manifest = manifest  # its window and overlap cut every document
        self.labeller = labeller
        self.store = store
        self.options = options
        self.report = report
        self.existing = store.doc_hashes()
        self.seen: set[str] = set()
        self.added = self.updated = self.unchanged = self.encoded = 0

    def process(self, batch: list[Document]) -> None:
        self.store.ensure_fields(filterable_kinds(batch))
        fields = self.store.fields()
        to_encode: list[Document] = []
        metadata_only: list[Document] = []
        for doc in batch:
            try:
                check_metadata(doc, fields)
            except BadRecordError as error:
                if not self.options.skip_bad:
                    raise
                self.report.skip(error, doc.id)
                continue
            self.seen.add(doc.id)
            old = self.existing.get(doc.id)
            text_hash = sha256(doc.text)
            if old is None:
                self.added += 1
                to_encode.append(doc)
            elif old == (text_hash, sha256(doc.text + metadata_json(doc.metadata))):
                self.unchanged += 1
            elif old[0] == text_hash:
                self.updated += 1
                metadata_only.append(doc)
            else:
                self.updated += 1
                to_encode.append(doc)
        if to_encode:
            self.store.write(self._encoded_rows(to_encode))
            log.info("committed %d encoded documents (store version %d)", len(to_encode), self.store.version)
        if metadata_only:
            self.store.write(self._reused_rows(metadata_only))
            log.info("committed %d metadata updates (store version %d)", len(metadata_only), self.store.version)

    def _encoded_rows(self, docs: list[Document]) -> ChunkRows:
        chunks = self.encoder.chunks([d.text for d in docs], self.manifest.overlap, self.manifest.max_length)
        vectors = self.encoder.encode_ids([c.input_ids for c in chunks])
        self.encoded += len(docs)
        return self._labelled(
            ChunkRows(
                docs=docs,
                doc_index=[c.doc for c in chunks],
                numbers=[c.number for c in chunks],
                spans=[(c.start, c.end) for c in chunks],
                rowids=self.rowids.take(len(chunks)),
                vectors=vectors,
            )
        )

    def _reused_rows(self, docs: list[Document]) -> ChunkRows:
        """Same text, new metadata: keep the stored vectors (and their rowids) as they are."""
        stored = self.store.chunks_of([d.id for d in docs])
        position = {d.id: i for i, d in enumerate(docs)}
        dim = stored.schema.field("vector").type.list_size
        vectors = stored["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
        return self._labelled(
            ChunkRows(
                docs=docs,
                doc_index=[position[d] for d in stored["doc_id"].to_pylist()],
                numbers=stored["chunk"].to_pylist(),
                spans=list(zip(stored["start"].to_pylist(), stored["end"].to_pylist(), strict=True)),
                rowids=stored["rowid"].to_pylist(),
                vectors=vectors,
            )
        )

    # -- predicted labels (semsearch.labelling): kept apart from the encode/skip logic above --

    def _labelled(self, rows: ChunkRows) -> ChunkRows:
        return self.labeller.label(rows) if self.labeller is not None else rows

    def relabel_stale(self) -> int:
        """Label the stored documents that the index's classifier has not labelled (vectors reused)."""
        if self.labeller is None:
            return 0
        stale = self.store.docs_not_labelled_by(self.labeller.fingerprint)
        with tqdm(
            total=len(stale), unit="doc", desc="labelling", disable=not self.options.progress or not stale
        ) as bar:
            for begin in range(0, len(stale), self.options.batch_docs):
                stored = self.store.documents(stale[begin : begin + self.options.batch_docs])
                docs = [Document(id=i, text=text, metadata=meta) for i, (text, meta) in stored.items()]
                self.store.write(self._reused_rows(docs))
                bar.update(len(docs))
        return len(stale)


class RowidCounter:
    """Hands out rowids that no vector of the index has had before, deleted ones included.

    A FAISS file is current when its ids equal the store's (:mod:`semsearch.index.faiss`), so a
    rowid given again after its vector was deleted would let a stale file serve the deleted vector
    under the new document's name. The largest rowid in the store is not enough (deleting the newest
    documents lowers it): the next one is recorded beside the store, before the rows that use it
    are written (a crash in between leaves only a gap). An index made before the record existed,
    or whose record was lost, starts again after its largest stored rowid.
    """

    def __init__(self, store: Store) -> None:
        self.path = store.path.parent / ROWIDS
        try:
            recorded = int(json.loads(self.path.read_text(encoding="utf-8"))["next"])
        except FileNotFoundError:
            recorded = 0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s is unreadable (%s); continuing after the largest stored rowid", self.path, exc)
            recorded = 0
        self.next = max(recorded, store.max_rowid() + 1)

    def take(self, count: int) -> list[int]:
        first = self.next
        self.next += count
        atomic_write_text(self.path, json.dumps({"next": self.next}) + "\n")
        return list(range(first, first + count))


def build_index(source: str | Path, directory: str | Path, options: IndexOptions | None = None) -> IndexSummary:
    """Index ``source`` into ``directory`` (created, or updated incrementally)."""
    options = options or IndexOptions()
    directory = Path(directory)
    started = time.perf_counter()
    total = corpus.estimate_count(source)  # also fails early on a missing or unknown source
    encoder = Encoder(options.model, options.pooling, options.precision or recorded_precision(directory))
    with writer_lock(directory, options.lock_timeout):
        labeller = open_labeller(directory, encoder, options.classifier)  # refuses another encoder's classifier
        manifest, store = open_for_writing(directory, encoder, options)
        if labeller is not None:
            labeller = labeller.cutting_as(ChunkConfig(manifest.max_length, manifest.overlap))
            install_if_new(labeller, directory)
            store.ensure_label_columns()
        report = corpus.LoadReport()
        run = _Run(encoder, store, manifest, options, report, labeller)
        documents = corpus.load(source, options.fields, skip_bad=options.skip_bad, report=report)
        with tqdm(total=total, unit="doc", desc="indexing", disable=not options.progress) as bar:
            while batch := list(islice(documents, options.batch_docs)):
                run.process(batch)
                bar.update(len(batch))
                bar.set_postfix(added=run.added, updated=run.updated, unchanged=run.unchanged, refresh=False)
        deleted = 0
        if options.delete_missing:
            missing = sorted(set(run.existing) - run.seen - report.skipped_ids)  # a bad new record keeps the old
            if missing and not run.seen:
                raise CorpusError(
                    f"{source} gave no usable documents; refusing to delete all {len(missing)} documents "
                    "of the index with --delete-missing"
                )
            log.info("deleting %d documents no longer in the source (one commit)", len(missing))
            deleted = store.delete(missing)
        relabelled = run.relabel_stale()
        if run.encoded or deleted or run.updated or relabelled:
            log.info("compacting the store")
            store.compact()
        vector_index = refresh_derived(directory, store, manifest)
        log.info("index complete: store version %d", store.version)
        return IndexSummary(
            docs=store.count_docs(),
            chunks=store.count_chunks(),
            added=run.added,
            updated=run.updated,
            unchanged=run.unchanged,
            deleted=deleted,
            skipped_bad=report.skipped,
            encoded_docs=run.encoded,
            seconds=time.perf_counter() - started,
            bytes_on_disk=size_on_disk(directory),
            skipped_examples=tuple(report.skipped_examples),
            relabelled=relabelled,
            vector_index=vector_index,
        )


def refresh_derived(directory: Path, store: Store, manifest: Manifest) -> str:
    """Bring the vector backend's files and the BM25 index in line with the store; describe the former."""
    log.info("refreshing derived files")
    backend = open_backend(manifest.backend, store, directory, manifest.faiss_factory)
    backend.sync()
    BM25Index.for_store(store, directory / "bm25")
    return backend.describe()
