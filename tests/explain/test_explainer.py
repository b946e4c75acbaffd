"""Explained search end to end on a small index: every part adds up to the score it explains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from explain.conftest import DOCS

import semsearch
from semsearch.errors import DocumentNotFoundError

QUERY = "vitamin D and respiratory infection"


def check_dense(e: Any, text: str) -> None:
    d = e.dense
    assert d.method == "mean" and d.gap < 1e-9
    assert sum(t.score for t in e.dense_tokens) == pytest.approx(d.score, abs=1e-9)
    assert d.score == pytest.approx(d.stored_score, abs=1e-4)  # torch vectors stored, the query's runtime now
    # the query's words (and with feedback, the windows it moved towards) carry the same cosine
    assert sum(w.dense for w in e.query_words) + (d.feedback or 0.0) == pytest.approx(d.query_score, abs=1e-9)
    assert d.query_score == pytest.approx(d.score, abs=1e-4)
    for token in e.dense_tokens:
        assert token.special or text[token.start : token.end] == token.text
        assert e.window[0] <= token.start <= token.end <= e.window[1]


def test_hybrid_parts_add_up_to_each_hit_score(explain_index: Path) -> None:
    result = semsearch.open(explain_index).search(QUERY, k=4, explain=True, fusion="rrf")
    assert len(result.hits) == 4
    for hit in result.hits:
        e = hit.explanation
        assert e is not None and e.mode == "hybrid" and e.doc_id == hit.id
        assert e.score == pytest.approx(hit.score, abs=1e-12)
        assert sum(c.fused for c in e.channels.values()) == pytest.approx(hit.score, abs=1e-12)
        dense, bm25 = e.channels["dense"], e.channels["bm25"]
        assert dense.rank is not None and dense.fused == pytest.approx(1 / (60 + dense.rank))
        assert bm25.score == pytest.approx(sum(t.score for t in e.bm25_terms))
        winner = "dense" if dense.fused > bm25.fused else "bm25" if bm25.fused > dense.fused else "both"
        assert e.carried_by == winner
        check_dense(e, hit.text)
        assert sum(w.bm25 or 0.0 for w in e.query_words) == pytest.approx(bm25.score, abs=1e-6)
        for term in e.bm25_terms:
            assert all(hit.text[s:e_].lower().startswith(term.term[:3]) for s, e_ in term.spans)
    assert {h.id for h in result.hits} >= {"vit"}


@pytest.mark.parametrize("fusion", ["convex:0.5", "convex:0.3:zscore"])
def test_convex_hybrid_parts_add_up_to_each_hit_score(explain_index: Path, fusion: str) -> None:
    """With convex fusion a channel's part is its weight x the document's score on that list's scale,
    taken for a document outside the list from the other retriever's complete scores, as the search did."""
    result = semsearch.open(explain_index).search(QUERY, k=4, explain=True, fusion=fusion)
    assert len(result.hits) == 4
    for hit in result.hits:
        e = hit.explanation
        assert e.score == pytest.approx(hit.score, abs=1e-12)
        assert sum(c.fused for c in e.channels.values()) == pytest.approx(hit.score, abs=1e-12)
        dense, bm25 = e.channels["dense"], e.channels["bm25"]
        alpha = float(fusion.split(":")[1])
        assert abs(dense.fused) <= alpha * 10 and abs(bm25.fused) <= (1 - alpha) * 10  # weighted, not 1/(60+rank)
        if fusion == "convex:0.5":  # min-max: the best of each list is 1 before weighting
            assert dense.fused <= alpha + 1e-12 and bm25.fused <= 1 - alpha + 1e-12
    best = result.hits[0].explanation
    assert max(best.channels["dense"].fused, best.channels["bm25"].fused) > 0


