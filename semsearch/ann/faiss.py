"""FAISS over the store's vectors: chosen by size by default, any factory string (HNSW, IVF-PQ, ...) on request.

Automatic choice (factory ``auto``, the default): exact ``Flat`` search while it is fast enough (up to
:data:`EXACT_LIMIT` vectors, a few ms per query on one core), ``HNSW32,Flat`` above, which answers in
well under a millisecond at a recall@10 near 1 where exact search takes a hundred times longer
(``benchmarks/ann_1m.py``; benchmarks/RESULTS.md).
Every approximate index measures its recall@10 against exact search on a sample of stored vectors
when it is built; the figure is saved beside the index and reported (``semsearch index`` prints it).

The FAISS file is derived data. Each vector is added under its store ``rowid``, which is never
reused (a re-encoded chunk gets a new one), so the index is current exactly when its id set equals
the store's. That is checked on every :meth:`FaissBackend.sync`; a missing, unreadable or stale file is
rebuilt from the store, never trusted blindly. A damaged file that FAISS would still read (a flipped
byte among the vectors) is caught by the SHA-256 recorded beside it (``<file>.json``, which also holds
the build report), so it is rebuilt too instead of silently returning wrong neighbours. The file is
written under a temporary name unique to the process and renamed into place, so readers and writers
that rebuild it at the same time never see, or leave, half a file.

Exact search reads the vectors as int8 codes first (:mod:`semsearch.ann.codes`): a second copy of them, a
quarter of the bytes, whose scores find the candidates that the fp32 vectors then score, with a proof that
the result is the fp32 search's. The codes are made at an index's second unfiltered search, so a process that
searches once (a command) never makes them; until then, and for a zero query, every fp32 vector is scored, with
the same scores and order as through the codes (so an explanation, which runs a search again, meets the
search's own scores).

Filters: the matching chunks are found by a column scan of the store. When few match, they are
scored exactly (so a selective filter still returns every match it can); otherwise FAISS searches
with an ID selector, which keeps the filter inside the search, before top-k.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from semsearch.ann import ChunkMatches, VectorBackend, exact_search
from semsearch.ann.codes import Int8Scan, whole_search
from semsearch.filters import Filter
from semsearch.fsutil import atomic_write, atomic_write_text, file_sha256, sweep_temporaries
from semsearch.store import Store, vector_array

log = logging.getLogger(__name__)

EXACT_FILTER_LIMIT = 50_000  # filtered searches over at most this many chunks are scored exactly
TRAIN_SAMPLE = 100_000
AUTO = "auto"
EXACT_LIMIT = 50_000  # ``auto`` searches exactly up to this many vectors (a few ms a query on one core)
ANN_FACTORY = "HNSW32,Flat"  # ``auto`` above EXACT_LIMIT
HNSW_EF_SEARCH = 64  # candidates per HNSW query: recall@10 near 1 at a fraction of a millisecond
# Above this many vectors HNSW over fp32 vectors outgrows a node's RAM (about 1.8 KB a 384-d vector: 36 GB at
# 20M), so ``auto`` compresses: IVF with product quantisation, 8 dimensions per byte (56 B a vector with its id).
HNSW_LIMIT = 20_000_000
IVF_NPROBE = 32  # lists searched per IVF query (saved with the index); recall is measured after each build
RECALL_SAMPLE = 200  # stored vectors used as queries to measure an approximate index's recall
RECALL_K = 10
_BATCH = 65_536
_CHECKSUM_FORMAT = 2  # 2: the build report is kept in the same record


def choose_factory(vectors: int, dim: int = 384) -> str:
    """The factory ``auto`` picks for ``vectors`` vectors: exact while that is fast enough, HNSW while it fits
    in RAM, then IVF-PQ with about 4·sqrt(n) lists (a power of two)."""
    if vectors <= EXACT_LIMIT:
        return "Flat"
    if vectors <= HNSW_LIMIT:
        return ANN_FACTORY
    lists = 2 ** round(math.log2(4 * math.sqrt(vectors)))
    return f"IVF{lists},PQ{max(1, dim // 8)}"


@dataclass(frozen=True)
class BuildReport:
    """What was built and how good it is: recall@10 against exact search (1.0 for exact indexes)."""

    factory: str
    vectors: int
    recall_at_10: float
    sample: int  # queries the recall was measured on (0: exact, nothing to measure)

    def describe(self) -> str:
        if self.sample == 0:
            return f"FAISS {self.factory} over {self.vectors} vectors (exact)"
        return (
            f"FAISS {self.factory} over {self.vectors} vectors, recall@{RECALL_K} {self.recall_at_10:.3f} "
            f"against exact search on {self.sample} sampled vectors"
        )


class FaissBackend(VectorBackend):
    def __init__(self, store: Store, directory: Path, factory: str = AUTO) -> None:
        self.store = store
        self.directory = directory
        self.requested = factory
        self.factory = factory if factory != AUTO else choose_factory(0)
        self.index: faiss.Index | None = None
        self.report: BuildReport | None = None
        self._rowids = np.array([], dtype=np.int64)  # sorted
        self._doc_ids = np.array([], dtype=object)  # aligned with _rowids
        self._storage: _Storage | None = None  # exact (Flat) indexes: their fp32 vectors, read directly
        self._codes: Int8Scan | None = None  # exact (Flat) indexes: the int8 copy searched first
        self._unfiltered = 0  # unfiltered searches of this version of the index (the codes are made at the 2nd)

    @property
    def path(self) -> Path:
        """One file per factory string, so a file never claims to be a kind of index it is not."""
        return self.directory / f"index.{re.sub(r'[^A-Za-z0-9]+', '_', self.factory)}.faiss"

    @property
    def checksum_path(self) -> Path:
        """The SHA-256 and vector count of :attr:`path`, written after it."""
        return self.path.with_name(self.path.name + ".json")

    def sync(self) -> None:
        rows = self.store.scan(["rowid", "doc_id"])
        rowids = rows["rowid"].to_numpy()
        order = np.argsort(rowids)
        self._rowids = rowids[order]
        self._doc_ids = np.array(rows["doc_id"].to_pylist(), dtype=object)[order]
        if self.requested == AUTO:
            self.factory = choose_factory(len(rowids), self.store.dim)
        self.index = self._load_current()
        if self.index is None:
            self.index = self._build()
        self._storage, self._codes, self._unfiltered = None, None, 0

    def describe(self) -> str:
        return self.report.describe() if self.report else f"FAISS {self.factory}"

    def _load_current(self) -> faiss.Index | None:
        if not self.path.is_file():
            return None
        try:
            recorded = json.loads(self.checksum_path.read_text(encoding="utf-8"))
            if recorded.get("format") != _CHECKSUM_FORMAT or file_sha256(self.path) != recorded["sha256"]:
                log.warning("%s does not match its checksum (damaged); rebuilding it from the store", self.path)
                return None
            report = BuildReport(**recorded["report"])
            index = faiss.read_index(str(self.path))
            ids = np.sort(faiss.vector_to_array(index.id_map))  # type: ignore[attr-defined]  # faiss's stubs miss it
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError) as exc:
            log.warning("%s is unreadable (%s); rebuilding it from the store", self.path, exc)
            return None
        if not np.array_equal(ids, self._rowids):
            log.info("%s is stale; rebuilding it from the store", self.path)
            return None
        self.report = report
        return index

    def _build(self) -> faiss.Index:
        dim = self.store.dim
        index = faiss.index_factory(dim, f"IDMap2,{self.factory}", faiss.METRIC_INNER_PRODUCT)
        rows = self.store.scan(["rowid", "vector"])
        if not index.is_trained and rows.num_rows:
            sample = rows.slice(0, TRAIN_SAMPLE)
            _train(index, vector_array(sample))
        for begin in range(0, rows.num_rows, _BATCH):
            part = rows.slice(begin, _BATCH)
            index.add_with_ids(vector_array(part), part["rowid"].to_numpy())
        inner = faiss.downcast_index(index.index)  # type: ignore[attr-defined]  # faiss's stubs miss it
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efSearch = HNSW_EF_SEARCH  # saved with the index
        if isinstance(inner, faiss.IndexIVF):
            inner.nprobe = min(IVF_NPROBE, inner.nlist)  # saved with the index
        self.report = self._measure(index, rows)
        log.info("built %s", self.report.describe())
        self._save(index, self.report)
        return index

    def _save(self, index: faiss.Index, report: BuildReport) -> None:
        """Best effort: the index in memory is right either way, the file only saves a rebuild later.

        A reader holding an older version of the store does not save (it would replace a newer
        writer's file with a stale one); a read-only directory is logged and left alone.
        """
        if not self.store.is_latest():
            log.info("not saving %s: the store has moved on since this reader opened it", self.path)
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            sweep_temporaries(self.directory)
            self._remove_others()
            log.info("writing %s", self.path)
            digest: list[str] = []

            def write(temporary: Path) -> None:
                faiss.write_index(index, str(temporary))
                digest.append(file_sha256(temporary))

            atomic_write(self.path, write)
            record = {
                "format": _CHECKSUM_FORMAT,
                "sha256": digest[0],
                "vectors": int(index.ntotal),
                "report": asdict(report),
            }
            atomic_write_text(self.checksum_path, json.dumps(record) + "\n")
        except (OSError, RuntimeError) as exc:  # faiss reports a failed write as RuntimeError
            log.warning("cannot save %s (%s); it will be rebuilt on next open", self.path, exc)

    def _measure(self, index: faiss.Index, rows: object) -> BuildReport:
        """Recall@10 of ``index`` against exact search, with a sample of stored vectors as queries."""
        count = index.ntotal
        if self.factory == "Flat" or count == 0:
            return BuildReport(self.factory, count, 1.0, 0)
        vectors = vector_array(rows)
        sample = vectors[np.random.default_rng(0).choice(count, size=min(RECALL_SAMPLE, count), replace=False)]
        exact = faiss.IndexFlatIP(vectors.shape[1])
        exact.add(vectors)
        k = min(RECALL_K, count)
        _, want = exact.search(sample, k)
        _, got = index.search(sample, k)
        rowids = rows["rowid"].to_numpy()  # type: ignore[index]
        hits = [len(set(rowids[w]) & set(g)) / k for w, g in zip(want, got, strict=True)]
        return BuildReport(self.factory, count, float(np.mean(hits)), len(sample))

    def _remove_others(self) -> None:
        """Files of other factories (``auto`` moved on as the store grew) are stale: remove them."""
        for other in self.directory.glob("index.*"):
            if other not in (self.path, self.checksum_path):
                other.unlink(missing_ok=True)

    def search(self, query: np.ndarray, limit: int, where: Filter | None = None) -> ChunkMatches:
        if self.index is None:
            self.sync()
        assert self.index is not None
        if self.index.ntotal == 0:
            return ChunkMatches.empty()
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if where is not None:
            if self.store.count_chunks(where) <= EXACT_FILTER_LIMIT:
                rows = self.store.scan(["doc_id", "rowid", "vector"], where.sql)
                doc_ids = np.array(rows["doc_id"].to_pylist(), dtype=object)
                return exact_search(vector_array(rows), doc_ids, query[0], limit, rows["rowid"].to_numpy())
            allowed = self.store.scan(["rowid"], where.sql)["rowid"].to_numpy()
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))  # type: ignore[call-arg]
        found = self._exact(query[0], min(limit, self.index.ntotal)) if params is None else None
        if found is not None:
            return found
        scores, ids = _single_threaded(self.index, query, min(limit, self.index.ntotal), params)
        keep = ids[0] >= 0
        positions = np.searchsorted(self._rowids, ids[0][keep])
        return ChunkMatches(self._doc_ids[positions], scores[0][keep], ids[0][keep])

    def _exact(self, query: np.ndarray, limit: int) -> ChunkMatches | None:
        """The top ``limit`` of an exact (Flat) index, read from its storage (None: an approximate index):
        through the int8 codes from its second unfiltered search on, by scoring every vector before. Both give
        the same scores and order (:mod:`semsearch.ann.codes`)."""
        if self.factory != "Flat" or self.index is None:
            return None
        if self._storage is None:
            self._storage = _Storage.of(self.index, self._rowids, self._doc_ids)
        self._unfiltered += 1
        if self._codes is None and self._unfiltered == 2:
            self._codes = Int8Scan.of(self._storage.full, owner=self.index)
        storage = self._storage
        found = self._codes.search(query, limit) if self._codes is not None else None
        scores, positions = found or whole_search(storage.full, query, limit)
        return ChunkMatches(storage.doc_ids[positions], scores, storage.rowids[positions])

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """From an exact index's storage once searched (a search's own windows: in the CPU's caches still), else
        from the FAISS index where it keeps the vectors as they are (Flat, HNSW over Flat: the ``IDMap2`` wrapper
        maps rowids to them), else from the store."""
        if self.index is None:
            self.sync()
        assert self.index is not None
        if self._storage is not None and len(ids):
            found = self._storage.vectors(np.asarray(ids, dtype=np.int64))
            if found is not None:
                return found
        if len(ids) and (self.factory == "Flat" or self.factory.endswith(",Flat")):
            try:
                return np.asarray(self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64)), dtype=np.float32)
            except RuntimeError:  # an id FAISS does not hold: the store says what is wrong
                pass
        return super().vectors(ids)


@dataclass(frozen=True)
class _Storage:
    """An exact index's fp32 vectors as numpy sees them (row i: FAISS's position i), and each position's rowid
    and doc id."""

    index: faiss.Index  # the exact index, kept alive while its storage is viewed
    full: np.ndarray
    rowids: np.ndarray
    doc_ids: np.ndarray
    sorted_rowids: np.ndarray
    by_rowid: np.ndarray  # the positions in rowid order

    @classmethod
    def of(cls, index: faiss.Index, sorted_rowids: np.ndarray, sorted_doc_ids: np.ndarray) -> _Storage:
        """``index`` (``IDMap2`` over ``Flat``) with the store's rowids sorted and their doc ids."""
        flat = faiss.downcast_index(index.index)  # type: ignore[attr-defined]  # faiss's stubs miss it
        count, dim = int(flat.ntotal), int(flat.d)
        full = faiss.rev_swig_ptr(flat.get_xb(), count * dim).reshape(count, dim)  # type: ignore[attr-defined]
        rowids = faiss.vector_to_array(index.id_map)  # type: ignore[attr-defined]
        doc_ids = sorted_doc_ids[np.searchsorted(sorted_rowids, rowids)]
        return cls(index, full, rowids, doc_ids, sorted_rowids, np.argsort(rowids))

    def vectors(self, ids: np.ndarray) -> np.ndarray | None:
        """The vectors of rowids ``ids`` (None: one of them is not here)."""
        at = np.minimum(np.searchsorted(self.sorted_rowids, ids), len(self.sorted_rowids) - 1)
        return self.full[self.by_rowid[at]] if np.array_equal(self.sorted_rowids[at], ids) else None


def _train(index: faiss.Index, vectors: np.ndarray) -> None:
    """Train ``index`` (an IVF's k-means on the GPUs when FAISS has some: the costly part of building it).
    The faiss-cpu wheel has no GPU functions; faiss-gpu is the same package built with CUDA."""
    if getattr(faiss, "get_num_gpus", lambda: 0)() > 0:
        try:
            ivf = faiss.extract_index_ivf(index)
        except (RuntimeError, TypeError):  # not an IVF: nothing to move
            ivf = None
        if ivf is not None:
            ivf.clustering_index = faiss.index_cpu_to_all_gpus(faiss.IndexFlat(ivf.d, ivf.metric_type))
    index.train(vectors)


def _single_threaded(
    index: faiss.Index, query: np.ndarray, limit: int, params: faiss.SearchParameters | None
) -> tuple[np.ndarray, np.ndarray]:
    """Search on one thread: one query is too small to split, and OpenMP's hand-offs made a single
    Flat query on 10,000 vectors take tens of ms instead of under one on a busy 2-core machine."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(query, limit, params=params)
    finally:
        faiss.omp_set_num_threads(threads)
