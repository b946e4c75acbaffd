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
from semsearch.chunking import DEFAULT_OVERLAP, DEFAULT_WINDOW, ChunkConfig, default_window, split
from semsearch.fsutil import atomic_write_text

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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ranks(model: SentenceTransformer, queries: Sequence[PseudoQuery], progress: bool = False) -> np.ndarray:
    """1-based rank of each query's own document among all gate documents (exact cosine search).

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
    scores = np.maximum.reduceat(query_vectors @ window_vectors.T, firsts, axis=1)
    own = np.diag(scores)
    return 1 + (scores > own[:, None]).sum(axis=1)


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


def judge(base_rank: np.ndarray, adapted_rank: np.ndarray, queries: Sequence[PseudoQuery], seed: int) -> GateVerdict:
    """Compare the two encoders' ranks on the same queries and decide."""
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
    )


def write_report(directory: Path, report: dict[str, Any], summary: str) -> None:
    atomic_write_text(directory / "adapt_report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    atomic_write_text(directory / "adapt_report.md", summary)