def test_feedback_splits_the_moved_query_s_cosine_between_its_words_and_the_feedback(explain_index: Path) -> None:
    """A new index feeds back: the dense part explains the moved query's cosine, the window's words all of it,
    the query's words q·d / norm and the feedback windows the rest, and the search's dense list agrees."""
    index = semsearch.open(explain_index)
    assert index.fusion.feedback
    result = index.search(QUERY, k=4, explain=True)
    dense_list, _, _, moved = index.fusion_inputs(QUERY, 100, None, index.fusion)
    assert moved is not None and len(moved.documents) == 2 and moved.norm > 0
    scores = dict(dense_list)
    for hit in result.hits:
        e = hit.explanation
        assert e is not None and e.score == pytest.approx(hit.score, abs=1e-12)
        assert sum(c.fused for c in e.channels.values()) == pytest.approx(hit.score, abs=1e-12)
        check_dense(e, hit.text)
        assert e.dense.feedback is not None and e.dense.feedback_documents == moved.documents
        assert e.channels["dense"].score == pytest.approx(scores[hit.id], abs=1e-5)
        assert any("feedback moved the query towards" in note for note in e.notes)
        assert hit.explanation.to_json()["dense"]["feedback_documents"] == list(moved.documents)
    plain = index.search(QUERY, k=4, explain=True, feedback=False)
    assert all(h.explanation.dense.feedback is None for h in plain.hits)
    assert [h.id for h in plain.hits] == [doc for doc, _ in index.rank(QUERY, 4, feedback=False)]


def test_dense_and_bm25_modes_explain_their_own_score(explain_index: Path) -> None:
    index = semsearch.open(explain_index)
    dense = index.search(QUERY, k=3, mode="dense", explain=True)
    for rank, hit in enumerate(dense.hits, start=1):
        e = hit.explanation
        assert list(e.channels) == ["dense"] and e.channels["dense"].rank == rank and e.bm25_terms == ()
        assert e.score == pytest.approx(hit.score, abs=1e-6) and e.channels["dense"].fused is None
        check_dense(e, hit.text)
    lexical = index.search(QUERY, k=3, mode="bm25", explain=True)
    for hit in lexical.hits:
        e = hit.explanation
        assert list(e.channels) == ["bm25"] and e.dense is None and e.dense_tokens == ()
        assert e.score == pytest.approx(hit.score, rel=1e-5)
        assert all(w.dense is None for w in e.query_words) and e.query_words


def test_bm25_explanations_load_no_model(explain_index: Path) -> None:
    index = semsearch.open(explain_index)
    index.search("infection", k=2, mode="bm25", explain=True)
    index.explain("infection", "flu", mode="bm25")
    assert "encoder" not in index.__dict__


def test_the_window_shown_is_the_one_that_scored(explain_index: Path) -> None:
    index = semsearch.open(explain_index)
    e = index.explain("vitamin D levels and infection rates", "long", mode="dense")
    windows = index.store.windows(["long"])["long"]
    assert len(windows) > 1
    vector = index.query_vector("vitamin D levels and infection rates")
    best = max(windows, key=lambda w: float(w.vector @ vector))
    assert e.window == (best.start, best.end) and e.window_number == best.number
    assert e.snippet_span[0] >= e.window[0] and e.snippet_span[1] <= e.window[1]
    text = index.get("long").text
    assert e.snippet == text[e.snippet_span[0] : e.snippet_span[1]]
    assert all(e.snippet_span[0] <= h.start and h.end <= e.snippet_span[1] for h in e.highlights)


def test_bm25_window_holds_the_matched_terms(explain_index: Path) -> None:
    e = semsearch.open(explain_index).explain("statins", "long", mode="bm25")
    (term,) = e.bm25_terms
    assert term.spans and all(e.window[0] <= s and t <= e.window[1] for s, t in term.spans)
    assert [h.kind for h in e.highlights] == ["bm25"]


class Counting:
    """A runtime that counts its forward passes and the windows in each."""

    def __init__(self, runtime: Any) -> None:
        self.runtime, self.batches = runtime, []

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.batches.append(len(ids))
        return self.runtime.forward(ids, mask)

    def forward_all(self, batches: Any) -> Any:
        return (self.forward(ids, mask) for ids, mask in batches)


