"""The two lists hybrid search fuses, and what each retriever knows of the other's documents.

Reciprocal rank fusion needs only the two top lists. Convex fusion is complete: each retriever also scores
the other's documents, so a document that one list misses is weighed by its real score there, not by the
list's floor (benchmarks/RESULTS.md measures the difference). BM25 scores every document anyway; the dense
side scores the documents of the top :data:`COMPLETE_WINDOWS` windows exactly and any other at the last of
those windows' cosine, the most it can have.

With ``feedback`` the query vector moves towards the best windows of the first fusion's top documents
(:func:`semsearch.ranking.rocchio`), and the dense side is those top windows scored again by it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from semsearch.ann import ChunkMatches
from semsearch.filters import Filter
from semsearch.ranking import (
    FEEDBACK_DOCS,
    Others,
    Ranking,
    best_per_document,
    best_windows,
    fuse,
    rescore,
    rocchio,
    top_documents,
)
from semsearch.runtime.cpu import usable_cores
from semsearch.types import Fusion, FusionMethod

if TYPE_CHECKING:
    from semsearch.facade.index import Index

COMPLETE_WINDOWS = 1000  # windows the dense side scores exactly (enough for 100 documents of several windows)


@cache
def side_thread() -> ThreadPoolExecutor:
    """The process's threads for work a search does beside its own (BM25 while the query encodes)."""
    return ThreadPoolExecutor(max_workers=usable_cores(), thread_name_prefix="semsearch-search")


# A forked child inherits the pool but not its threads, and would wait for them forever: it makes its own.
os.register_at_fork(after_in_child=side_thread.cache_clear)


def fusion_inputs(
    index: Index, query: str, depth: int, where: Filter | None, fusion: Fusion, feedback: bool = False
) -> tuple[Ranking, Ranking, Others | None]:
    """The dense and BM25 top ``depth`` of ``query`` under ``where`` and, unless the fusion is RRF without
    feedback, each retriever's scores of the other's documents. BM25 runs on a second thread while this
    one encodes the query (the runtime releases the GIL)."""
    if fusion.method is FusionMethod.RRF and not feedback:
        pending = side_thread().submit(index._bm25, query, depth, where)
        return index._dense(query, depth, where), pending.result(), None
    scored = side_thread().submit(index._bm25_scores, query, depth, where)
    vector = index.query_vector(query)
    dense, known, floor, matches = complete_dense(index, vector, depth, where)
    lexical, scores = scored.result()
    if feedback:
        first = fuse(dense, lexical, fusion, others(index, dense, known, floor, lexical, scores))
        chunks = best_windows(matches, [doc for doc, _ in first[:FEEDBACK_DOCS]])
        if chunks:
            windows = index.vectors.vectors(matches.ids)
            row = {int(chunk): i for i, chunk in enumerate(matches.ids)}
            moved = rocchio(vector, windows[[row[chunk] for chunk in chunks]])
            if floor is None or len(best_per_document(matches)) >= depth:
                dense, known, floor = moved_dense(matches, windows, moved, depth, floor is not None)
            else:  # the first pass's windows held too few documents: search the moved vector afresh
                dense, known, floor, _ = complete_dense(index, moved, depth, where)
    return dense, lexical, others(index, dense, known, floor, lexical, scores)


def moved_dense(
    matches: ChunkMatches, windows: np.ndarray, moved: np.ndarray, depth: int, more: bool
) -> tuple[Ranking, dict[str, float], float | None]:
    """The dense side of the moved query from the first pass's windows (``windows`` their vectors), scored
    again: the top ``depth``, the other documents' scores and, when the backend holds ``more`` windows,
    the lowest rescored one's score for any document past them. A second search of every vector ranks the
    same within noise (benchmarks/RESULTS.md) at several times the cost; that floor is an estimate, not a
    bound, since the moved query can score a window the first pass missed above it."""
    again = rescore(matches, windows, moved)
    documents = best_per_document(again)
    floor = float(again.scores[-1]) if more and len(again) else None
    return documents[:depth], dict(documents[depth:]), floor


def complete_dense(
    index: Index, vector: np.ndarray, depth: int, where: Filter | None
) -> tuple[Ranking, dict[str, float], float | None, ChunkMatches]:
    """The dense top ``depth``, the exact scores of the other documents of the top windows, the score a
    document past them can have at most (None: no window is past them), and the window matches."""
    limit = max(COMPLETE_WINDOWS, 4 * depth)
    matches = index.vectors.search(vector, limit, where)
    documents = best_per_document(matches)
    more = len(matches) == limit  # the backend holds more windows than were asked for
    if len(documents) < depth and more:
        documents = top_documents(lambda limit: index.vectors.search(vector, limit, where), depth)
    floor = float(matches.scores[-1]) if more else None
    return documents[:depth], dict(documents[depth:]), floor, matches


def others(
    index: Index, dense: Ranking, known: dict[str, float], floor: float | None, lexical: Ranking, scores: np.ndarray
) -> Others:
    """Each retriever's scores of the other's list: dense from ``known`` (else at most ``floor``), BM25 from
    its ``scores`` of every document."""
    dense_others = dict(known)
    if floor is not None:
        dense_others.update((doc, floor) for doc, _ in lexical if doc not in dense_others)
    position = index.bm25.position
    return dense_others, {doc: float(scores[position[doc]]) for doc, _ in dense if doc in position}
