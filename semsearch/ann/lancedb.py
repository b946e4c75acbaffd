"""The store table's own vector search (what LanceDB runs), with the filter applied before top-k."""

from __future__ import annotations

import numpy as np

from semsearch.ann import ChunkMatches, VectorBackend
from semsearch.filters import Filter
from semsearch.store import Store


class LanceBackend(VectorBackend):
    """Searches the store table directly: exact (flat) unless an ANN index was built on it."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def sync(self) -> None:
        """Nothing to do: the search reads the table itself."""

    def describe(self) -> str:
        return f"LanceDB exact search over {self.store.count_chunks()} vectors"

    def search(self, query: np.ndarray, limit: int, where: Filter | None = None) -> ChunkMatches:
        rows = self.store.nearest(query, limit, where.sql if where is not None else None)
        return ChunkMatches(
            np.array(rows["doc_id"].to_pylist(), dtype=object), rows["score"].to_numpy(), rows["rowid"].to_numpy()
        )
