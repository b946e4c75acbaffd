"""Choosing an index's fusion on held-out pseudo-queries (``semsearch tune``), without labels."""

from __future__ import annotations

import numpy as np

from semsearch.adaptation import fusion, pairs
from semsearch.types import DEFAULT_FUSION, Fusion


def queries(count: int) -> list[pairs.PseudoQuery]:
    return [pairs.PseudoQuery(str(i), pairs.QueryKind.TITLE, f"q{i}", f"d{i}") for i in range(count)]


def test_another_fusion_is_chosen_only_when_it_surely_beats_the_default() -> None:
    rng = np.random.default_rng(0)
    size = 120
    # Each query's own document is second in both lists: dense puts a decoy (the next document) just above
    # it, and BM25 an outlier (the one after) far above everything. Min-max scaling squeezes BM25's other
    # scores under the outlier, so the default fusion puts the outlier first; ranks (RRF) are not fooled.
    dense = rng.uniform(0.1, 0.5, size=(size, size))
    lexical = rng.uniform(0.0, 2.0, size=(size, size))
    rows = np.arange(size)
    dense[rows, rows], dense[rows, (rows + 1) % size] = 0.60, 0.62
    lexical[rows, rows], lexical[rows, (rows + 1) % size], lexical[rows, (rows + 2) % size] = 5.0, 1.0, 100.0
    made = fusion.choose(dense, lexical, queries(size), seed=0)
    # compared without feedback, kept with the default's
    assert made.fusion == Fusion(feedback=DEFAULT_FUSION.feedback) and made.gain > 0 and made.confidence >= 0.95
    assert made.scores["rrf"] > made.scores[str(fusion.WITHOUT_FEEDBACK)]
    assert set(made.scores) == {str(c) for c in fusion.candidates()} | {"dense", "bm25"}
    assert f"beats the default {fusion.WITHOUT_FEEDBACK}" in made.reason
    assert made.to_json()["fusion"] == made.fusion.to_json() and made.to_json()["default"] == "convex:0.5:minmax"


def test_the_default_is_kept_when_nothing_beats_it_or_there_are_too_few_queries() -> None:
    size = 60
    same = np.eye(size) + 0.01  # both retrievers find every document first: all candidates tie
    tied = fusion.choose(same, same * 10, queries(size), seed=0)
    assert tied.fusion == DEFAULT_FUSION and tied.gain == 0 and "the default is kept" in tied.reason
    few = fusion.choose(same[:5, :5], same[:5, :5], queries(5), seed=0)
    assert few.fusion == DEFAULT_FUSION and "only 5 pseudo-queries" in few.reason


def test_the_sample_is_at_most_half_the_corpus_and_the_same_every_run() -> None:
    ids = [f"doc{i}" for i in range(30)]
    sample = fusion.sample_of(ids)
    assert len(sample) == 15 and sample == fusion.sample_of(list(reversed(ids))) and set(sample) < set(ids)
    assert len(fusion.sample_of([f"d{i}" for i in range(5000)])) == fusion.SAMPLE
