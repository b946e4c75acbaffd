"""Build or update an index from a corpus source: new documents are added, changed ones re-encoded,
unchanged ones skipped (by content hash), and missing ones deleted on request.

Documents are processed in batches; each batch is one atomic commit of the store, so an
interrupted run keeps every batch it committed and the next run picks up from there without
re-encoding them. Derived data (the FAISS file, the BM25 index) is refreshed at the end.

Crash safety, step by step (a SIGKILL can land anywhere): the store is created before the
manifest, so a manifest always has a store; every batch, the ``delete_missing`` deletion and
the compaction are single commits; derived files are written under unique temporary names and
renamed into place. One writer at a time: :func:`semsearch.store.lock.writer_lock`.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from queue import Empty, Queue
from typing import Any, TypeVar

from tqdm.auto import tqdm

from semsearch import corpus, location
from semsearch.ann import open_backend
from semsearch.bm25 import BM25
from semsearch.chunking import Chunk, ChunkConfig
from semsearch.encoder import Encoder
from semsearch.errors import BadRecordError, CorpusError, SemsearchError
from semsearch.filters import FieldInfo, Kind
from semsearch.fsutil import size_on_disk
from semsearch.ingest.labelling import IndexLabeller, install_if_new, open_labeller
from semsearch.ingest.options import IndexOptions, IndexSummary
from semsearch.ingest.prepare import check_metadata, existing_manifest, open_for_writing, settle
from semsearch.manifest import STORE_DIR, Manifest
from semsearch.store import ChunkRows, Store, vector_array
from semsearch.store.lock import writer_lock
from semsearch.store.rowids import RowidCounter
from semsearch.store.schema import META_PREFIX, filterable_kinds, metadata_json, sha256
from semsearch.types import Document

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Cut:
    """A batch sorted (:meth:`_Run.sort`) and the documents to encode cut into windows: what the reading thread
    hands the encoder."""

    size: int  # records read for it: its documents, and the bad records and empty files met on the way
    counts: dict[str, int]  # what became of its documents: added, updated, unchanged
    kinds: dict[str, Kind]
    to_encode: list[Document]
    chunks: list[Chunk]
    metadata_only: list[Document]


@dataclass(frozen=True)
class Prepared:
    """A batch ready to be written: its new metadata fields, encoded rows, documents whose metadata alone changed."""

    kinds: dict[str, Kind]
    encoded: ChunkRows | None
    metadata_only: list[Document]


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
        still_held: Callable[[], None] = lambda: None,
    ) -> None:
        self.still_held = still_held  # raises if another writer took the index over (a lease on object storage)
        self.rowids = RowidCounter(store)
        self.encoder = encoder
        self.manifest = manifest  # its window and overlap cut every document
        self.labeller = labeller
        self.store = store
        self.options = options
        self.report = report
        self.existing = store.doc_hashes()
        self.fields = store.fields()  # the filterable fields, with those of the batches prepared so far
        self.seen: set[str] = set()
        self.added = self.updated = self.unchanged = self.encoded = 0
        self.read = 0  # records read by the batches cut so far

    def cut(self, batch: list[Document]) -> Cut:
        """Sort ``batch`` and cut the documents to encode into windows. It reads nothing from the store (what a
        batch's metadata must fit is kept here), so it runs in the reading thread, ahead of the encoder."""
        before = self.counts()
        kinds, to_encode, metadata_only = self.sort(batch)
        texts = [d.text for d in to_encode]
        chunks = self.encoder.chunks(texts, self.manifest.overlap, self.manifest.max_length) if texts else []
        read, self.read = self.report.read - self.read, self.report.read  # this thread reads the source
        counts = {name: count - before[name] for name, count in self.counts().items()}
        return Cut(read, counts, kinds, to_encode, chunks, metadata_only)

    def counts(self) -> dict[str, int]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged}

    def encode(self, cut: Cut) -> Prepared:
        """The windows of a cut batch encoded (labelled too, where the index has a classifier)."""
        encoded = self._encoded_rows(cut.to_encode, cut.chunks) if cut.to_encode else None
        return Prepared(cut.kinds, encoded, cut.metadata_only)

    def sort(self, batch: list[Document]) -> tuple[dict[str, Kind], list[Document], list[Document]]:
        """The batch's new metadata fields, the documents to encode (new, or with a new text) and those whose
        metadata alone changed; unchanged documents are counted and dropped, bad ones checked here."""
        new = {name: kind for name, kind in filterable_kinds(batch).items() if name not in self.fields}
        fields = self.fields | {name: FieldInfo(column=META_PREFIX + name, kind=kind) for name, kind in new.items()}
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
        self.fields = fields
        return new, to_encode, metadata_only

    def commit(self, prepared: Prepared) -> None:
        """Write a prepared batch: its new metadata columns, its encoded documents, its metadata updates
        (each one atomic commit; metadata updates reuse the stored vectors, read here)."""
        self.still_held()
        if prepared.kinds:
            self.store.ensure_fields(prepared.kinds)
        if prepared.encoded is not None:
            self.store.write(prepared.encoded)
            log.info("committed %d encoded documents (version %d)", len(prepared.encoded.docs), self.store.version)
        if prepared.metadata_only:
            self.store.write(self._reused_rows(prepared.metadata_only))
            log.info("committed %d metadata updates (version %d)", len(prepared.metadata_only), self.store.version)

    def _encoded_rows(self, docs: list[Document], chunks: list[Chunk]) -> ChunkRows:
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
        vectors = vector_array(stored)
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
                docs = [Document(id=i, text=doc.text, metadata=doc.metadata) for i, doc in stored.items()]
                self.store.write(self._reused_rows(docs))
                bar.update(len(docs))
        return len(stale)


