"""The evaluation gate: is the adapted encoder better than the base on this corpus? If not, keep the base.

The gate's documents were kept out of both training stages. Each gives one pseudo-query
(alternately its title and one of its sentences, see :func:`semsearch.adaptation.pairs.gate_queries`)
and, with the query taken out, one document of the search pool. Both encoders rank the whole pool
for every query (exact cosine search over the index's windows, mean pooling as the model says);
the query's own document is the one relevant answer, so nDCG@10 is 1/log2(1 + rank) when it is in
the top 10.

The adapted encoder is promoted only when its mean nDCG@10 is higher **and** the gain is unlikely
to be noise: in at least 95% of paired bootstrap resamples of the queries the adapted mean is
higher. With fewer than :data:`MIN_QUERIES` queries the gate never promotes (it cannot tell).

Users search in hybrid mode by default, and a better dense ranking can make the fused one worse (BM25
already finds what the adapted encoder learnt to find). So the gate also fuses each encoder's ranking
with BM25 over the same pool, as a new index fuses them (:data:`~semsearch.types.DEFAULT_FUSION`, complete
convex; its feedback left out, since the pool's scores hold no windows to move a query towards), and holds
the hybrid ranking to the same test: the adapted encoder must be better there too, in at least
95% of the resamples. A hybrid gain that is merely not negative is not enough: on SciFact the adapted encoder
gained +0.0015 in hybrid on the pseudo-queries (the BM25 half already finds most of them) and lost 0.0045
on the real test queries (benchmarks/RESULTS.md, adapt).
This is a one-sided test on pseudo-queries, which resemble the training queries: it guards
against harm (a model that got worse at finding held-out documents is never promoted), it does
not prove a gain on real user queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sentence_transformers import SentenceTransformer

from semsearch.adaptation.pairs import PseudoQuery
from semsearch.bm25 import BM25
from semsearch.chunking import DEFAULT_OVERLAP, DEFAULT_WINDOW, ChunkConfig, default_window, split
from semsearch.fsutil import atomic_write_text
from semsearch.ranking import FUSION_DEPTH, fuse
from semsearch.types import Fusion, FusionMethod

MIN_QUERIES = 20
CONFIDENCE = 0.95
BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class GateScores:
    """Means over the gate's queries."""

    ndcg_at_10: float
    mrr_at_10: float
    recall_at_10: float


@dataclass(frozen=True)
class GateVerdict:
    queries: int
    pool: int
    query_kinds: dict[str, int]
    base: GateScores
    adapted: GateScores
    gain: float  # adapted minus base nDCG@10
    confidence: float  # share of paired bootstrap resamples in which the adapted encoder is better
    promoted: bool
    reason: str
    hybrid_base: GateScores | None = None  # the same, each encoder's ranking fused with BM25
    hybrid_adapted: GateScores | None = None
    hybrid_gain: float | None = None
    hybrid_confidence: float | None = None  # share of bootstrap resamples in which hybrid is better

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ranks(model: SentenceTransformer, queries: Sequence[PseudoQuery], progress: bool = False) -> np.ndarray:
    """1-based rank of each query's own document among all gate documents (exact cosine search)."""
    return own_ranks(dense_scores(model, queries, progress))


