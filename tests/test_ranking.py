"""Pure ranking functions."""

from __future__ import annotations

import numpy as np

from semsearch.ann import ChunkMatches
from semsearch.ranking import best_per_document, reciprocal_rank_fusion, top_documents


def matches(pairs: list[tuple[str, float]]) -> ChunkMatches:
    return ChunkMatches(
        np.array([p[0] for p in pairs], dtype=object), np.array([p[1] for p in pairs], dtype=np.float32)
    )


def test_best_chunk_scores_the_document() -> None:
    ranked = best_per_document(matches([("a", 0.9), ("a", 0.8), ("b", 0.7), ("c", 0.6), ("b", 0.5)]))
    assert [d for d, _ in ranked] == ["a", "b", "c"]
    assert ranked[0][1] == np.float32(0.9)


def test_top_documents_asks_for_more_chunks_until_k_documents() -> None:
    chunks = [("long", 1.0 - i * 0.001) for i in range(100)] + [("x", 0.5), ("y", 0.4), ("z", 0.3)]
    asked: list[int] = []

    def search(limit: int) -> ChunkMatches:
        asked.append(limit)
        return matches(chunks[:limit])

    ranked = top_documents(search, k=3)
    assert [d for d, _ in ranked] == ["long", "x", "y"]
    assert len(asked) > 1 and asked == sorted(asked)


def test_top_documents_stops_when_the_backend_runs_dry() -> None:
    ranked = top_documents(lambda limit: matches([("a", 1.0), ("a", 0.5)]), k=10)
    assert ranked == [("a", 1.0)]


def test_reciprocal_rank_fusion() -> None:
    fused = reciprocal_rank_fusion([[("a", 9), ("b", 8), ("c", 7)], [("c", 3), ("a", 2), ("d", 1)]], k=60)
    ids = [d for d, _ in fused]
    assert ids[0] == "a"  # ranks 1 and 2
    assert ids[1] == "c"  # ranks 3 and 1
    assert set(ids) == {"a", "b", "c", "d"}
    assert abs(dict(fused)["a"] - (1 / 61 + 1 / 62)) < 1e-12
