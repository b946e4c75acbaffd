"""``semsearch index --engine ray``: the same indexing run, with the encoding spread over a Ray cluster.

What runs where:

- the **driver** (this process) reads the corpus, sorts each unit of work into new, changed, unchanged
  and metadata-only documents by content hash, exactly as the local engine does (unchanged documents are
  dropped before any encoding, so a killed job run again re-encodes nothing it committed), and commits;
- **Ray Data** carries each unit's documents to an actor pool: one model per actor (one actor per GPU, or
  CPU actors with the runtime the planner picks), which cuts the documents into windows as the local
  engine does, encodes them and lays the chunks out as the store's rows;
- lance-ray's fragment writer writes those rows as Lance fragments in parallel, committing nothing;
- the driver then makes **one commit per unit**: an Append of the new fragments or, when the unit
  replaces documents, an Update that adds them and deletes the replaced chunks together
  (:meth:`~semsearch.store.Store.commit_fragments`). A table is never overwritten from a job.

Rowids come from one counter actor, so fragments written in parallel never share one; the next free
rowid is recorded before each commit, so a killed job leaves only a gap. Deleting documents no longer in
the source, compaction and the derived files are the local engine's own steps, run on the driver.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from semsearch import corpus, location
from semsearch.encoder import Encoder
from semsearch.errors import OptionError, SemsearchError
from semsearch.fsutil import size_on_disk
from semsearch.ingest import pipeline
from semsearch.ingest.options import IndexOptions, IndexSummary
from semsearch.ingest.prepare import existing_manifest, open_for_writing, settle
from semsearch.store import ChunkRows, Store, chunk_table
from semsearch.store.lock import writer_lock
from semsearch.types import Document, Pooling, Precision

log = logging.getLogger(__name__)

UNIT_DOCS = 2048  # documents per unit of work (one commit): what a killed job loses at most


class DistributedError(SemsearchError):
    """The Ray engine cannot run (Ray missing, the cluster unreachable)."""


@dataclass(frozen=True)
class ClusterPlan:
    """How a unit is spread: how many encoding actors, with what each needs."""

    actors: int
    gpus_per_actor: float
    threads: int | None  # the runtime's threads in each CPU actor


def plan_cluster(resources: dict[str, float]) -> ClusterPlan:
    """One actor per GPU when the cluster has GPUs; else CPU actors, leaving a core for the writers."""
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return ClusterPlan(actors=gpus, gpus_per_actor=1.0, threads=None)
    cpus = max(1, int(resources.get("CPU", 1)))
    actors = max(1, (cpus - 1) // 2) if cpus > 2 else 1
    return ClusterPlan(actors=actors, gpus_per_actor=0.0, threads=max(1, (cpus - 1) // actors) if cpus > 2 else cpus)


@contextmanager
def ray_cluster(address: str | None, cpus: int | None = None) -> Iterator[Any]:
    """Ray, connected to ``address`` (``auto``: the running cluster) or a local one started here on
    127.0.0.1 only (and stopped at the end)."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise DistributedError("the ray engine needs Ray: pip install 'semsearch[distributed]'") from exc
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(
                num_cpus=cpus or len(os.sched_getaffinity(0)), include_dashboard=False,
                _node_ip_address="127.0.0.1", logging_level=logging.WARNING, log_to_driver=False,
            )  # fmt: skip
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise DistributedError(f"cannot reach the Ray cluster at {address or 'a new local one'}: {exc}") from exc
    ray.data.DataContext.get_current().enable_progress_bars = False  # the driver's own bar says it
    for name in ("ray", "ray.data"):  # Ray Data logs every execution plan at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield ray
    finally:
        ray.shutdown()


class _EncodeActor:
    """One model per actor: cuts documents into windows, encodes them and lays the chunks out as rows."""

    def __init__(self, model: str, pooling: str, precision: str, window: int, overlap: int,
                 schema: bytes, counter: Any, threads: int | None) -> None:  # fmt: skip
        import pyarrow as pa

        self.encoder = Encoder(model, Pooling(pooling), Precision(precision), threads=threads)
        self.window, self.overlap = window, overlap
        self.schema = pa.ipc.read_schema(pa.py_buffer(schema))
        self.counter = counter

    def __call__(self, batch: Any) -> Any:
        import numpy as np
        import ray

        docs = [
            Document(id=i, text=t, metadata=json.loads(m))
            for i, t, m in zip(
                batch["id"].to_pylist(), batch["text"].to_pylist(), batch["metadata"].to_pylist(), strict=True
            )
        ]
        chunks = self.encoder.chunks([d.text for d in docs], self.overlap, self.window)
        vectors = self.encoder.encode_ids([c.input_ids for c in chunks]) if chunks else np.zeros((0, 0))
        first = ray.get(self.counter.take.remote(len(chunks)))
        rows = ChunkRows(
            docs=docs,
            doc_index=[c.doc for c in chunks],
            numbers=[c.number for c in chunks],
            spans=[(c.start, c.end) for c in chunks],
            rowids=list(range(first, first + len(chunks))),
            vectors=vectors,
        )
        return chunk_table(self.schema, rows)


class _RowidCounter:
    """The one place rowids are handed out during a job (a Ray actor)."""

    def __init__(self, start: int) -> None:
        self.next = start

    def take(self, count: int) -> int:
        first = self.next
        self.next += count
        return first

    def peek(self) -> int:
        return self.next


