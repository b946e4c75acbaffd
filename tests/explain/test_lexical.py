"""BM25 term by term: the parts sum to the score, and the spans are the document's own words."""

from __future__ import annotations

import pytest

from semsearch.bm25 import BM25, tokenize
from semsearch.explain.lexical import counted_words, query_word_scores, term_contributions, window_weight

TEXTS = {
    "a": "Infections and infected cells: the INFECTION spread, and vitamin D did not stop it.",
    "b": "Vitamin supplements; vitamins for the elderly. Nothing about germs.",
    "c": "Heart attack risk with aspirin.",
    "d": "Naïve Zürich cafés serve straße-side coffee, İstanbul too.",
}


@pytest.fixture(scope="module")
def bm25() -> BM25:
    return BM25.build(list(TEXTS), list(TEXTS.values()))


@pytest.mark.parametrize("doc_id", list(TEXTS))
def test_counted_words_are_exactly_what_bm25_indexes(bm25: BM25, doc_id: str) -> None:
    words = counted_words(bm25, TEXTS[doc_id])
    assert [w.stem for w in words] == tokenize([TEXTS[doc_id]])[0]
    for word in words:  # each span is a word of the text that lower-cases and stems to the stem
        assert bm25.normalize([TEXTS[doc_id][word.start : word.end]]) == [word.stem]


@pytest.mark.parametrize(
    "query", ["infection and vitamin", "vitamins vitamin", "infected heart", "the of", "unknownword vitamin"]
)
def test_term_parts_sum_to_the_bm25_score(bm25: BM25, query: str) -> None:
    scores = bm25.scores(query)
    for doc_id, text in TEXTS.items():
        terms = term_contributions(bm25, query, doc_id, text)
        assert sum(t.score for t in terms) == pytest.approx(float(scores[bm25.position[doc_id]]), rel=1e-5, abs=1e-6)


def test_spans_are_the_surface_words_behind_a_stem(bm25: BM25) -> None:
    (infect,) = term_contributions(bm25, "infection", "a", TEXTS["a"])
    assert infect.term == "infect" and infect.score > 0
    assert [TEXTS["a"][s:e] for s, e in infect.spans] == ["Infections", "infected", "INFECTION"]
    assert infect.words == ("Infections", "infected", "INFECTION")


def test_a_repeated_query_term_counts_each_time(bm25: BM25) -> None:
    once = term_contributions(bm25, "vitamin", "b", TEXTS["b"])[0]
    twice = term_contributions(bm25, "vitamin vitamins", "b", TEXTS["b"])
    assert len(twice) == 1 and twice[0].query_count == 2 and twice[0].score == pytest.approx(2 * once.score)
    words = query_word_scores(bm25, "vitamin vitamins", twice)
    assert [score for _, score in words] == pytest.approx([once.score, once.score])


def test_no_match_and_stop_words_only(bm25: BM25) -> None:
    assert term_contributions(bm25, "the of and", "a", TEXTS["a"]) == []
    (heart,) = term_contributions(bm25, "heart", "a", TEXTS["a"])
    assert heart.score == 0.0 and heart.spans == () and heart.words == ()
    (unknown,) = term_contributions(bm25, "zebra", "a", TEXTS["a"])
    assert unknown.score == 0.0


def test_window_weight_counts_the_matches_inside(bm25: BM25) -> None:
    terms = term_contributions(bm25, "infection", "a", TEXTS["a"])
    total = terms[0].score
    assert window_weight(terms, (0, len(TEXTS["a"]))) == pytest.approx(total)
    assert window_weight(terms, (0, 11)) == pytest.approx(total / 3)  # "Infections" only
    assert window_weight(terms, (60, 80)) == 0.0
