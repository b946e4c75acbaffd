"""A small store's documents held in memory, so a search fetches its hits without reading the table.

Lance's take of a search's hits costs about half a millisecond whatever the rows (its fixed cost), a fifth of
a hybrid search after the query's encoding (benchmarks/RESULTS.md). A store whose documents (their texts,
metadata, hashes and labels, one row each) come to at most :data:`HELD_BYTES` in Arrow reads them in one scan
the second time a version is fetched from (so a single search, a command's, never pays for it) and takes hits
from memory; a larger one takes them from the table, and the scan stops as soon as it is past the budget. An
exact FAISS index of such a store holds more than that in memory already (a 384-d vector takes 1.5 KB, the
text of its window a few hundred bytes). The documents are held as Python values, one tuple each: a fetch is then
a few dictionary look-ups, where taking from an Arrow table in memory passes through Arrow's compute functions,
several times slower once an encoding has pushed them out of the CPU's caches (benchmarks/RESULTS.md). The texts
are still checked against their hashes at each fetch, as taken ones are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lance

# A store's documents are held up to this many bytes in Arrow. As Python strings they take a little more (about
# 50 bytes a string), up to four times as much for text outside Latin-1 (Python stores 2 or 4 bytes a character).
HELD_BYTES = 64 * 2**20


@dataclass(frozen=True)
class HeldDocuments:
    """One version's documents: each one's values of ``columns``, by document id (None: more than the budget)."""

    version: int
    columns: tuple[str, ...]
    rows: dict[str, tuple[Any, ...]] | None

    @classmethod
    def read(
        cls, dataset: lance.LanceDataset, version: int, columns: Sequence[str], budget: int = HELD_BYTES
    ) -> HeldDocuments:
        """The first chunk's ``columns`` of every document of ``dataset`` (at ``version``), unless they come to
        more than ``budget`` bytes in Arrow."""
        batches, size = [], 0
        for batch in dataset.to_batches(columns=["doc_id", *columns], filter="chunk = 0"):
            size += batch.nbytes
            if size > budget:
                return cls(version, tuple(columns), None)
            batches.append(batch)
        rows: dict[str, tuple[Any, ...]] = {}
        for batch in batches:
            values = [batch.column(name).to_pylist() for name in columns]
            rows.update(zip(batch.column("doc_id").to_pylist(), zip(*values, strict=True), strict=True))
        return cls(version, tuple(columns), rows)


class Holder:
    """A store handle's held documents: none at a version's first fetch, read at its second, kept while the
    version and the columns asked for stay the same."""

    def __init__(self) -> None:
        self.held: HeldDocuments | None = None
        self._fetched: tuple[int, tuple[str, ...]] | None = None  # the version (and columns) fetched once

    def documents(
        self, dataset: lance.LanceDataset, version: int, columns: Sequence[str]
    ) -> dict[str, tuple[Any, ...]] | None:
        """The documents of ``dataset`` at ``version`` in memory, each one's values of ``columns`` by id (None: this
        version's first fetch, or too many)."""
        wanted = tuple(columns)
        held = self.held
        if held is None or held.version != version or held.columns != wanted:
            if self._fetched != (version, wanted):
                self._fetched = (version, wanted)
                return None
            held = self.held = HeldDocuments.read(dataset, version, columns)
        return held.rows

    def release(self) -> None:
        """Let go of the documents (read again at a later second fetch)."""
        self.held = self._fetched = None
