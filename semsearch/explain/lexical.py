"""BM25, term by term: each query term's exact part of a document's score, and where the document has it.

bm25s keeps the index as a matrix of precomputed scores, one column per term (``retriever.scores``:
``data``/``indices``/``indptr``), and a query's score for a document is the sum of its terms' entries in
that document's row (a term the query repeats counts each time). So reading the entries back gives every
term's contribution exactly, and they add up to the score the search ranked by.

The index keeps stems ("infect"), so the document's words are scanned the way :func:`semsearch.bm25.tokenize`
cuts them (bm25s' pattern of two or more word characters, lower-cased, English stop words dropped, Snowball
stems) to find the surface words behind each term and their character spans.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from semsearch.bm25 import BM25, query_terms
from semsearch.explain.types import Span, TermContribution

WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s' token pattern (what semsearch.bm25.tokenize uses)
_STOPWORDS = frozenset(STOPWORDS_EN)


@dataclass(frozen=True)
class Word:
    """A word BM25 counts: its stem and where it is."""

    stem: str
    start: int
    end: int


def counted_words(bm25: BM25, text: str) -> list[Word]:
    """The words of ``text`` that BM25 counts, in order, with their stems: the same stems, in the same
    order, as ``tokenize([text])[0]`` (tested). bm25s cuts the lower-cased text, and lower-casing can
    lengthen it ("İ" becomes two characters), so spans are mapped back to the text's own characters."""
    lowered = text.lower()
    origin = None if len(lowered) == len(text) else [i for i, c in enumerate(text) for _ in c.lower()]
    found = [(m.group(), m.start(), m.end()) for m in WORD.finditer(lowered) if m.group() not in _STOPWORDS]
    stems = bm25.normalize([word for word, _, _ in found])
    if origin is not None:
        found = [(word, origin[start], origin[end - 1] + 1) for word, start, end in found]
    return [Word(stem, start, end) for stem, (_, start, end) in zip(stems, found, strict=True)]


def stored_score(bm25: BM25, term: str, position: int | None) -> float:
    """The score matrix's entry for ``term`` in the document at ``position`` (0.0 where it has none)."""
    column = bm25.retriever.vocab_dict.get(term) if bm25.doc_ids else None
    if column is None or position is None:
        return 0.0
    scores = bm25.retriever.scores
    begin, end = int(scores["indptr"][column]), int(scores["indptr"][column + 1])
    hit = np.flatnonzero(scores["indices"][begin:end] == position)
    return float(scores["data"][begin + hit[0]]) if len(hit) else 0.0


def term_contributions(bm25: BM25, query: str, doc_id: str, text: str) -> list[TermContribution]:
    """Each distinct term of ``query`` (in query order) with its part of ``doc_id``'s BM25 score and the
    spans of ``text`` where it matched; the parts sum to ``bm25.scores(query)`` for the document."""
    terms = Counter(query_terms(query))
    position = bm25.position.get(doc_id)
    spans: dict[str, list[Span]] = {}
    surface: dict[str, dict[str, None]] = {}
    for word in counted_words(bm25, text):
        if word.stem in terms:
            spans.setdefault(word.stem, []).append((word.start, word.end))
            surface.setdefault(word.stem, {})[text[word.start : word.end]] = None
    return [
        TermContribution(
            term=term,
            score=count * stored_score(bm25, term, position),
            spans=tuple(spans.get(term, ())),
            words=tuple(surface.get(term, {})),
            query_count=count,
        )
        for term, count in terms.items()
    ]


def query_word_scores(bm25: BM25, query: str, terms: Sequence[TermContribution]) -> list[tuple[Word, float]]:
    """Each counted word of the query with its BM25 part: its term's score shared among the query's
    occurrences of that term, so the words' parts also sum to the score."""
    by_term = {t.term: t.score / t.query_count for t in terms}
    return [(word, by_term.get(word.stem, 0.0)) for word in counted_words(bm25, query)]


def window_weight(terms: Sequence[TermContribution], window: Span) -> float:
    """How much of the BM25 score the matches inside ``window`` carry (each occurrence of a term an equal
    part of that term's score): what picks the window to show for a BM25 hit."""
    total = 0.0
    for term in terms:
        if term.spans:
            inside = sum(window[0] <= start and end <= window[1] for start, end in term.spans)
            total += term.score * inside / len(term.spans)
    return total
