"""The :class:`Index` handle: an index directory opened for search, and for writes through the library.

``semsearch.open(path)`` returns one. Opening is cheap and imports no model: the encoder loads on
the first dense or hybrid query, the BM25 index on the first lexical one, and both then stay, so a
process pays for them once, not per query. A handle reads the store version it opened; after a
write through it (``add``, ``delete``) it moves to the new version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semsearch.ann import VectorBackend, open_backend
from semsearch.errors import FilterError, IncompatibleEncoderError, OptionError
from semsearch.filters import Filter, parse
from semsearch.fsutil import size_on_disk
from semsearch.location import describe, resolve
from semsearch.manifest import STORE_DIR, Manifest, installed_labels
from semsearch.ranking import FUSION_DEPTH, Feedback, Others, Ranking, fuse, top_documents
from semsearch.runtime.planner import cached_plan
from semsearch.store import Store
from semsearch.store.schema import LABEL_FIELD, PROB_FIELD, quote
from semsearch.types import (
    Backend,
    Document,
    FieldSummary,
    Fusion,
    Hit,
    IndexInfo,
    Mode,
    Pooling,
    Precision,
    SearchResult,
    choice,
)

if TYPE_CHECKING:
    from semsearch.adaptation.fusion import FusionChoice
    from semsearch.bm25 import BM25
    from semsearch.disambiguate import DisambiguationConfig
    from semsearch.encoder import Encoder
    from semsearch.explain import Explanation
    from semsearch.facade.maintenance import CompactReport
    from semsearch.ingest import IndexSummary

log = logging.getLogger(__name__)

QUERY_VECTOR_CACHE = 64  # recent query vectors kept, so disambiguation reuses the search's own encoding


@cache
def query_encoder(model: str, pooling: Pooling, precision: Precision) -> Encoder:
    """One encoder per model, pooling and precision per process, however many indexes are opened."""
    from semsearch.encoder import Encoder

    return Encoder.for_queries(model, pooling, precision)


def query_runtime(precision: Precision, sha256: str) -> str:
    """How this process encodes a query at ``precision`` for these weights, in words."""
    from semsearch.runtime import engine_for, query_threads
    from semsearch.runtime.planner import threads_word

    engine = engine_for(precision, 1, sha256)
    return f"{precision} in {engine} on {threads_word(query_threads(precision, engine, sha256))}"


def checked_query(query: object) -> str:
    if not isinstance(query, str):
        raise OptionError("query", query, f"expected a string, got {type(query).__name__}")
    if not query.strip():
        raise OptionError("query", query, "is empty: give the words to search for")
    return query


def checked_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise OptionError("k", k, f"expected a whole number of results, got {type(k).__name__}")
    if k < 1:
        raise OptionError("k", k, "must be at least 1")
    return k


class Index:
    """An index directory opened for search (and writes), usable as a context manager."""

    def __init__(self, directory: Path, manifest: Manifest, store: Store, backend: Backend) -> None:
        self.directory = directory
        self.manifest = manifest
        self.store = store
        self.backend_name = backend
        self._backend_override = backend if backend != manifest.backend else None
        self.last_write: IndexSummary | None = None  # what the last add() through this handle did

    @classmethod
    def open(
        cls,
        directory: str | Path,
        backend: Backend | str | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> Index:
        """Open ``directory`` (a folder or an object-store URI); raises a clear error if it is missing or damaged."""
        directory = resolve(directory, storage_options)
        return cls.opened(directory, Manifest.load(directory), backend)

    @classmethod
    def opened(cls, directory: Path, manifest: Manifest, backend: Backend | str | None = None) -> Index:
        """The index at the local or work folder ``directory`` whose manifest was just loaded (on object
        storage, loading it fetched the small files: :func:`semsearch.open` does not fetch them twice)."""
        store = Store.open(directory / STORE_DIR)
        chosen = choice(Backend, backend, "backend") if backend is not None else manifest.backend
        return cls(directory, manifest, store, chosen)

    # -- the handle ---------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"Index({describe(self.directory)!r}, documents={len(self)}, model={self.manifest.model.name!r}, "
            f"version={self.store.version})"
        )

    def __len__(self) -> int:
        return self.store.count_docs()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Let go of what this handle loaded (the encoder stays shared in the process)."""
        for name in ("vectors", "bm25", "_query_vectors"):
            self.__dict__.pop(name, None)
        self.store.release()

    def reload(self) -> None:
        """Move to the newest committed version (a handle otherwise keeps reading the one it opened)."""
        self.close()
        self.manifest = Manifest.load(self.directory)
        self.store = Store.open(self.directory / STORE_DIR)
        self.backend_name = self._backend_override or self.manifest.backend

    # -- writes ------------------------------------------------------------------------------------

    def add(self, docs: Iterable[Mapping[str, Any]] | str | Path, **options: Any) -> IndexSummary:
        """Add documents, or update those whose id the index holds (unchanged ones are skipped), as
        ``semsearch index`` does. ``options`` are :class:`~semsearch.ingest.IndexOptions` fields
        (``skip_bad=True``, ``lock_timeout=5``...) or ``id_field=``/``text_field=``/``title_field=``; the
        encoder and backend stay the index's own."""
        from semsearch.facade.options import keyword_options
        from semsearch.ingest import IndexOptions, build_index

        settings = keyword_options(IndexOptions(progress=False), options)
        self.last_write = build_index(docs, self.directory, settings)
        self.reload()
        return self.last_write

    def delete(self, doc_ids: Iterable[str], lock_timeout: float = 0.0) -> int:
        """Remove documents by id in one commit; returns how many the index held (others are ignored)."""
        from semsearch.ingest.pipeline import delete_documents

        if isinstance(doc_ids, str):
            raise OptionError("doc_ids", doc_ids, "expected a list of ids, got one string")
        deleted = delete_documents(self.directory, doc_ids, lock_timeout)
        self.reload()
        return deleted

    def compact(self, keep_minutes: float = 10.0, lock_timeout: float = 0.0) -> CompactReport:
        """Merge the store's small files and remove versions older than ``keep_minutes`` (a reader still
        holding one must reopen); the derived files follow. Updates otherwise keep a week of versions."""
        from semsearch.facade.maintenance import compact_index

        if isinstance(keep_minutes, bool) or not isinstance(keep_minutes, int | float) or not keep_minutes >= 0:
            raise OptionError("keep_minutes", keep_minutes, "expected minutes, 0 or more")
        report = compact_index(self.directory, keep_minutes, lock_timeout)
        self.reload()
        return report

    def set_fusion(
        self, fusion: Fusion | str, evidence: dict[str, Any] | None = None, lock_timeout: float = 0.0
    ) -> None:
        """Make ``fusion`` this index's own way of fusing hybrid search (recorded in its manifest), with the
        ``evidence`` it was chosen on (None: set by hand)."""
        from semsearch.facade.tuning import record_fusion

        self.manifest = record_fusion(self.directory, Fusion.parse(fusion), evidence, lock_timeout)

    def tune(self, apply: bool = True, lock_timeout: float = 0.0) -> FusionChoice:
        """Choose this index's fusion on held-out pseudo-queries from its own documents (no labels needed:
        :mod:`semsearch.adaptation.fusion`); a new index's fusion is kept unless another surely beats it there.
        With ``apply``, the choice and its evidence are recorded in the manifest, so hybrid searches use it."""
        from semsearch.facade.tuning import choose_fusion

        chosen = choose_fusion(self)
        if apply:
            self.set_fusion(chosen.fusion, chosen.to_json(), lock_timeout)
        return chosen

    # -- what the index holds ------------------------------------------------------------------------

    def fields(self) -> list[str]:
        """Names usable in a ``where`` filter."""
        return sorted(self.store.fields())

    def labels(self) -> tuple[str, ...]:
        """The label names of the index's classifier (empty when it has none)."""
        return installed_labels(self.directory)

    def get(self, doc_id: str) -> Document | None:
        """The stored document ``doc_id`` (its text and metadata), or None if the index does not hold it."""
        stored = self.store.documents([str(doc_id)]).get(str(doc_id))
        return None if stored is None else Document(id=str(doc_id), text=stored.text, metadata=stored.metadata)

    def export(self, vectors: bool = False, batch: int = 256) -> Iterator[dict[str, Any]]:
        """Every document as ``{"id", "text", "metadata"}`` (and its predicted ``label``), in batches;
        with ``vectors``, also its ``windows``: each window's character span and vector."""
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise OptionError("batch", batch, "expected a whole number of documents, 1 or more")
        doc_ids = self.store.scan(["doc_id"], "chunk = 0")["doc_id"].to_pylist()
        for begin in range(0, len(doc_ids), batch):
            part = doc_ids[begin : begin + batch]
            stored = self.store.documents(part)
            windows = self.store.windows(part) if vectors else {}
            for doc_id in part:
                doc = stored[doc_id]
                row: dict[str, Any] = {"id": doc_id, "text": doc.text, "metadata": doc.metadata}
                if doc.label is not None:
                    row |= {"label": doc.label, "label_prob": doc.label_prob}
                if vectors:
                    row["windows"] = [{"start": w.start, "end": w.end, "vector": w.vector.tolist()}
                                      for w in windows.get(doc_id, [])]  # fmt: skip
                yield row

    def info(self, detail: bool = False) -> IndexInfo:
        """What the index holds and how it was made (with ``detail``, the runtime plan's every query timing)."""
        from semsearch.bm25 import bm25_line

        manifest = self.manifest
        sha = manifest.model.sha256
        fields = [
            FieldSummary(name, str(info.kind)) for name, info in sorted(self.store.fields().items()) if name != "id"
        ]
        return IndexInfo(
            path=describe(self.directory),
            documents=len(self),
            chunks=self.store.count_chunks(),
            fields=fields,
            model=manifest.model,
            pooling=manifest.pooling,
            precision=manifest.precision,
            window=manifest.max_length,
            overlap=manifest.overlap,
            backend=self.backend_name,
            faiss_factory=manifest.faiss_factory,
            vector_index=self.vectors.describe(),
            labels=list(self.labels()),
            bytes_on_disk=size_on_disk(self.directory),
            version=self.store.version,
            query_engine=query_runtime(manifest.precision, sha),
            plan=plan.describe(detail) if (plan := cached_plan(sha)) else [],
            fusion=manifest.fusion,
            fusion_evidence=manifest.fusion_evidence,
            bm25=bm25_line(manifest.title_field),
        )

    # -- the parts a query uses, loaded on first use -----------------------------------------------------

    @cached_property
    def encoder(self) -> Encoder:
        """The index's own encoder (at the precision its windows were encoded at), verified by weights hash."""
        encoder = query_encoder(self.manifest.model_spec, self.manifest.pooling, self.manifest.precision)
        if encoder.identity.sha256 != self.manifest.model.sha256:
            raise IncompatibleEncoderError(
                f"the model at {encoder.identity.path} is not the one this index was built with "
                f"(weights {encoder.identity.sha256[:12]}, index expects {self.manifest.model.sha256[:12]})"
            )
        return encoder

    @cached_property
    def _query_vectors(self) -> Callable[[str], np.ndarray]:
        return lru_cache(maxsize=QUERY_VECTOR_CACHE)(lambda query: self.encoder.encode([query])[0])

    def query_vector(self, query: str) -> np.ndarray:
        """The encoder's vector for ``query`` (recent ones are cached; do not modify it)."""
        return self._query_vectors(query)

    @cached_property
    def vectors(self) -> VectorBackend:
        backend = open_backend(self.backend_name, self.store, self.directory, self.manifest.faiss_factory)
        backend.sync()
        return backend

    @cached_property
    def bm25(self) -> BM25:
        from semsearch.bm25 import BM25

        return BM25.for_store(self.store, self.directory / "bm25", self.manifest.title_field)

    @cached_property
    def disambiguation(self) -> DisambiguationConfig:
        """The settings :meth:`search` disambiguates with (replace them to change the method's thresholds)."""
        from semsearch.disambiguate import DisambiguationConfig

        return DisambiguationConfig()

    # -- search ------------------------------------------------------------------------------------------

    def condition(
        self, where: str | None = None, label: str | None = None, min_prob: float | None = None
    ) -> Filter | None:
        """The checked filter for ``where``, the predicted ``label`` and its ``min_prob`` together
        (None when none is given). Labels are reserved columns, not the corpus's own metadata."""
        if where is None and label is None and min_prob is None:
            return None
        fields = self.store.fields()
        parts = [parse(where, fields)] if where else []
        if label is not None or min_prob is not None:
            if LABEL_FIELD not in fields:
                raise FilterError("this index has no predicted labels; index it with a classifier to filter by label")
            known = self.labels()
            if label is not None and known and label not in known:
                raise FilterError(f"unknown label {label!r}; the index's classifier knows: {', '.join(known)}")
        if label is not None:
            parts.append(parse(f"{LABEL_FIELD} = {quote(label)}", fields))
        if min_prob is not None:
            if not 0.0 <= min_prob <= 1.0:
                raise OptionError("min_prob", min_prob, "must be between 0 and 1")
            parts.append(parse(f"{PROB_FIELD} >= {min_prob:.6f}", fields))
        if not parts:
            return None
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part
        return combined

    @property
    def fusion(self) -> Fusion:
        """How hybrid search fuses the dense and BM25 lists here, unless a search says otherwise: the
        index's own setting (``semsearch index --fusion``, or chosen by ``semsearch tune``); a new index's is
        :data:`~semsearch.types.DEFAULT_FUSION`."""
        return self.manifest.fusion

    def rank(
        self, query: str, k: int = 10, mode: Mode | str = Mode.HYBRID, where: Filter | None = None,
        fusion: Fusion | str | None = None, feedback: bool | None = None,
    ) -> Ranking:  # fmt: skip
        """Document ids and scores, best first, without fetching texts; ``fusion`` and ``feedback`` (hybrid
        mode) as :meth:`search`."""
        query, k, mode = checked_query(query), checked_k(k), choice(Mode, mode, "mode")
        fused = self.searched_fusion(fusion, feedback, mode)
        if mode is Mode.DENSE:
            return self._dense(query, k, where)
        if mode is Mode.BM25:
            return self._bm25(query, k, where)
        dense, lexical, others, _ = self.fusion_inputs(query, max(k, FUSION_DEPTH), where, fused)
        return fuse(dense, lexical, fused, others)[:k]

    def searched_fusion(self, fusion: Fusion | str | None, feedback: bool | None, mode: Mode = Mode.HYBRID) -> Fusion:
        """The fusion a search runs: ``fusion`` (None: the index's own, :attr:`fusion`) with ``feedback`` on or
        off where it says (None: as that fusion has it)."""
        fused = self.fusion if fusion is None else Fusion.parse(fusion)
        if feedback is None:
            return fused
        if not isinstance(feedback, bool):
            raise OptionError("feedback", feedback, "must be True, False or None (the fusion's own)")
        if feedback and mode is not Mode.HYBRID:
            raise OptionError("feedback", feedback, "works in hybrid mode only (it learns from the fused ranking)")
        return replace(fused, feedback=feedback)

    def fusion_inputs(
        self, query: str, depth: int, where: Filter | None, fusion: Fusion
    ) -> tuple[Ranking, Ranking, Others | None, Feedback | None]:
        """What hybrid search fuses for ``query``: the dense and BM25 top ``depth``, for convex fusion each
        retriever's scores of the other's documents, and the feedback that moved the query vector where the
        fusion has some (:func:`semsearch.facade.hybrid.fusion_inputs`)."""
        from semsearch.facade.hybrid import fusion_inputs

        return fusion_inputs(self, query, depth, where, fusion)

    def search(
        self,
        query: str,
        k: int = 10,
        mode: Mode | str = Mode.HYBRID,
        where: str | None = None,
        label: str | None = None,
        disambiguate: bool = False,
        sense: str | int | None = None,
        min_prob: float | None = None,
        explain: bool = False,
        fusion: Fusion | str | None = None,
        feedback: bool | None = None,
    ) -> SearchResult:
        """The ``k`` best documents for ``query`` among those matching ``where``, and labelled ``label``
        (with at least ``min_prob``) by the index's classifier; filters apply before top-k.

        ``disambiguate=True`` also says whether the top documents carry several senses of the query,
        labels them and lists each sense's best document first (:mod:`semsearch.disambiguate`);
        ``sense`` (a label or 0-based index, implies ``disambiguate``) puts that sense's documents first.
        ``explain=True`` gives each hit an ``explanation`` (:mod:`semsearch.explain`).
        ``fusion`` (``"rrf"``, ``"convex:0.4"``..., see :class:`~semsearch.types.Fusion`) says how hybrid
        mode fuses the dense and BM25 lists, for this search; None: the index's own (:attr:`fusion`).
        ``feedback`` (hybrid mode) turns the fusion's pseudo-relevance feedback on or off for this search
        (None: as the fusion has it; a new index's has it on): the query vector moves towards the best windows
        of the first ranking's top two documents and the dense list is made again (better rankings on SciFact
        and NFCorpus for about 2 ms a query; benchmarks/RESULTS.md).
        """
        query, k, mode = checked_query(query), checked_k(k), choice(Mode, mode, "mode")
        fused = self.searched_fusion(fusion, feedback, mode)
        condition = self.condition(where, label, min_prob)
        if disambiguate or sense is not None:
            from semsearch.facade.senses import disambiguated

            result = disambiguated(self, query, k, mode, condition, sense, fused)
        else:
            result = SearchResult(query=query, hits=self.hits(self.rank(query, k, mode, condition, fused)))
        if explain:
            from semsearch.facade.explain import explained

            result = explained(self, result, mode, condition, k, fused)
        notes = result.notes + self._notes(query, mode)
        return replace(result, notes=notes) if notes else result

    def explain(
        self, query: str, doc_id: str, mode: Mode | str = Mode.HYBRID, where: str | None = None,
        fusion: Fusion | str | None = None, feedback: bool | None = None,
    ) -> Explanation:  # fmt: skip
        """Why ``doc_id`` scores as it does for ``query`` in ``mode`` (among documents matching ``where``, fused
        by ``fusion`` with ``feedback`` as :meth:`search` takes them), whether or not it is a hit;
        :class:`~semsearch.errors.DocumentNotFoundError` if the index lacks it."""
        from semsearch.facade.explain import explanation

        mode = choice(Mode, mode, "mode")
        fused = self.searched_fusion(fusion, feedback, mode)
        return explanation(self, checked_query(query), str(doc_id), mode, self.condition(where), fused)

    def _notes(self, query: str, mode: Mode) -> list[str]:
        """What the user should know about how ``query`` was answered in ``mode``."""
        if mode is Mode.DENSE:
            return []
        from semsearch.bm25 import query_terms

        if query_terms(query):
            return []
        alone = "; the ranking is the dense one alone" if mode is Mode.HYBRID else ""
        return [f"the query has no word BM25 can match (only stop words or symbols){alone}"]

    def hits(self, ranked: Ranking) -> list[Hit]:
        """The documents of ``ranked`` with their texts and metadata, in its order."""
        documents = self.store.documents([doc_id for doc_id, _ in ranked], hold=True)
        return [
            Hit(doc_id, score, stored.text, stored.metadata, stored.label, stored.label_prob)
            for doc_id, score in ranked
            if (stored := documents.get(doc_id)) is not None
        ]

    def _dense(self, query: str, k: int, where: Filter | None) -> Ranking:
        vector = self.query_vector(query)
        return top_documents(lambda limit: self.vectors.search(vector, limit, where), k)

    def _bm25(self, query: str, k: int, where: Filter | None) -> Ranking:
        return self._bm25_scores(query, k, where)[0]

    def _bm25_scores(self, query: str, k: int, where: Filter | None) -> tuple[Ranking, np.ndarray]:
        """The BM25 top ``k`` among documents matching ``where``, and every document's score."""
        allowed = None
        if where is not None:
            ids = self.store.scan(["doc_id"], f"chunk = 0 AND ({where.sql})")["doc_id"].to_pylist()
            allowed = self.bm25.mask(ids)
        scores = self.bm25.scores(query)
        return self.bm25.best(scores, k, allowed), scores