def own_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each query's own document (row i's document i) in its row of ``scores``."""
    own = np.diag(scores)
    return 1 + (scores > own[:, None]).sum(axis=1)


def dense_scores(model: SentenceTransformer, queries: Sequence[PseudoQuery], progress: bool = False) -> np.ndarray:
    """Cosine of each query to each gate document (its best window): one row per query.

    Documents are cut as a new index cuts them (windows of :data:`~semsearch.chunking.DEFAULT_WINDOW`
    tokens, or the model's whole length if shorter) and score as their best window, so the gate
    judges the vectors the index will hold.
    """
    window = default_window(model.max_seq_length or DEFAULT_WINDOW)
    documents = [q.positive for q in queries]
    chunks = split(model.tokenizer, documents, ChunkConfig(window, DEFAULT_OVERLAP))
    texts = [documents[c.doc][c.start : c.end] for c in chunks]
    query_vectors = model.encode([q.query for q in queries], normalize_embeddings=True, show_progress_bar=progress)
    window_vectors = model.encode(texts, normalize_embeddings=True, show_progress_bar=progress)
    firsts = np.flatnonzero(np.diff([-1] + [c.doc for c in chunks]))  # each document's first window
    return np.maximum.reduceat(query_vectors @ window_vectors.T, firsts, axis=1)


def lexical_scores(queries: Sequence[PseudoQuery]) -> np.ndarray:
    """BM25 score of each query against each gate document, as the index scores documents, except that a
    title is not counted again (:data:`semsearch.bm25.TITLE_WEIGHT`): a pseudo-query's document has lost
    the title or sentence that became the query."""
    ids = [str(i) for i in range(len(queries))]
    index = BM25.build(ids, [q.positive for q in queries])
    return np.stack([index.scores(q.query) for q in queries]) if queries else np.zeros((0, 0))


def hybrid_ranks(
    dense: np.ndarray, lexical: np.ndarray, depth: int = FUSION_DEPTH, fusion: Fusion | None = None
) -> np.ndarray:
    """1-based rank of each query's own document in the ``fusion`` of its dense and BM25 top ``depth``
    (as the engine fuses them, convex fusion with each retriever's scores of the other's list; None: RRF);
    a document in neither list ranks past both."""
    fusion = fusion or Fusion()
    found = []
    for row in range(len(dense)):
        dense_top, lexical_top = top_of(dense[row], depth, positive_only=False), top_of(lexical[row], depth, True)
        others = None
        if fusion.method is FusionMethod.CONVEX:  # complete fusion, as the engine's: each scores the other's list
            others = (
                {doc: float(dense[row][int(doc)]) for doc, _ in lexical_top},
                {doc: float(lexical[row][int(doc)]) for doc, _ in dense_top},
            )
        fused = [doc for doc, _ in fuse(dense_top, lexical_top, fusion, others)]
        found.append(fused.index(str(row)) + 1 if str(row) in fused else 2 * depth + 1)
    return np.array(found)


def ndcg_at_10(rank: np.ndarray) -> np.ndarray:
    return np.where(rank <= 10, 1.0 / np.log2(rank + 1.0), 0.0)


def summarise(rank: np.ndarray) -> GateScores:
    return GateScores(
        ndcg_at_10=float(ndcg_at_10(rank).mean()),
        mrr_at_10=float(np.where(rank <= 10, 1.0 / rank, 0.0).mean()),
        recall_at_10=float((rank <= 10).mean()),
    )


def bootstrap_confidence(base: np.ndarray, adapted: np.ndarray, seed: int) -> float:
    """Share of paired resamples of the queries in which the adapted mean beats the base mean."""
    rng = np.random.default_rng(seed)
    difference = adapted - base
    samples = rng.integers(0, len(difference), size=(BOOTSTRAP_SAMPLES, len(difference)))
    return float((difference[samples].mean(axis=1) > 0).mean())


def top_of(scores: np.ndarray, depth: int, positive_only: bool) -> list[tuple[str, float]]:
    """The ``depth`` best documents of one row, as (position, score); BM25 lists only matching documents."""
    order = np.argsort(-scores, kind="stable")[:depth]
    return [(str(i), float(scores[i])) for i in order if not positive_only or scores[i] > 0]


def judge(base_rank: np.ndarray, adapted_rank: np.ndarray, queries: Sequence[PseudoQuery], seed: int,
          hybrid: tuple[np.ndarray, np.ndarray] | None = None) -> GateVerdict:  # fmt: skip
    """Compare the two encoders' ranks on the same queries and decide; ``hybrid`` holds the base's and the
    adapted encoder's ranks in hybrid search, which the adapted one must not make worse."""
    base_ndcg, adapted_ndcg = ndcg_at_10(base_rank), ndcg_at_10(adapted_rank)
    gain = float(adapted_ndcg.mean() - base_ndcg.mean())
    confidence = bootstrap_confidence(base_ndcg, adapted_ndcg, seed) if len(queries) else 0.0
    if len(queries) < MIN_QUERIES:
        promoted = False
        reason = (
            f"only {len(queries)} held-out pseudo-queries (at least {MIN_QUERIES} are needed to tell a gain "
            "from noise); the corpus is too small to show that adaptation helps, so the base model is kept"
        )
    elif gain <= 0:
        promoted = False
        reason = (
            f"the adapted encoder is not better on the held-out pseudo-queries (nDCG@10 {gain:+.4f}); "
            "the base model is kept"
        )
    elif confidence < CONFIDENCE:
        promoted = False
        reason = (
            f"the adapted encoder's gain (nDCG@10 {gain:+.4f}) could be noise: it is better in only "
            f"{confidence:.1%} of bootstrap resamples (needs {CONFIDENCE:.0%}); the base model is kept"
        )
    else:
        promoted = True
        reason = (
            f"the adapted encoder is better on the held-out pseudo-queries (nDCG@10 {gain:+.4f}, better in "
            f"{confidence:.0%} of bootstrap resamples); it is promoted"
        )
    hybrid_gain = hybrid_confidence = None
    if hybrid is not None:
        hybrid_base, hybrid_adapted = ndcg_at_10(hybrid[0]), ndcg_at_10(hybrid[1])
        hybrid_gain = float(hybrid_adapted.mean() - hybrid_base.mean())
        hybrid_confidence = bootstrap_confidence(hybrid_base, hybrid_adapted, seed) if len(queries) else 0.0
        if promoted and (hybrid_gain <= 0 or hybrid_confidence < CONFIDENCE):
            promoted = False
            reason = (
                f"the adapted encoder is better in dense search (nDCG@10 {gain:+.4f}) but not surely better in "
                f"hybrid search, which is what the index is searched with by default (nDCG@10 {hybrid_gain:+.4f}, "
                f"better in {hybrid_confidence:.1%} of bootstrap resamples; needs {CONFIDENCE:.0%}); the base "
                "model is kept"
            )
        else:
            reason += f"; hybrid search: nDCG@10 {hybrid_gain:+.4f} (better in {hybrid_confidence:.0%} of resamples)"
    kinds: dict[str, int] = {}
    for query in queries:
        kinds[str(query.kind)] = kinds.get(str(query.kind), 0) + 1
    return GateVerdict(
        queries=len(queries),
        pool=len(queries),
        query_kinds=kinds,
        base=summarise(base_rank),
        adapted=summarise(adapted_rank),
        gain=gain,
        confidence=confidence,
        promoted=promoted,
        reason=reason,
        hybrid_base=summarise(hybrid[0]) if hybrid is not None else None,
        hybrid_adapted=summarise(hybrid[1]) if hybrid is not None else None,
        hybrid_gain=hybrid_gain,
        hybrid_confidence=hybrid_confidence,
    )


def write_report(directory: Path, report: dict[str, Any], summary: str) -> None:
    atomic_write_text(directory / "adapt_report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    atomic_write_text(directory / "adapt_report.md", summary)
