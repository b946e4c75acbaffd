"""A search with disambiguation: the index supplies what :mod:`semsearch.disambiguate` needs of each of
the top documents (text, dense score, BM25 score), the method finds the senses, and the list is reordered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from semsearch.disambiguate import Candidate, Disambiguation, find_senses, find_senses_in_context, narrow
from semsearch.disambiguate.learned import default_fitted
from semsearch.disambiguate.mentions import Mention, mention_vectors
from semsearch.filters import Filter
from semsearch.store import vector_array
from semsearch.types import Fusion, Hit, Mode, SearchResult, Sense

if TYPE_CHECKING:
    from semsearch.facade.index import Index


def disambiguated(index: Index, query: str, k: int, mode: Mode, where: Filter | None, sense: str | int | None,
                  fusion: Fusion | None = None) -> SearchResult:  # fmt: skip
    """Search (fused by ``fusion`` in hybrid mode, None: the index's own), then find senses among the top
    ``candidates`` and reorder them (the rest keep their rank).

    A sense lists its documents among the returned hits; with ``k`` smaller than the number of
    senses, those whose best document fell past ``k`` are left out.
    """
    config = index.disambiguation
    hits = index.hits(index.rank(query, max(k, config.candidates), mode, where, fusion))
    pool = hits[: config.candidates]
    found = find(index, query, pool)
    order = narrow(len(pool), found.senses, sense) if sense is not None else found.order
    returned = ([pool[i] for i in order] + hits[len(pool) :])[:k]
    shown = {hit.id for hit in returned}
    senses = [
        Sense(label=s.label, hits=[pool[i] for i in s.members if pool[i].id in shown])
        for s in found.senses
        if pool[s.members[0]].id in shown
    ]
    # Why nothing could be split, when that is the input's doing rather than the evidence's.
    notes = [f"disambiguation: {found.reason}"] if found.reason and not found.reason.startswith("one sense") else []
    return SearchResult(query=query, hits=returned, ambiguous=found.ambiguous, senses=senses, notes=notes)


def find(index: Index, query: str, pool: list[Hit]) -> Disambiguation:
    """The senses among ``pool`` by the configured method; the contextual one encodes the mentions of
    the relevant candidates in one forward pass of the index's own encoder."""
    config = index.disambiguation
    found = candidates(index, query, pool)
    if not config.contextual:
        return find_senses(query, found, index.bm25, config)

    def vectors(positions: Sequence[int], mentions: Sequence[Mention]) -> np.ndarray:
        return mention_vectors([pool[p].text for p in positions], mentions, index.encoder.token_vectors)

    return find_senses_in_context(query, found, index.bm25, config, default_fitted(), vectors)


def candidates(index: Index, query: str, hits: list[Hit]) -> list[Candidate]:
    """What disambiguation needs of each hit: its text, dense score and stored vector (of its best chunk)
    and BM25 score, whatever mode ranked it."""
    dense, lexical = dense_scores(index, query, hits), lexical_scores(index, query, hits)
    return [Candidate(hit.text, d, b, v) for hit, (d, v), b in zip(hits, dense, lexical, strict=True)]


def dense_scores(index: Index, query: str, hits: list[Hit]) -> list[tuple[float, np.ndarray | None]]:
    """Inner product of the query vector and each document's best chunk, and that chunk's stored vector."""
    if not hits:
        return []
    rows = index.store.chunks_of([hit.id for hit in hits])
    vectors = vector_array(rows)
    best: dict[str, tuple[float, np.ndarray | None]] = {}
    scores = vectors @ index.query_vector(query)
    for doc_id, score, vector in zip(rows["doc_id"].to_pylist(), scores, vectors, strict=True):
        if float(score) > best.get(doc_id, (-np.inf, None))[0]:
            best[doc_id] = (float(score), vector)
    return [best.get(hit.id, (0.0, None)) for hit in hits]


def lexical_scores(index: Index, query: str, hits: list[Hit]) -> list[float]:
    scores = index.bm25.scores(query)
    position = index.bm25.position
    return [float(scores[position[hit.id]]) if hit.id in position else 0.0 for hit in hits]
