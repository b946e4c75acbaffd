"""Pure ranking functions: chunks to documents, and rank fusion.

Nothing here touches storage or models, so each function is tested on plain lists and arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from semsearch.ann import ChunkMatches

Ranking = list[tuple[str, float]]  # (document id, score), best first

RRF_K = 60  # the constant of Cormack et al. (2009); robust across collections
FUSION_DEPTH = 100  # documents taken from each retriever before fusing


def best_per_document(matches: ChunkMatches) -> Ranking:
    """Collapse chunk matches to documents, scoring each by its best chunk; best first."""
    best: dict[str, float] = {}
    for doc_id, score in zip(matches.doc_ids, matches.scores, strict=True):
        if doc_id not in best:  # matches arrive best first, so the first one is the best
            best[doc_id] = float(score)
    return sorted(best.items(), key=lambda item: -item[1])


def top_documents(search_chunks: Callable[[int], ChunkMatches], k: int, chunks_per_doc: float = 2.0) -> Ranking:
    """The ``k`` best documents, asking for more chunks until ``k`` distinct documents appear.

    A long document can fill many of the top chunk slots, so asking for ``k`` chunks may yield
    fewer than ``k`` documents; the request grows until it does or the backend runs dry.
    """
    limit = max(k, int(k * chunks_per_doc) + 8)
    while True:
        matches = search_chunks(limit)
        ranked = best_per_document(matches)
        if len(ranked) >= k or len(matches) < limit:
            return ranked[:k]
        limit *= 4


def reciprocal_rank_fusion(rankings: Sequence[Ranking], k: int = RRF_K) -> Ranking:
    """Fuse rankings by summing 1 / (k + rank); ties keep the order of first appearance."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, (doc_id, _) in enumerate(ranking, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: -item[1])
