"""The two lists hybrid search fuses, and what each retriever knows of the other's documents.

Reciprocal rank fusion needs only the two top lists. Convex fusion is complete: each retriever also scores
the other's documents, so a document that one list misses is weighed by its real score there, not by the
list's floor (benchmarks/RESULTS.md measures the difference). BM25 scores every document anyway; the dense
side scores the documents of the top :data:`COMPLETE_WINDOWS` windows exactly and any other at the last of
those windows' cosine, the most it can have.

With the fusion's ``feedback`` the query vector moves towards the best windows of the first fusion's top
documents (:func:`semsearch.ranking.moved_query`), and the dense side is those top windows scored again by it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from semsearch.ann import ChunkMatches
from semsearch.filters import Filter
from semsearch.ranking import (
    FEEDBACK_DOCS,
    Feedback,
    Others,
    Ranking,
    best_per_document,
    best_windows,
    fuse,
    moved_query,
    rescore,
    top_documents,
)
from semsearch.runtime.cpu import usable_cores
from semsearch.types import Fusion, FusionMethod

if TYPE_CHECKING:
    from semsearch.facade.index import Index

# Windows the dense side scores exactly: as good as 1,000 on NFCorpus train (benchmarks/RESULTS.md).
COMPLETE_WINDOWS = 500


@cache
def side_thread() -> ThreadPoolExecutor:
    """The process's threads for work a search does beside its own (BM25 while the query encodes)."""
    return ThreadPoolExecutor(max_workers=usable_cores(), thread_name_prefix="semsearch-search")


# A forked child inherits the pool but not its threads, and would wait for them forever: it makes its own.
os.register_at_fork(after_in_child=side_thread.cache_clear)


def fusion_inputs(
    index: Index, query: str, depth: int, where: Filter | None, fusion: Fusion
) -> tuple[Ranking, Ranking, Others | None, Feedback | None]:
    """The dense and BM25 top ``depth`` of ``query`` under ``where``; unless the fusion is RRF without
    feedback, each retriever's scores of the other's documents; and what the fusion's feedback did to the
    query vector (None: no feedback, or no window to move it towards). BM25 runs on a second thread while
    this one encodes the query (the runtime releases the GIL)."""
    if fusion.method is FusionMethod.RRF and not fusion.feedback:
        pending = side_thread().submit(index._bm25, query, depth, where)
        return index._dense(query, depth, where), pending.result(), None, None
    scored = side_thread().submit(index._bm25_scores, query, depth, where)
    vector = index.query_vector(query)
    dense = complete_dense(index, vector, depth, where)
    lexical, scores = scored.result()
    moved = None
    if fusion.feedback:
        first = fuse(dense.ranking, lexical, fusion, others(index, dense, lexical, scores))
        chunks = best_windows(dense.matches, [doc for doc, _ in first[:FEEDBACK_DOCS]])
        if chunks:
            dense, moved = moved_dense(index, dense, vector, chunks, depth, where)
    return dense.ranking, lexical, others(index, dense, lexical, scores), moved


@dataclass(frozen=True)
class DenseSide:
    """The dense side of a complete fusion: the top documents, the exact scores of the other documents of the
    top windows, the most a document past them can score (None: no window is past them), and those windows."""

    ranking: Ranking
    known: dict[str, float]
    floor: float | None
    matches: ChunkMatches
    whole: bool  # the ranking comes from ``matches`` alone (False: they held too few documents)


def complete_dense(index: Index, vector: np.ndarray, depth: int, where: Filter | None) -> DenseSide:
    """The dense side of ``vector``'s top ``depth`` under ``where``, from its top windows."""
    limit = max(COMPLETE_WINDOWS, 4 * depth)
    matches = index.vectors.search(vector, limit, where)
    documents = best_per_document(matches)
    more = len(matches) == limit  # the backend holds more windows than were asked for
    whole = len(documents) >= depth or not more
    if not whole:
        documents = top_documents(lambda limit: index.vectors.search(vector, limit, where), depth)
    floor = float(matches.scores[-1]) if more else None
    return DenseSide(documents[:depth], dict(documents[depth:]), floor, matches, whole)


def moved_dense(
    index: Index, first: DenseSide, vector: np.ndarray, chunks: dict[str, int], depth: int, where: Filter | None
) -> tuple[DenseSide, Feedback]:
    """The dense side of ``vector`` moved towards the windows ``chunks`` (document -> the position of its best
    window in the first pass's matches): the first pass's windows scored again. A second search of every
    vector ranks the same within noise (benchmarks/RESULTS.md) at several times the cost. The floor is then
    the lowest rescored window's score, an estimate rather than a bound: the moved query can score a window
    the first pass missed above it."""
    rows = list(chunks.values())
    if not first.whole:  # its windows held too few documents: search the moved vector afresh
        moved = moved_query(vector, index.vectors.vectors(first.matches.ids[rows]), list(chunks))
        return complete_dense(index, moved.vector, depth, where), moved
    windows = index.vectors.vectors(first.matches.ids)
    moved = moved_query(vector, windows[rows], list(chunks))
    again = rescore(first.matches, windows, moved.vector)
    documents = best_per_document(again)
    floor = float(again.scores[-1]) if first.floor is not None and len(again) else None
    return DenseSide(documents[:depth], dict(documents[depth:]), floor, again, True), moved


def others(index: Index, dense: DenseSide, lexical: Ranking, scores: np.ndarray) -> Others:
    """Each retriever's scores of the other's list: dense from its known scores (else at most its floor),
    BM25 from its ``scores`` of every document."""
    dense_others = dict(dense.known)
    if dense.floor is not None:
        dense_others.update((doc, dense.floor) for doc, _ in lexical if doc not in dense_others)
    position = index.bm25.position
    return dense_others, {doc: float(scores[position[doc]]) for doc, _ in dense.ranking if doc in position}
