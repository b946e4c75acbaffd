"""Vector search backends: nearest chunks to a query vector, with a filter applied before top-k.

Each backend lives in its own module and implements :class:`VectorBackend`: ``sync`` brings it in
line with the store (the store is the record; a backend's own files are derived data), ``search``
answers a query. Both are checked against exact numpy search by one shared test suite.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semsearch.filters import Filter
from semsearch.store import Store
from semsearch.types import Backend


@dataclass(frozen=True)
class ChunkMatches:
    """Nearest chunks, best first: parallel arrays of document ids and inner-product scores, and the
    chunks' own ids (store rowids) for :meth:`VectorBackend.vectors`."""

    doc_ids: np.ndarray  # object array of str
    scores: np.ndarray  # float32
    ids: np.ndarray  # int64 store rowids

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> ChunkMatches:
        return cls(np.array([], dtype=object), np.array([], dtype=np.float32), np.array([], dtype=np.int64))


class VectorBackend(ABC):
    """A searchable view of the store's vectors."""

    store: Store

    @abstractmethod
    def sync(self) -> None:
        """Make the backend reflect the store's current vectors (a no-op when it already does)."""

    @abstractmethod
    def search(self, query: np.ndarray, limit: int, where: Filter | None = None) -> ChunkMatches:
        """The ``limit`` chunks with the highest inner product to ``query`` among those matching ``where``."""

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of the chunks ``ids`` (store rowids, as :class:`ChunkMatches` gives them), in
        that order; read from the store, which a backend may answer faster from its own copy."""
        return self.store.vectors_of(ids)

    @abstractmethod
    def describe(self) -> str:
        """One line for the user: which kind of search, over how many vectors, its recall where approximate."""


def exact_search(
    vectors: np.ndarray, doc_ids: np.ndarray, query: np.ndarray, limit: int, ids: np.ndarray | None = None
) -> ChunkMatches:
    """Brute-force inner-product search: the reference every backend is tested against (``ids``: each
    vector's store rowid; None: its position)."""
    if len(vectors) == 0:
        return ChunkMatches.empty()
    scores = vectors @ query.astype(np.float32)
    limit = min(limit, len(scores))
    top = np.argpartition(-scores, limit - 1)[:limit]
    top = top[np.argsort(-scores[top], kind="stable")]
    return ChunkMatches(doc_ids[top], scores[top], (np.arange(len(scores)) if ids is None else ids)[top])


def open_backend(backend: Backend, store: Store, directory: Path, factory: str = "auto") -> VectorBackend:
    """The backend named ``backend`` over ``store``; ``directory`` holds its derived files."""
    if backend is Backend.FAISS:
        from semsearch.ann.faiss import FaissBackend

        return FaissBackend(store, directory / "faiss", factory)
    from semsearch.ann.lancedb import LanceBackend

    return LanceBackend(store)
