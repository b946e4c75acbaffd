"""The facade: an opened index that answers queries, wiring store, encoder, backends and BM25.

``semsearch.open(path)`` returns an :class:`Index`. Opening is cheap; the encoder and the BM25
index load on first use and then stay, so a process pays for them once, not per query.
"""

from __future__ import annotations

import logging
from functools import cache, cached_property
from pathlib import Path

from semsearch.bm25 import BM25Index
from semsearch.encoder import Encoder, Precision
from semsearch.errors import FilterError, IncompatibleEncoderError, SemsearchError
from semsearch.filters import Filter, parse
from semsearch.index import VectorIndex, open_backend
from semsearch.manifest import STORE_DIR, Manifest
from semsearch.search import Ranking, reciprocal_rank_fusion, top_documents
from semsearch.store import Store, quote
from semsearch.types import Backend, Hit, Mode, Pooling, SearchResult

log = logging.getLogger(__name__)

FUSION_DEPTH = 100  # documents taken from each retriever before fusing
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

    def condition(self, where: str | None = None, label: str | None = None) -> Filter | None:
        """The checked filter for ``where`` and ``label`` together (None when neither is given)."""
        fields = self.store.fields()
        parts = [parse(where, fields)] if where else []
        if label is not None:
            if "label" not in fields:
                raise FilterError("this index has no predicted labels; index it with --classifier DIR")
            parts.append(parse(f"label = {quote(label)}", fields))
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
    ) -> SearchResult:
        """The ``k`` best documents for ``query`` among those matching ``where`` and ``label``."""
        if disambiguate:
            raise SemsearchError("query disambiguation is not available in this version")
        ranked = self.rank(query, k, mode, self.condition(where, label))
        return SearchResult(query=query, hits=self.hits(ranked))

    def hits(self, ranked: Ranking) -> list[Hit]:
        documents = self.store.documents([doc_id for doc_id, _ in ranked])
        return [
            Hit(id=doc_id, score=score, text=documents[doc_id][0], metadata=documents[doc_id][1])
            for doc_id, score in ranked
            if doc_id in documents
        ]

    def _dense(self, query: str, k: int, where: Filter | None) -> Ranking:
        vector = self.encoder.encode([query])[0]
        return top_documents(lambda limit: self.vectors.search(vector, limit, where), k)

    def _bm25(self, query: str, k: int, where: Filter | None) -> Ranking:
        allowed = None
        if where is not None:
            ids = self.store.scan(["doc_id"], f"chunk = 0 AND ({where.sql})")["doc_id"].to_pylist()
            allowed = self.bm25.mask(ids)
        return self.bm25.top(query, k, allowed)
