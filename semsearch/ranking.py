"""Pure ranking functions: chunks to documents, and the fusion of the dense and BM25 rankings.

Nothing here touches storage or models, so each function is tested on plain lists and arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from semsearch.ann import ChunkMatches
from semsearch.types import Fusion, FusionMethod, Normalisation

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


def normalised(ranking: Ranking, normalisation: Normalisation) -> dict[str, float]:
    """Each listed document's score on a common scale: min-max (the best 1, the last 0; all 1 when every
    score is equal) or z-score (0 for all when every score is equal)."""
    scores = [score for _, score in ranking]
    if not scores:
        return {}
    if normalisation is Normalisation.MINMAX:
        low, high = min(scores), max(scores)
        spread = high - low
        return {doc: (score - low) / spread if spread > 0 else 1.0 for doc, score in ranking}
    mean = sum(scores) / len(scores)
    deviation = (sum((score - mean) ** 2 for score in scores) / len(scores)) ** 0.5
    return {doc: (score - mean) / deviation if deviation > 0 else 0.0 for doc, score in ranking}


def convex_fusion(
    dense: Ranking, lexical: Ranking, alpha: float, normalisation: Normalisation = Normalisation.MINMAX
) -> Ranking:
    """Fuse by ``alpha`` * normalised dense score + (1 - ``alpha``) * normalised BM25 score.

    Scores are normalised within each list (its top :data:`FUSION_DEPTH`), so the weight means the same
    whatever the query's score range. A document missing from one list gets that list's lowest normalised
    score there: it ranked below the list's last. Ties keep the order of the list weighted more (dense at
    0.5), so ``alpha`` 1 gives the dense order and 0 the BM25 order, the other list's documents after.
    """
    weights = ((dense, alpha), (lexical, 1.0 - alpha))
    if alpha < 0.5:
        weights = weights[::-1]
    fused: dict[str, float] = {}
    scaled = [(normalised(ranking, normalisation), weight) for ranking, weight in weights]
    for scores, _ in scaled:
        for doc in scores:
            fused.setdefault(doc, 0.0)
    for scores, weight in scaled:
        floor = min(scores.values(), default=0.0)
        for doc in fused:
            fused[doc] += weight * scores.get(doc, floor)
    return sorted(fused.items(), key=lambda item: -item[1])


def fuse(dense: Ranking, lexical: Ranking, fusion: Fusion) -> Ranking:
    """The hybrid ranking of ``dense`` and ``lexical`` (each best first) by ``fusion``."""
    if fusion.method is FusionMethod.RRF:
        return reciprocal_rank_fusion([dense, lexical])
    return convex_fusion(dense, lexical, fusion.alpha, fusion.normalisation)