def build_index_distributed(
    source: corpus.Source,
    directory: str | Path,
    options: IndexOptions | None = None,
    address: str | None = None,
    unit_docs: int = UNIT_DOCS,
    cpus: int | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> IndexSummary:
    """Index ``source`` into ``directory`` (a folder or an object-store URI, with ``storage_options``) on
    Ray; the result, the documents and their vectors are those of :func:`~semsearch.ingest.build_index`.
    ``address``: the cluster (``auto``: the running one; None: a local one started for the run)."""
    options = options or IndexOptions()
    if options.classifier is not None:
        raise OptionError("classifier", options.classifier, "is not supported by the ray engine yet; use the local one")
    directory = location.resolve(directory, storage_options)
    created = not location.exists(directory)
    try:
        with location.local_source(source, location.source_options(directory, storage_options)) as (local, recorded):
            return _build(local, directory, options, address, unit_docs, cpus, recorded)
    except BaseException:
        if created:
            pipeline._remove_if_nothing_committed(directory)
        raise


def _build(source: corpus.Source, directory: Path, options: IndexOptions, address: str | None, unit_docs: int,
           cpus: int | None, recorded: str | None) -> IndexSummary:  # fmt: skip
    started = time.perf_counter()
    options = settle(options, existing_manifest(directory))
    total = corpus.count(source, glob=options.glob)
    assert options.pooling is not None, "settled"
    encoder = Encoder(options.model, options.pooling, options.precision)  # its identity; the actors encode
    with writer_lock(directory, options.lock_timeout) as still_held, ray_cluster(address, cpus) as ray:
        manifest, store = open_for_writing(directory, encoder, options, recorded)
        report = corpus.LoadReport()
        run = pipeline._Run(encoder, store, manifest, options, report, None, still_held)
        plan = plan_cluster(ray.cluster_resources())
        log.info("ray engine: %d encoding actor(s), %g GPU each", plan.actors, plan.gpus_per_actor)
        counter = ray.remote(_RowidCounter).options(num_cpus=0).remote(run.rowids.next)
        documents = corpus.load(source, options.fields, skip_bad=options.skip_bad, report=report, glob=options.glob)
        ready = time.perf_counter()
        with tqdm(total=total, unit="doc", desc="indexing (ray)", disable=not options.progress) as bar:
            for unit in pipeline.batches(documents, unit_docs):
                kinds, to_encode, metadata_only = run.sort(unit)
                if kinds:
                    store.ensure_fields(kinds)
                if to_encode:
                    fragments = _encode_and_write(ray, store, manifest, to_encode, counter, plan)
                    run.rowids.record(ray.get(counter.peek.remote()))  # before the commit that uses them
                    replaced = [d.id for d in to_encode if d.id in run.existing]
                    still_held()
                    store.commit_fragments(fragments, replaced)
                    run.encoded += len(to_encode)
                    log.info("committed %d encoded documents (version %d)", len(to_encode), store.version)
                if metadata_only:
                    run.commit(pipeline.Prepared({}, None, metadata_only))
                bar.update(report.read - bar.n)  # bad records and empty files count as read too
                bar.set_postfix(run.counts(), refresh=False)
            bar.update(report.read - bar.n)
        if not run.seen:
            raise pipeline._nothing_usable(source, report)
        deleted = 0
        if options.delete_missing:
            missing = sorted(set(run.existing) - run.seen - report.skipped_ids)
            deleted = store.delete(missing)
        if run.encoded or deleted or run.updated:
            store.compact()
        vector_index = pipeline.refresh_derived(directory, store, manifest)
        finished = time.perf_counter()
        return IndexSummary(
            docs=store.count_docs(), chunks=store.count_chunks(), added=run.added, updated=run.updated,
            unchanged=run.unchanged, deleted=deleted, skipped_bad=report.skipped, encoded_docs=run.encoded,
            seconds=finished - started, bytes_on_disk=size_on_disk(directory),
            skipped_examples=tuple(report.skipped_examples), empty=report.empty, vector_index=vector_index,
            setup_seconds=ready - started,
        )  # fmt: skip


def _encode_and_write(ray: Any, store: Store, manifest: Any, docs: list[Document], counter: Any,
                      plan: ClusterPlan) -> list[Any]:  # fmt: skip
    """Encode ``docs`` on the actor pool and write their fragments; returns the fragments (uncommitted)."""
    import pyarrow as pa
    import ray.data
    from lance_ray import LanceFragmentWriter

    from semsearch.store.schema import metadata_json

    uri, storage_options = location.store_uri(store.path.parent, store.table_dir.name)
    schema = store.schema
    items = pa.table(
        {
            "id": [d.id for d in docs],
            "text": [d.text for d in docs],
            "metadata": [metadata_json(d.metadata) for d in docs],
        }
    )
    blocks = max(plan.actors * 2, min(len(docs) // 64, 64), 1)
    dataset = ray.data.from_arrow(items).repartition(blocks)
    encoded = dataset.map_batches(
        _EncodeActor,
        compute=ray.data.ActorPoolStrategy(size=plan.actors),
        fn_constructor_kwargs={
            "model": manifest.model_spec, "pooling": str(manifest.pooling), "precision": str(manifest.precision),
            "window": manifest.max_length, "overlap": manifest.overlap,
            "schema": schema.serialize().to_pybytes(), "counter": counter, "threads": plan.threads,
        },
        batch_size=64, batch_format="pyarrow", num_cpus=1,
        **({"num_gpus": plan.gpus_per_actor} if plan.gpus_per_actor else {}),
    )  # fmt: skip
    writer = LanceFragmentWriter(
        uri, schema=schema, storage_options=storage_options, data_storage_version=store.dataset.data_storage_version
    )
    written = encoded.map_batches(writer, batch_size=None, batch_format="pyarrow", num_cpus=0.5)
    fragments = []
    for batch in written.iter_batches(batch_format="pyarrow", batch_size=None):
        fragments += [pickle.loads(blob) for blob in batch["fragment"].to_pylist()]
    return fragments
