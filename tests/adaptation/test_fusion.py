"""Choosing an index's fusion on held-out pseudo-queries (``semsearch tune``), without labels."""

from __future__ import annotations

import numpy as np

from semsearch.adaptation import fusion, pairs
from semsearch.types import Fusion, FusionMethod


def queries(count: int) -> list[pairs.PseudoQuery]:
    return [pairs.PseudoQuery(str(i), pairs.QueryKind.TITLE, f"q{i}", f"d{i}") for i in range(count)]


def test_a_convex_fusion_is_chosen_only_when_it_surely_beats_rrf() -> None:
    rng = np.random.default_rng(0)
    size = 120
    # Dense finds every query's own document first by a wide margin; BM25 ranks it about 20th,
    # behind look-alikes that dense scores close to the top. RRF lets those pass; a dense weight does not.
    dense = rng.uniform(0.3, 0.5, size=(size, size))
    np.fill_diagonal(dense, 0.95)
    lexical = rng.uniform(0.0, 10.0, size=(size, size))
    np.fill_diagonal(lexical, 8.5)
    made = fusion.choose(dense, lexical, queries(size), seed=0)
    assert made.fusion.method is FusionMethod.CONVEX and made.gain > 0 and made.confidence >= 0.95
    assert made.scores[str(made.fusion)] > made.scores["rrf"] and made.scores["dense"] == 1.0
    assert set(made.scores) == {str(c) for c in fusion.candidates()} | {"dense", "bm25"}
    assert "beats reciprocal rank fusion" in made.reason and made.to_json()["fusion"] == made.fusion.to_json()


def test_rrf_is_kept_when_nothing_beats_it_or_there_are_too_few_queries() -> None:
    size = 60
    same = np.eye(size) + 0.01  # both retrievers find every document first: all candidates tie with RRF
    tied = fusion.choose(same, same * 10, queries(size), seed=0)
    assert tied.fusion == Fusion() and tied.gain == 0 and "reciprocal rank fusion is kept" in tied.reason
    few = fusion.choose(same[:5, :5], same[:5, :5], queries(5), seed=0)
    assert few.fusion == Fusion() and "only 5 pseudo-queries" in few.reason


def test_the_sample_is_at_most_half_the_corpus_and_the_same_every_run() -> None:
    ids = [f"doc{i}" for i in range(30)]
    sample = fusion.sample_of(ids)
    assert len(sample) == 15 and sample == fusion.sample_of(list(reversed(ids))) and set(sample) < set(ids)
    assert len(fusion.sample_of([f"d{i}" for i in range(5000)])) == fusion.SAMPLE
