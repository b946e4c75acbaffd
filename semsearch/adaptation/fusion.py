"""Choosing how an index fuses dense and BM25 search, without labelled queries (``semsearch tune``).

Convex fusion's weight suits one collection and not another, and users have no judged queries to tune
it on. So the choice is made as the adaptation gate judges an encoder (:mod:`semsearch.adaptation.gate`):
up to :data:`SAMPLE` of the index's documents each give one pseudo-query (alternately its title and one
of its sentences, :func:`semsearch.adaptation.pairs.gate_queries`) and, with the query taken out, one
document of a search pool. Each candidate fusion of the pool's dense ranking (the index's own encoder,
windows and pooling) and BM25 ranking is scored by nDCG@10 of the query's own document.

The default (:data:`~semsearch.types.DEFAULT_FUSION`) stays unless another candidate beats it on that
evidence: a higher mean, and higher in at least :data:`~semsearch.adaptation.gate.CONFIDENCE` of paired
bootstrap resamples. The
pseudo-queries are lexically easier than real ones (BM25 alone finds their document first for nearly
all of them, benchmarks/RESULTS.md), so the evidence leans towards BM25; the grid keeps the weight in
the middle (:data:`ALPHAS`) for that reason. How close the choice comes to the best weight on labelled
queries is measured in benchmarks/RESULTS.md (quality.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from semsearch.adaptation.gate import (
    CONFIDENCE,
    MIN_QUERIES,
    bootstrap_confidence,
    hybrid_ranks,
    lexical_scores,
    ndcg_at_10,
    own_ranks,
)
from semsearch.adaptation.pairs import PseudoQuery, gate_queries
from semsearch.adaptation.texts import Passage, hash_order
from semsearch.types import DEFAULT_FUSION, Fusion, FusionMethod, Normalisation

if TYPE_CHECKING:
    from semsearch.encoder import Encoder

SAMPLE = 500  # documents that give pseudo-queries (at most half of the corpus)
ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7)  # the dense weights tried, with each normalisation
SEED = 13
WITHOUT_FEEDBACK = replace(DEFAULT_FUSION, feedback=False)  # the default as the candidates are compared


def candidates() -> list[Fusion]:
    """RRF first, then every convex weight of :data:`ALPHAS` with each normalisation."""
    convex = [Fusion(FusionMethod.CONVEX, alpha, norm) for norm in Normalisation for alpha in ALPHAS]
    return [Fusion(), *convex]


@dataclass(frozen=True)
class FusionChoice:
    """The fusion chosen for an index, and the evidence: mean nDCG@10 of each candidate on the pseudo-queries."""

    fusion: Fusion
    queries: int
    query_kinds: dict[str, int]
    scores: dict[str, float]  # str(candidate) -> mean nDCG@10; also "dense" and "bm25" alone
    best: str  # the best candidate other than the default
    gain: float  # its mean minus the default's
    confidence: float  # share of paired bootstrap resamples in which it beats the default
    reason: str
    seed: int = SEED
    method: str = "held-out pseudo-queries"

    def to_json(self) -> dict[str, Any]:
        return {
            "fusion": self.fusion.to_json(),
            "method": self.method,
            "queries": self.queries,
            "query_kinds": self.query_kinds,
            "ndcg_at_10": self.scores,
            "default": str(WITHOUT_FEEDBACK),
            "best_other": self.best,
            "gain_over_default": self.gain,
            "confidence": self.confidence,
            "reason": self.reason,
            "seed": self.seed,
        }


def choose(dense: np.ndarray, lexical: np.ndarray, queries: Sequence[PseudoQuery], seed: int = SEED) -> FusionChoice:
    """The fusion to keep, from each query's dense and BM25 scores over the pool (row i's document i). The
    candidates are compared without feedback (the pool's scores hold no windows to move a query towards);
    the one kept has the default's feedback."""
    kinds: dict[str, int] = {}
    for query in queries:
        kinds[str(query.kind)] = kinds.get(str(query.kind), 0) + 1
    per_query = {str(c): ndcg_at_10(hybrid_ranks(dense, lexical, fusion=c)) for c in candidates()}
    scores = {name: float(values.mean()) if len(values) else 0.0 for name, values in per_query.items()}
    scores["dense"] = float(ndcg_at_10(own_ranks(dense)).mean()) if len(dense) else 0.0
    scores["bm25"] = float(ndcg_at_10(own_ranks(lexical)).mean()) if len(lexical) else 0.0
    default = str(WITHOUT_FEEDBACK)
    best = max((name for name in per_query if name != default), key=lambda name: scores[name])
    gain = scores[best] - scores[default]
    confidence = bootstrap_confidence(per_query[default], per_query[best], seed) if len(per_query[default]) else 0.0
    chosen = WITHOUT_FEEDBACK
    if len(queries) < MIN_QUERIES:
        reason = f"only {len(queries)} pseudo-queries (at least {MIN_QUERIES} needed); the default {default} is kept"
    elif gain <= 0 or confidence < CONFIDENCE:
        reason = (
            f"the best other fusion ({best}) is not surely better than the default {default} on {len(queries)} "
            f"held-out pseudo-queries (nDCG@10 {gain:+.4f}, better in {confidence:.1%} of bootstrap resamples, "
            f"needs {CONFIDENCE:.0%}); the default is kept"
        )
    else:
        chosen = Fusion.parse(best)
        reason = (
            f"{best} beats the default {default} on {len(queries)} held-out pseudo-queries (nDCG@10 {gain:+.4f}, "
            f"better in {confidence:.1%} of bootstrap resamples)"
        )
    return FusionChoice(replace(chosen, feedback=DEFAULT_FUSION.feedback), len(queries), kinds, scores, best, gain,
                        confidence, reason, seed)  # fmt: skip


def pool_scores(encoder: Encoder, queries: Sequence[PseudoQuery], window: int, overlap: int) -> np.ndarray:
    """Cosine of each pseudo-query to each pool document (its best window), the documents cut as the index
    cuts them and encoded by the index's own encoder."""
    documents = [q.positive for q in queries]
    chunks = encoder.chunks(documents, overlap, window)
    query_vectors = encoder.encode([q.query for q in queries])
    window_vectors = encoder.encode_ids([c.input_ids for c in chunks])
    firsts = np.flatnonzero(np.diff([-1] + [c.doc for c in chunks]))  # each document's first window
    return np.maximum.reduceat(query_vectors @ window_vectors.T, firsts, axis=1)


def sample_of(doc_ids: Sequence[str], seed: int = SEED) -> list[str]:
    """The ids whose documents give pseudo-queries: up to :data:`SAMPLE`, at most half of the corpus, in a
    hash order of the seed and the id (the same documents on every run, whatever the order of the corpus)."""
    count = min(SAMPLE, len(doc_ids) // 2)
    return hash_order(doc_ids, seed)[:count]


def choose_for_sample(
    encoder: Encoder, sample: Sequence[Passage], window: int, overlap: int, seed: int = SEED
) -> FusionChoice:
    """The choice on pseudo-queries from the ``sample`` documents, scored with ``encoder``'s windows."""
    queries = gate_queries(sample, seed)
    if len(queries) < MIN_QUERIES:
        return choose(np.zeros((0, 0)), np.zeros((0, 0)), queries, seed)
    return choose(pool_scores(encoder, queries, window, overlap), lexical_scores(queries), queries, seed)