def test_explaining_k_hits_is_one_forward_pass(explain_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = semsearch.open(explain_index)
    index.query_vector(QUERY)  # the search's own encoding, cached as a search caches it
    counting = Counting(index.encoder.runtime)
    monkeypatch.setitem(index.encoder.__dict__, "runtime", counting)
    index.search(QUERY, k=5, explain=True)
    assert counting.batches == [6]  # the query and the 5 windows, together


def test_a_document_outside_a_channel_gets_no_part_of_the_fused_score(explain_index: Path) -> None:
    e = semsearch.open(explain_index).explain("aspirin", "gene", fusion="rrf")
    assert e.channels["bm25"].rank is None and e.channels["bm25"].fused == 0.0
    assert e.channels["dense"].rank is not None and e.score == e.channels["dense"].fused and e.carried_by == "dense"
    assert "none of the query's terms occurs in this document: its BM25 score is 0" in e.notes


def test_under_convex_fusion_a_document_outside_the_bm25_list_gets_its_bm25_score_on_that_scale(
    explain_index: Path,
) -> None:
    """gene matches no query word: BM25 scores it 0, which min-max over BM25's list puts below 0."""
    index = semsearch.open(explain_index)
    query = "vitamin infection older adults"
    lexical = [score for _, score in index.rank(query, 100, "bm25")]
    assert len(lexical) >= 2 and min(lexical) > 0
    e = index.explain(query, "gene")  # the index's own fusion: convex:0.5:minmax, a new index's default
    bm25 = e.channels["bm25"]
    assert bm25.rank is None and bm25.score == 0.0
    assert bm25.fused == pytest.approx(0.5 * (0.0 - min(lexical)) / (max(lexical) - min(lexical))) and bm25.fused < 0
    assert e.score == pytest.approx(e.channels["dense"].fused + bm25.fused, abs=1e-12)


def test_bad_input_is_a_clear_message(explain_index: Path, tmp_path: Path, tiny_model: Path) -> None:
    index = semsearch.open(explain_index)
    with pytest.raises(DocumentNotFoundError, match=r"no document 'nope' in .*: the index never held that id"):
        index.explain(QUERY, "nope")
    stop_words = index.explain("the of and", "vit", mode="bm25")
    assert stop_words.score == 0.0 and stop_words.bm25_terms == () and stop_words.highlights == ()
    assert stop_words.notes == (
        "the query has no word BM25 can match (only stop words or symbols): its BM25 score is 0",
    )
    unmatched = index.explain("zebra", "vit", mode="bm25")
    assert unmatched.score == 0.0 and "none of the query's terms occurs" in unmatched.notes[0]
    assert semsearch.open(explain_index).search("the of", k=3, mode="bm25", explain=True).hits == []
    with pytest.raises(semsearch.SemsearchError, match="query"):
        index.explain("  ", "vit")


def test_a_deleted_document_is_no_longer_explained(tmp_path: Path, tiny_model: Path) -> None:
    index = semsearch.index(DOCS[:3], tmp_path / "idx", model=str(tiny_model), precision="fp32", progress=False)
    old = semsearch.open(tmp_path / "idx")  # a handle reads the version it opened, consistently
    hit = index.search("vitamin", k=1, mode="bm25").hits[0]
    index.delete([hit.id])
    with pytest.raises(DocumentNotFoundError, match=f"no document '{hit.id}'.*or it has been deleted"):
        index.explain("vitamin", hit.id)
    assert old.explain("vitamin", hit.id, mode="bm25").score == pytest.approx(hit.score, rel=1e-5)


def test_json_has_the_pinned_fields(explain_index: Path) -> None:
    data = json.loads(json.dumps(semsearch.open(explain_index).search(QUERY, k=2, explain=True).to_json()))
    for hit in data["hits"]:
        e = hit["explanation"]
        assert {"window", "snippet", "channels", "bm25_terms", "dense_tokens"} <= set(e)
        assert len(e["window"]) == 2 and isinstance(e["snippet"], str) and set(e["channels"]) == {"dense", "bm25"}
        assert all({"term", "score", "spans"} <= set(t) for t in e["bm25_terms"])
        assert all({"text", "start", "end", "score"} <= set(t) for t in e["dense_tokens"])
        assert sum(t["score"] for t in e["dense_tokens"]) == pytest.approx(e["dense"]["score"], abs=1e-9)
        for term in e["bm25_terms"]:
            assert all(hit["text"][s:t].lower()[:3] == term["term"][:3] for s, t in term["spans"])
    plain = semsearch.open(explain_index).search(QUERY, k=1).to_json()
    assert "explanation" not in plain["hits"][0]


def test_cls_pooling_is_explained_by_integrated_gradients(cls_index: Path) -> None:
    index = semsearch.open(cls_index)
    e = index.explain(QUERY, "vit", mode="dense")
    d = e.dense
    assert d.method == "integrated-gradients" and d.steps and d.baseline_score is not None
    assert d.score == pytest.approx(d.stored_score, abs=1e-4)
    assert d.gap == pytest.approx(abs(d.shares_sum - (d.score - d.baseline_score)), abs=1e-9)
    assert sum(t.score for t in e.dense_tokens) == pytest.approx(d.shares_sum, abs=1e-9)
    assert any("CLS pooling has no exact decomposition" in note for note in e.notes)
