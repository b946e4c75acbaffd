"""Pure ranking functions: chunks to documents, and the fusion of the dense and BM25 rankings.

Nothing here touches storage or models, so each function is tested on plain lists and arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

from semsearch.ann import ChunkMatches
from semsearch.types import Fusion, FusionMethod, Normalisation

Ranking = list[tuple[str, float]]  # (document id, score), best first

RRF_K = 60  # the constant of Cormack et al. (2009); robust across collections
FUSION_DEPTH = 100  # documents taken from each retriever before fusing
# Pseudo-relevance feedback (``feedback=True``): the query vector moves towards the best windows of the first
# fused ranking's top documents. Chosen on NFCorpus train (benchmarks/RESULTS.md).
FEEDBACK_DOCS = 2
FEEDBACK_WEIGHT = 0.3


def best_per_document(matches: ChunkMatches) -> Ranking:
    """Collapse chunk matches to documents, scoring each by its best chunk; best first (ties in the order of
    their first match)."""
    doc_ids, scores = matches.doc_ids.tolist(), matches.scores.tolist()
    # Matches arrive best first: built from the end, each document's last write is its first (best) match,
    # and documents in the order of their first matches are best first already.
    best = dict(zip(reversed(doc_ids), reversed(scores), strict=True))
    return [(doc_id, best[doc_id]) for doc_id in dict.fromkeys(doc_ids)]


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


def best_windows(matches: ChunkMatches, doc_ids: Sequence[str]) -> dict[str, int]:
    """Each of ``doc_ids`` with the position in ``matches`` (which come best first) of its best chunk, in the
    order of ``doc_ids``; a document without a match is left out."""
    first: dict[str, int] = {}
    for position, doc_id in enumerate(matches.doc_ids):
        first.setdefault(doc_id, position)
    return {doc_id: first[doc_id] for doc_id in doc_ids if doc_id in first}


def rescore(matches: ChunkMatches, vectors: np.ndarray, query: np.ndarray) -> ChunkMatches:
    """``matches`` scored again by ``query`` (``vectors`` are theirs, row for row), best first."""
    scores = (np.asarray(vectors, dtype=np.float32) @ np.asarray(query, dtype=np.float32)).astype(np.float32)
    order = np.argsort(-scores, kind="stable")
    return ChunkMatches(matches.doc_ids[order], scores[order], matches.ids[order])


@dataclass(frozen=True)
class Feedback:
    """What feedback made of a query vector q: ``vector`` = (q + ``weight`` x ``towards``) / ``norm``, where
    ``towards`` is the mean of the best windows of ``documents``. So for any window d,
    vector·d = q·d / norm + weight x (towards·d) / norm exactly: how an explanation splits a moved score."""

    vector: np.ndarray
    towards: np.ndarray
    weight: float
    norm: float
    documents: tuple[str, ...]


def moved_query(
    query: np.ndarray, windows: np.ndarray, documents: Sequence[str], weight: float = FEEDBACK_WEIGHT
) -> Feedback:
    """``query`` plus ``weight`` x the mean of ``windows`` (the best windows of ``documents``; Rocchio 1971),
    unit length again, with its parts; no windows (or a move that cancels the query out) leave the query
    where it is."""
    unmoved = Feedback(query, np.zeros_like(query), 0.0, 1.0, ())
    if len(windows) == 0:
        return unmoved
    towards = np.asarray(windows, dtype=np.float32).mean(axis=0)
    moved = query + weight * towards
    norm = float(np.linalg.norm(moved))
    return Feedback((moved / norm).astype(np.float32), towards, weight, norm, tuple(documents)) if norm > 0 else unmoved


def reciprocal_rank_fusion(rankings: Sequence[Ranking], k: int = RRF_K) -> Ranking:
    """Fuse rankings by summing 1 / (k + rank); ties keep the order of first appearance."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, (doc_id, _) in enumerate(ranking, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: -item[1])


