"""LanceDB's own vector search over the store table, with the filter as a LanceDB prefilter."""

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
        builder = (
            self.store.table.search(query.astype(np.float32), vector_column_name="vector")
            .distance_type("dot")  # type: ignore[attr-defined]  # a vector search's builder has it
            .select(["doc_id", "_distance"])
            .limit(limit)
        )
        if where is not None:
            builder = builder.where(where.sql, prefilter=True)
        with self.store.guarded():  # a damaged store file is named, not a raw lance error
            rows = builder.to_arrow()
        # LanceDB's "dot" distance is 1 - inner product; turn it back into a similarity.
        scores = 1.0 - rows["_distance"].to_numpy().astype(np.float32)
        return ChunkMatches(np.array(rows["doc_id"].to_pylist(), dtype=object), scores)
