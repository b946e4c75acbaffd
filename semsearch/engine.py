"""The facade: an opened index that answers queries, wiring store, encoder, backends and BM25.

``semsearch.open(path)`` returns an :class:`Index`. Opening is cheap; the encoder and the BM25
index load on first use and then stay, so a process pays for them once, not per query.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache, cached_property, lru_cache
from pathlib import Path

import numpy as np

from semsearch.bm25 import BM25Index
from semsearch.disambiguate import Candidate, DisambiguationConfig, find_senses, narrow
from semsearch.encoder import Encoder, Precision
from semsearch.errors import FilterError, IncompatibleEncoderError, SemsearchError
from semsearch.filters import Filter, parse
from semsearch.index import VectorIndex, open_backend
from semsearch.labelling import index_labels
from semsearch.manifest import STORE_DIR, Manifest
from semsearch.search import Ranking, reciprocal_rank_fusion, top_documents
from semsearch.store import LABEL_FIELD, PROB_FIELD, Store, quote
from semsearch.types import Backend, Hit, Mode, Pooling, SearchResult, Sense

log = logging.getLogger(__name__)

FUSION_DEPTH = 100  # documents taken from each retriever before fusing
QUERY_VECTOR_CACHE = 64  # recent query vectors kept, so disambiguation reuses the search's own encoding
QUERY_THREADS = 1  # a query is a few dozen tokens: one thread is fastest, and much faster on a busy machine


@cache
def query_encoder(model: str, pooling: Pooling, precision: Precision) -> Encoder:
    """One encoder per model, pooling and precision per process, however many indexes are opened."""
    return Encoder(model, pooling, precision, threads=QUERY_THREADS)


class Index:
    """An index directory opened for search."""

    def __init__(self, directory: Path, manifest: Manifest, store: Store, backend: Backend) -> None:
        self.directory = directory
        self.manifest = manifest
        self.store = store
        self.backend_name = backend
        self.disambiguation = DisambiguationConfig()

    @classmethod
    def open(cls, directory: str | Path, backend: Backend | str | None = None) -> Index:
        """Open ``directory``; raises a clear error if it is missing or damaged."""
        directory = Path(directory)
        manifest = Manifest.load(directory)
        store = Store.open(directory / STORE_DIR)
        return cls(directory, manifest, store, Backend(backend) if backend else manifest.backend)

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
    def vectors(self) -> VectorIndex:
        backend = open_backend(self.backend_name, self.store, self.directory, self.manifest.faiss_factory)
        backend.sync()
        return backend

    @cached_property
    def bm25(self) -> BM25Index:
        return BM25Index.for_store(self.store, self.directory / "bm25")

    def __len__(self) -> int:
        return self.store.count_docs()

    def fields(self) -> list[str]:
        """Names usable in a ``where`` filter."""
        return sorted(self.store.fields())

    def labels(self) -> tuple[str, ...]:
        """The label names of the index's classifier (empty when it has none)."""
        return index_labels(self.directory) or ()

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
                raise FilterError("this index has no predicted labels; index it with --classifier DIR")
            known = self.labels()
            if label is not None and known and label not in known:
                raise FilterError(f"unknown label {label!r}; the index's classifier knows: {', '.join(known)}")
        if label is not None:
            parts.append(parse(f"{LABEL_FIELD} = {quote(label)}", fields))
        if min_prob is not None:
            if not 0.0 <= min_prob <= 1.0:
                raise FilterError(f"min_prob must be between 0 and 1, got {min_prob}")
            parts.append(parse(f"{PROB_FIELD} >= {min_prob:.6f}", fields))
        if not parts:
            return None
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part
        return combined

    def rank(self, query: str, k: int = 10, mode: Mode | str = Mode.HYBRID, where: Filter | None = None) -> Ranking:
        """Document ids and scores, best first, without fetching texts."""
        if k < 1:
            raise SemsearchError(f"k must be at least 1, got {k}")
        mode = Mode(mode)
        if mode is Mode.DENSE:
            return self._dense(query, k, where)
        if mode is Mode.BM25:
            return self._bm25(query, k, where)
        depth = max(k, FUSION_DEPTH)
        return reciprocal_rank_fusion([self._dense(query, depth, where), self._bm25(query, depth, where)])[:k]

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
    ) -> SearchResult:
        """The ``k`` best documents for ``query`` among those matching ``where``, and labelled ``label``
        (with at least ``min_prob``) by the index's classifier; filters apply before top-k.

        ``disambiguate=True`` also says whether the top documents carry several senses of the query,
        labels them and lists each sense's best document first (:mod:`semsearch.disambiguate`);
        ``sense`` (a label or 0-based index, implies ``disambiguate``) puts that sense's documents first.
        """
        condition = self.condition(where, label, min_prob)
        if disambiguate or sense is not None:
            return self._disambiguated(query, k, Mode(mode), condition, sense)
        ranked = self.rank(query, k, mode, condition)
        return SearchResult(query=query, hits=self.hits(ranked))

    def _disambiguated(
        self, query: str, k: int, mode: Mode, where: Filter | None, sense: str | int | None
    ) -> SearchResult:
        """Search, then find senses among the top ``candidates`` and reorder them (the rest keep their rank).

        A sense lists its documents among the returned hits; with ``k`` smaller than the number of
        senses, those whose best document fell past ``k`` are left out.
        """
        config = self.disambiguation
        hits = self.hits(self.rank(query, max(k, config.candidates), mode, where))
        pool = hits[: config.candidates]
        found = find_senses(query, self.candidates(query, pool), self.bm25, config)
        order = narrow(len(pool), found.senses, sense) if sense is not None else found.order
        returned = ([pool[i] for i in order] + hits[len(pool) :])[:k]
        shown = {hit.id for hit in returned}
        senses = [
            Sense(label=s.label, hits=[pool[i] for i in s.members if pool[i].id in shown])
            for s in found.senses
            if pool[s.members[0]].id in shown
        ]
        return SearchResult(query=query, hits=returned, ambiguous=found.ambiguous, senses=senses)

    def candidates(self, query: str, hits: list[Hit]) -> list[Candidate]:
        """What disambiguation needs of each hit: its text, dense score (best chunk) and BM25 score,
        whatever mode ranked it."""
        dense, lexical = self._dense_scores(query, hits), self._lexical_scores(query, hits)
        return [Candidate(hit.text, d, b) for hit, d, b in zip(hits, dense, lexical, strict=True)]

    def _dense_scores(self, query: str, hits: list[Hit]) -> list[float]:
        """Inner product of the query vector and each document's best chunk, from the stored vectors."""
        if not hits:
            return []
        rows = self.store.chunks_of([hit.id for hit in hits])
        dim = rows["vector"].type.list_size
        vectors = rows["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
        best: dict[str, float] = {}
        for doc_id, score in zip(rows["doc_id"].to_pylist(), vectors @ self.query_vector(query), strict=True):
            best[doc_id] = max(best.get(doc_id, -np.inf), float(score))
        return [best.get(hit.id, 0.0) for hit in hits]

    def _lexical_scores(self, query: str, hits: list[Hit]) -> list[float]:
        scores = self.bm25.scores(query)
        return [float(scores[self.bm25.position[hit.id]]) if hit.id in self.bm25.position else 0.0 for hit in hits]

    def hits(self, ranked: Ranking) -> list[Hit]:
        documents = self.store.documents([doc_id for doc_id, _ in ranked])
        return [
            Hit(id=doc_id, score=score, text=documents[doc_id][0], metadata=documents[doc_id][1])
            for doc_id, score in ranked
            if doc_id in documents
        ]

    def _dense(self, query: str, k: int, where: Filter | None) -> Ranking:
        vector = self.query_vector(query)
        return top_documents(lambda limit: self.vectors.search(vector, limit, where), k)

    def _bm25(self, query: str, k: int, where: Filter | None) -> Ranking:
        allowed = None
        if where is not None:
            ids = self.store.scan(["doc_id"], f"chunk = 0 AND ({where.sql})")["doc_id"].to_pylist()
            allowed = self.bm25.mask(ids)
        return self.bm25.top(query, k, allowed)