def scale(ranking: Ranking, normalisation: Normalisation) -> Callable[[float], float]:
    """The map that puts scores on ``ranking``'s common scale: min-max (its best 1, its last 0; 1 for all
    when every score is equal) or z-score (0 for all when every score is equal). It applies to a score
    outside the list too (below the last: under 0 in min-max), which complete fusion relies on."""
    scores = [score for _, score in ranking]
    if not scores:
        return lambda score: 0.0
    if normalisation is Normalisation.MINMAX:
        low, high = min(scores), max(scores)
        spread = high - low
        return (lambda score: (score - low) / spread) if spread > 0 else (lambda score: 1.0)
    mean = sum(scores) / len(scores)
    deviation = (sum((score - mean) ** 2 for score in scores) / len(scores)) ** 0.5
    return (lambda score: (score - mean) / deviation) if deviation > 0 else (lambda score: 0.0)


def normalised(ranking: Ranking, normalisation: Normalisation) -> dict[str, float]:
    """Each listed document's score on the list's common scale (:func:`scale`)."""
    scaled = scale(ranking, normalisation)
    return {doc: scaled(score) for doc, score in ranking}


Others = tuple[Mapping[str, float], Mapping[str, float]]  # dense, BM25 scores of documents outside each list


def convex_parts(
    dense: Ranking, lexical: Ranking, alpha: float, normalisation: Normalisation, others: Others | None = None
) -> tuple[Callable[[str], float], Callable[[str], float]]:
    """Each list's part of a document's convex score: the list's weight x the document's score on the
    list's scale; a document outside the list takes its score from ``others``, else the list's lowest."""

    def part(ranking: Ranking, weight: float, known: Mapping[str, float]) -> Callable[[str], float]:
        scaled, listed = scale(ranking, normalisation), dict(ranking)
        floor = scaled(min(listed.values())) if listed else 0.0  # every scale keeps the order

        def of(doc: str) -> float:
            score = listed.get(doc)
            if score is None:
                score = known.get(doc)
            return weight * (floor if score is None else scaled(score))

        return of

    dense_known, lexical_known = others if others is not None else ({}, {})
    return part(dense, alpha, dense_known), part(lexical, 1.0 - alpha, lexical_known)


def convex_fusion(
    dense: Ranking,
    lexical: Ranking,
    alpha: float,
    normalisation: Normalisation = Normalisation.MINMAX,
    others: Others | None = None,
) -> Ranking:
    """Fuse by ``alpha`` * normalised dense score + (1 - ``alpha``) * normalised BM25 score.

    Scores are normalised within each list (its top :data:`FUSION_DEPTH`), so the weight means the same
    whatever the query's score range. A document missing from one list takes its score there from
    ``others`` (complete fusion: each retriever scores the other's documents), put on that list's
    scale; one found in neither gets the list's lowest normalised score, as if it ranked just below the
    list's last. Ties keep the order of the list weighted more (dense at 0.5), so ``alpha`` 1 gives the
    dense order and 0 the BM25 order, the other list's documents after.
    """
    first, second = (dense, lexical) if alpha >= 0.5 else (lexical, dense)
    dense_part, lexical_part = convex_parts(dense, lexical, alpha, normalisation, others)
    fused = {doc: dense_part(doc) + lexical_part(doc) for doc in dict.fromkeys([d for d, _ in first + second])}
    return sorted(fused.items(), key=itemgetter(1), reverse=True)


def fuse(
    dense: Ranking,
    lexical: Ranking,
    fusion: Fusion,
    others: Others | None = None,
) -> Ranking:
    """The hybrid ranking of ``dense`` and ``lexical`` (each best first) by ``fusion``; ``others``: each
    retriever's scores of documents outside its own list (convex fusion only; RRF uses ranks)."""
    if fusion.method is FusionMethod.RRF:
        return reciprocal_rank_fusion([dense, lexical])
    return convex_fusion(dense, lexical, fusion.alpha, fusion.normalisation, others)
