"""A search with disambiguation: the index supplies what :mod:`semsearch.disambiguate` needs of each of
the top documents (text, dense score, BM25 score), the method finds the senses, and the list is reordered."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from semsearch.disambiguate import Candidate, find_senses, narrow
from semsearch.filters import Filter
from semsearch.types import Fusion, Hit, Mode, SearchResult, Sense

if TYPE_CHECKING:
    from semsearch.facade.index import Index


def disambiguated(index: Index, query: str, k: int, mode: Mode, where: Filter | None,
                  sense: str | int | None, fusion: Fusion | None = None) -> SearchResult:  # fmt: skip
    """Search, then find senses among the top ``candidates`` and reorder them (the rest keep their rank).

    A sense lists its documents among the returned hits; with ``k`` smaller than the number of
    senses, those whose best document fell past ``k`` are left out.
    """
    config = index.disambiguation
    hits = index.hits(index.rank(query, max(k, config.candidates), mode, where, fusion))
    pool = hits[: config.candidates]
    found = find_senses(query, candidates(index, query, pool), index.bm25, config)
    order = narrow(len(pool), found.senses, sense) if sense is not None else found.order
    returned = ([pool[i] for i in order] + hits[len(pool) :])[:k]
    shown = {hit.id for hit in returned}
    senses = [
        Sense(label=s.label, hits=[pool[i] for i in s.members if pool[i].id in shown])
        for s in found.senses
        if pool[s.members[0]].id in shown
    ]
    return SearchResult(query=query, hits=returned, ambiguous=found.ambiguous, senses=senses)


def candidates(index: Index, query: str, hits: list[Hit]) -> list[Candidate]:
    """What disambiguation needs of each hit: its text, dense score (best chunk) and BM25 score,
    whatever mode ranked it."""
    dense, lexical = dense_scores(index, query, hits), lexical_scores(index, query, hits)
    return [Candidate(hit.text, d, b) for hit, d, b in zip(hits, dense, lexical, strict=True)]


def dense_scores(index: Index, query: str, hits: list[Hit]) -> list[float]:
    """Inner product of the query vector and each document's best chunk, from the stored vectors."""
    if not hits:
        return []
    rows = index.store.chunks_of([hit.id for hit in hits])
    dim = rows["vector"].type.list_size
    vectors = rows["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
    best: dict[str, float] = {}
    for doc_id, score in zip(rows["doc_id"].to_pylist(), vectors @ index.query_vector(query), strict=True):
        best[doc_id] = max(best.get(doc_id, -np.inf), float(score))
    return [best.get(hit.id, 0.0) for hit in hits]


def lexical_scores(index: Index, query: str, hits: list[Hit]) -> list[float]:
    scores = index.bm25.scores(query)
    position = index.bm25.position
    return [float(scores[position[hit.id]]) if hit.id in position else 0.0 for hit in hits]
