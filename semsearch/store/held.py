"""A small store's documents held in memory, so a search fetches its hits without reading the table.

Lance's take of a search's hits costs about half a millisecond whatever the rows (its fixed cost), a fifth of
a hybrid search after the query's encoding (benchmarks/RESULTS.md). A store whose documents (their texts,
metadata, hashes and labels, one row each) come to at most :data:`HELD_BYTES` in Arrow reads them in one scan
the second time a version is fetched from (so a single search, a command's, never pays for it) and takes hits
from memory; a larger one takes them from the table, and the scan stops as soon as it is past the budget. An
exact FAISS index of such a store holds more than that in memory already (a 384-d vector takes 1.5 KB, the
text of its window a few hundred bytes). The texts are still checked against their hashes at each fetch, as
taken ones are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lance
import pyarrow as pa

HELD_BYTES = 64 * 2**20  # a store's documents are held in memory up to this many bytes


@dataclass(frozen=True)
class HeldDocuments:
    """One version's documents as Arrow columns (None: more than the budget), and each one's row among them."""

    version: int
    columns: tuple[str, ...]
    table: pa.Table | None
    rows: dict[str, int]

    @classmethod
    def read(
        cls, dataset: lance.LanceDataset, version: int, columns: Sequence[str], budget: int = HELD_BYTES
    ) -> HeldDocuments:
        """The first chunk's ``columns`` of every document of ``dataset`` (at ``version``), unless they come to
        more than ``budget`` bytes."""
        batches, size = [], 0
        for batch in dataset.to_batches(columns=["doc_id", *columns], filter="chunk = 0"):
            size += batch.nbytes
            if size > budget:
                return cls(version, tuple(columns), None, {})
            batches.append(batch)
        schema = pa.schema([dataset.schema.field(name) for name in ["doc_id", *columns]])
        table = pa.Table.from_batches(batches, schema=schema)
        rows = {doc_id: row for row, doc_id in enumerate(table["doc_id"].to_pylist())}
        return cls(version, tuple(columns), table.drop_columns(["doc_id"]), rows)

    def take(self, doc_ids: Sequence[str]) -> pa.Table:
        """The rows of ``doc_ids`` (each held), in that order."""
        assert self.table is not None
        return self.table.take([self.rows[doc_id] for doc_id in doc_ids])


class Holder:
    """A store handle's held documents: none at a version's first fetch, read at its second, kept while the
    version and the columns asked for stay the same."""

    def __init__(self) -> None:
        self.held: HeldDocuments | None = None
        self._fetched: tuple[int, tuple[str, ...]] | None = None  # the version (and columns) fetched once

    def documents(self, dataset: lance.LanceDataset, version: int, columns: Sequence[str]) -> HeldDocuments | None:
        """The documents of ``dataset`` at ``version`` in memory (None: this version's first fetch, or too many)."""
        wanted = tuple(columns)
        held = self.held
        if held is None or held.version != version or held.columns != wanted:
            if self._fetched != (version, wanted):
                self._fetched = (version, wanted)
                return None
            held = self.held = HeldDocuments.read(dataset, version, columns)
        return held if held.table is not None else None

    def release(self) -> None:
        """Let go of the documents (read again at a later second fetch)."""
        self.held = self._fetched = None
