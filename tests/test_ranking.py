"""Pure ranking functions: windows to documents, RRF and convex fusion."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.ann import ChunkMatches
from semsearch.ranking import (
    best_per_document,
    best_windows,
    convex_fusion,
    convex_parts,
    fuse,
    moved_query,
    normalised,
    reciprocal_rank_fusion,
    rescore,
    top_documents,
)
from semsearch.types import Fusion, Normalisation


def matches(pairs: list[tuple[str, float]]) -> ChunkMatches:
    return ChunkMatches(
        np.array([p[0] for p in pairs], dtype=object),
        np.array([p[1] for p in pairs], dtype=np.float32),
        np.arange(len(pairs), dtype=np.int64),
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


DENSE = [("a", 0.91), ("b", 0.85), ("c", 0.60), ("e", 0.55)]  # cosines
LEXICAL = [("c", 14.0), ("d", 9.0), ("a", 3.0), ("f", 1.0)]  # BM25, unbounded


@pytest.mark.parametrize("normalisation", list(Normalisation))
def test_convex_fusion_at_alpha_one_is_the_dense_order_and_at_zero_the_bm25_order(normalisation: Normalisation) -> None:
    dense_first = [doc for doc, _ in convex_fusion(DENSE, LEXICAL, 1.0, normalisation)]
    assert dense_first[: len(DENSE)] == [doc for doc, _ in DENSE] and set(dense_first) == set("abcdef")
    lexical_first = [doc for doc, _ in convex_fusion(DENSE, LEXICAL, 0.0, normalisation)]
    assert lexical_first[: len(LEXICAL)] == [doc for doc, _ in LEXICAL] and set(lexical_first) == set("abcdef")


def test_convex_fusion_weights_normalised_scores() -> None:
    fused = dict(convex_fusion(DENSE, LEXICAL, 0.5))
    # min-max: a is dense's best (1) and BM25's third ((3 - 1) / 13); d is missing from dense (its lowest, 0)
    assert fused["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 13)
    assert fused["d"] == pytest.approx(0.5 * 0.0 + 0.5 * 8 / 13)
    assert fused["c"] == pytest.approx(0.5 * (0.60 - 0.55) / 0.36 + 0.5 * 1.0)
    assert next(doc for doc, _ in convex_fusion(DENSE, LEXICAL, 0.5)) == "a"  # 0.577 against c's 0.569
    assert next(doc for doc, _ in convex_fusion(DENSE, LEXICAL, 0.4)) == "c"  # more weight on BM25


def test_complete_convex_fusion_scores_a_missing_document_from_the_other_retriever() -> None:
    """d is not in the dense list; its dense score, known from ``others``, goes on the dense list's scale
    (below its last: under 0 in min-max) instead of the list's floor; a document found nowhere keeps the floor."""
    others = ({"d": 0.37, "f": 0.91}, {"b": 2.0})
    fused = dict(convex_fusion(DENSE, LEXICAL, 0.5, Normalisation.MINMAX, others))
    assert fused["d"] == pytest.approx(0.5 * (0.37 - 0.55) / 0.36 + 0.5 * 8 / 13)
    assert fused["b"] == pytest.approx(0.5 * (0.85 - 0.55) / 0.36 + 0.5 * (2.0 - 1.0) / 13)
    assert fused["e"] == pytest.approx(0.5 * 0.0 + 0.5 * 0.0)  # not in BM25's list, no score known: its floor
    assert fused["f"] == pytest.approx(0.5 * (0.91 - 0.55) / 0.36 + 0.5 * 0.0)
    assert fused["d"] < dict(convex_fusion(DENSE, LEXICAL, 0.5))["d"]  # now it has a (low) dense score
    dense_part, lexical_part = convex_parts(DENSE, LEXICAL, 0.5, Normalisation.MINMAX, others)
    assert all(dense_part(doc) + lexical_part(doc) == score for doc, score in fused.items())
    assert fuse(DENSE, LEXICAL, Fusion.parse("convex:0.5"), others) == convex_fusion(
        DENSE, LEXICAL, 0.5, Normalisation.MINMAX, others
    )
    assert fuse(DENSE, LEXICAL, Fusion(), others) == reciprocal_rank_fusion([DENSE, LEXICAL])  # RRF: ranks only


def test_best_windows_are_each_documents_first_match_in_the_order_asked() -> None:
    found = matches([("a", 0.9), ("b", 0.8), ("a", 0.7), ("c", 0.6)])  # ids 0, 1, 2, 3
    assert list(best_windows(found, ["c", "a", "z"]).items()) == [("c", 3), ("a", 0)]
    assert best_windows(ChunkMatches.empty(), ["a"]) == {}


def test_rescore_orders_the_matches_by_the_new_query_and_keeps_their_ids() -> None:
    found = matches([("a", 0.9), ("b", 0.8), ("c", 0.6)])  # ids 0, 1, 2
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    again = rescore(found, vectors, np.array([0.0, 1.0], dtype=np.float32))
    assert list(again.doc_ids) == ["b", "c", "a"] and list(again.ids) == [1, 2, 0]
    np.testing.assert_allclose(again.scores, [1.0, 0.8, 0.0])
    assert again.scores.dtype == np.float32 and len(rescore(ChunkMatches.empty(), np.zeros((0, 2)), vectors[0])) == 0


def test_moved_query_goes_towards_the_feedback_by_rocchio_and_keeps_unit_length() -> None:
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    feedback = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    moved = moved_query(query, feedback, (), 0.3).vector
    expected = np.array([1.0, 0.15, 0.15]) / np.linalg.norm([1.0, 0.15, 0.15])
    np.testing.assert_allclose(moved, expected, rtol=1e-6)
    assert moved @ feedback[0] > query @ feedback[0] and abs(np.linalg.norm(moved) - 1) < 1e-6
    assert moved_query(query, np.zeros((0, 3), dtype=np.float32), ()).vector is query


def test_normalisation_of_a_list() -> None:
    assert normalised([("x", 5.0), ("y", 3.0), ("z", 1.0)], Normalisation.MINMAX) == {"x": 1.0, "y": 0.5, "z": 0.0}
    z = normalised([("x", 5.0), ("y", 3.0), ("z", 1.0)], Normalisation.ZSCORE)
    assert z["y"] == 0.0 and z["x"] == pytest.approx(-z["z"]) and z["x"] == pytest.approx(1.2247, abs=1e-4)
    assert normalised([("x", 2.0), ("y", 2.0)], Normalisation.MINMAX) == {"x": 1.0, "y": 1.0}  # no spread
    assert normalised([("x", 2.0)], Normalisation.ZSCORE) == {"x": 0.0}
    assert normalised([], Normalisation.MINMAX) == {}


def test_convex_fusion_with_one_list_empty_keeps_the_other_order() -> None:
    """A query BM25 cannot match (only stop words) leaves the dense ranking as it is."""
    assert [doc for doc, _ in convex_fusion(DENSE, [], 0.3)] == [doc for doc, _ in DENSE]
    assert [doc for doc, _ in convex_fusion([], LEXICAL, 0.7)] == [doc for doc, _ in LEXICAL]


def test_fuse_dispatches_on_the_method() -> None:
    assert fuse(DENSE, LEXICAL, Fusion()) == reciprocal_rank_fusion([DENSE, LEXICAL])
    assert fuse(DENSE, LEXICAL, Fusion.parse("convex:0.4:zscore")) == convex_fusion(
        DENSE, LEXICAL, 0.4, Normalisation.ZSCORE
    )