def build_index(
    source: corpus.Source,
    directory: str | Path,
    options: IndexOptions | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> IndexSummary:
    """Index ``source`` (a corpus path, or an iterable of dicts) into ``directory`` (created, or updated
    incrementally: new and changed documents are encoded, unchanged ones skipped).

    A source that gives no usable document is an error, not an empty index. A first run into a new
    directory that fails before its first commit (a bad record, an interrupt) leaves no directory behind.
    """
    directory = location.resolve(directory, storage_options)
    created = not location.exists(directory)
    try:
        with location.local_source(source, location.source_options(directory, storage_options)) as (local, recorded):
            return _build(local, directory, options or IndexOptions(), recorded)
    except BaseException:
        if created:
            _remove_if_nothing_committed(directory)
        raise


def _build(source: corpus.Source, directory: Path, options: IndexOptions, recorded: str | None) -> IndexSummary:
    started = time.perf_counter()
    options = settle(options, existing_manifest(directory))
    total = corpus.count(source, glob=options.glob)  # also fails early on a missing or unknown source
    assert options.pooling is not None, "settled"
    encoder = Encoder(options.model, options.pooling, options.precision)
    with writer_lock(directory, options.lock_timeout) as still_held:
        labeller = open_labeller(directory, encoder, options.classifier)  # refuses another encoder's classifier
        manifest, store = open_for_writing(directory, encoder, options, recorded)
        if labeller is not None:
            labeller = labeller.cutting_as(ChunkConfig(manifest.max_length, manifest.overlap))
            install_if_new(labeller, directory)
            store.ensure_label_columns()
        report = corpus.LoadReport()
        run = _Run(encoder, store, manifest, options, report, labeller, still_held)
        documents = corpus.load(source, options.fields, skip_bad=options.skip_bad, report=report, glob=options.glob)
        ready = time.perf_counter()  # the model is loaded (and, the first time, quantized): indexing starts
        with tqdm(total=total, unit="doc", desc="indexing", disable=not options.progress) as bar:
            overlapped(run, batches(documents, options.batch_docs), bar)
        if not run.seen and options.delete_missing and run.existing:
            raise CorpusError(
                f"{corpus.describe(source)} gave no usable documents; refusing to delete all {len(run.existing)} "
                "documents of the index (delete_missing)"
            )
        if not run.seen:
            raise _nothing_usable(source, report)
        deleted = 0
        if options.delete_missing:
            missing = sorted(set(run.existing) - run.seen - report.skipped_ids)  # a bad new record keeps the old
            log.info("deleting %d documents no longer in the source (one commit)", len(missing))
            deleted = store.delete(missing)
        relabelled = run.relabel_stale()
        if run.encoded or deleted or run.updated or relabelled:
            log.info("compacting the store")
            store.compact()
        vector_index = refresh_derived(directory, store, manifest)
        log.info("index complete: store version %d", store.version)
        finished = time.perf_counter()
        return IndexSummary(
            docs=store.count_docs(),
            chunks=store.count_chunks(),
            added=run.added,
            updated=run.updated,
            unchanged=run.unchanged,
            deleted=deleted,
            skipped_bad=report.skipped,
            encoded_docs=run.encoded,
            seconds=finished - started,
            bytes_on_disk=size_on_disk(directory),
            skipped_examples=tuple(report.skipped_examples),
            empty=report.empty,
            relabelled=relabelled,
            vector_index=vector_index,
            setup_seconds=ready - started,
        )


def overlapped(run: _Run, batches: Iterator[list[Document]], bar: tqdm[Any]) -> None:
    """Run the batches through ``run``, three stages at once: the next batch is read, parsed and cut into
    windows in a thread, the current one encoded here, the previous one committed in another thread. The
    encoder, which takes most of the time, then never waits for the file, the tokenizer or the store.
    Batches commit in order, one at a time, as before; an error in any stage stops the run after the
    commits already made. The bar counts the batches encoded (the reading thread is ahead of it, by up to
    two batches), bad records and empty files included, so it ends at the source's count."""
    shown = dict.fromkeys(run.counts(), 0)
    with ThreadPoolExecutor(1, thread_name_prefix="semsearch-commit") as committer:
        pending: Future[None] | None = None
        for cut in prefetched(run.cut(batch) for batch in batches):
            prepared = run.encode(cut)
            if pending is not None:
                pending.result()  # the previous commit is done (and its error, if any, raised here)
            pending = committer.submit(run.commit, prepared)
            shown = {name: count + cut.counts[name] for name, count in shown.items()}
            bar.update(cut.size)
            bar.set_postfix(shown, refresh=False)
        if pending is not None:
            pending.result()
    bar.update(run.report.read - run.read)  # records met after the last batch's documents (empty files)


def batches(documents: Iterator[Document], size: int) -> Iterator[list[Document]]:
    while batch := list(islice(documents, size)):
        yield batch


def prefetched(items: Iterator[T], ahead: int = 2) -> Iterator[T]:
    """``items`` made by a thread up to ``ahead`` in advance; its error comes out where it happened."""
    queue: Queue[tuple[T | None, BaseException | None]] = Queue(maxsize=ahead)
    stop = threading.Event()

    def read() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                queue.put((item, None))
            queue.put((None, None))
        except BaseException as error:  # handed to the consumer, which raises it
            queue.put((None, error))

    reader = threading.Thread(target=read, name="semsearch-read", daemon=True)
    reader.start()
    try:
        while True:
            item, error = queue.get()
            if error is not None:
                raise error
            if item is None:
                return
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # let a reader blocked on a full queue see the stop
            try:
                queue.get_nowait()
            except Empty:
                reader.join(timeout=0.05)


def _nothing_usable(source: corpus.Source, report: corpus.LoadReport) -> CorpusError:
    """Why a run that found no document to index is an error, in the words of what happened."""
    where = corpus.describe(source)
    if not report.read:
        held = f"{where} holds no documents" if corpus.is_path(source) else "no documents were given"
        return CorpusError(f"{held}; nothing was indexed")
    first = f" (the first: {report.skipped_examples[0]})" if report.skipped_examples else ""
    return CorpusError(f"none of the {report.read} records of {where} could be indexed: {report.skipped} bad{first}")


def _remove_if_nothing_committed(directory: Path) -> None:
    """Remove a directory that a failed first run created, unless it committed documents (then a re-run
    resumes from them)."""
    remote = location.remote_of(directory)
    try:
        if (remote or (directory / STORE_DIR).is_dir()) and Store.open(directory / STORE_DIR).count_docs() > 0:
            return
    except SemsearchError:
        pass  # a store that cannot even be opened holds nothing worth keeping from this run
    if remote is not None:
        remote.remove_all()
    shutil.rmtree(directory, ignore_errors=True)
    log.info("removed %s: the run failed before committing any document", location.describe(directory))


def refresh_derived(directory: Path, store: Store, manifest: Manifest) -> str:
    """Bring the vector backend's files and the BM25 index in line with the store; describe the former."""
    log.info("refreshing derived files")
    backend = open_backend(manifest.backend, store, directory, manifest.faiss_factory)
    backend.sync()
    BM25.for_store(store, directory / "bm25", manifest.title_field)
    return backend.describe()


def delete_documents(directory: str | Path, doc_ids: Iterable[str], lock_timeout: float = 0.0) -> int:
    """Delete ``doc_ids`` from the index at ``directory`` in one commit; returns how many were there.

    Ids the index does not hold are ignored. The derived files follow the store, as after an update.
    """
    directory = location.resolve(directory)
    manifest = Manifest.load(directory)
    ids = list(dict.fromkeys(str(doc_id) for doc_id in doc_ids))
    with writer_lock(directory, lock_timeout):
        store = Store.open(directory / STORE_DIR)
        present = sorted(store.present(ids))
        if present:
            store.delete(present)
            refresh_derived(directory, store, manifest)
        return len(present)
