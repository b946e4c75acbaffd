"""What an explanation says about one document: plain frozen data, and its JSON.

Kept free of numpy and the model libraries so that :mod:`semsearch.types` can name it (``Hit.explanation``)
and a result can be turned into JSON without loading anything. Offsets are characters of the document's
text (``Hit.text``), or of the query for :class:`QueryWord`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Span = tuple[int, int]  # [start, end) in characters


@dataclass(frozen=True)
class TermContribution:
    """One query term's exact part of a document's BM25 score: the terms' scores add up to the score.

    ``term`` is the stem the index keeps; ``spans`` are the document's words that stem to it (the surface
    words, so "infections" and "infected" both show for "infect"); ``query_count`` is how often the query
    holds it (BM25 counts a repeated query term each time, so its score is that many times one match).
    """

    term: str
    score: float
    spans: tuple[Span, ...]
    words: tuple[str, ...]  # the distinct surface forms, as the document writes them
    query_count: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "score": self.score,
            "spans": [list(span) for span in self.spans],
            "words": list(self.words),
            "query_count": self.query_count,
        }


@dataclass(frozen=True)
class TokenShare:
    """A word of the scored window and its additive share of the dense score.

    A word is the tokenizer's word (its pieces summed). Special tokens ([CLS], [SEP]) are part of the mean
    the vector is made of, so they have shares too; they are marked ``special`` and span no text (start ==
    end, at the window's edge).
    """

    text: str
    start: int
    end: int
    score: float
    special: bool = False
    pieces: int = 1  # word pieces (tokens) of the word in this window

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text, "start": self.start, "end": self.end, "score": self.score}
        data["pieces"] = self.pieces
        if self.special:
            data["special"] = True
        return data


@dataclass(frozen=True)
class QueryWord:
    """A word of the query and what it contributed: its dense share (the same decomposition from the
    query's side) and its BM25 score (None where a channel was not used, 0.0 where it matched nothing)."""

    text: str
    start: int
    end: int
    dense: float | None
    bm25: float | None
    special: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text, "start": self.start, "end": self.end}
        data |= {"dense": self.dense, "bm25": self.bm25}
        if self.special:
            data["special"] = True
        return data


@dataclass(frozen=True)
class Channel:
    """One retriever's view of the document: its own score, its rank in that retriever's list (None past
    the fusion depth, or not matched at all) and, in hybrid mode, its part of the fused score: with RRF
    1 / (60 + rank), 0.0 without a rank; with convex fusion the channel's weight x its score on the list's
    scale (:func:`semsearch.ranking.convex_parts`)."""

    score: float | None
    rank: int | None
    fused: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "rank": self.rank, "fused": self.fused}


@dataclass(frozen=True)
class DenseSummary:
    """How the dense shares were made and what they add up to.

    ``method`` "mean" is exact: with mean pooling cos(q, d) = sum over the window's tokens of
    q·h_t / (n·|mean h|), so ``shares_sum`` equals ``score`` (the cosine of the window as re-encoded now)
    up to float rounding, and ``gap`` is that rounding. ``stored_score`` is the cosine with the vector the
    index stored, which ranked the document; the two differ where the index's runtime gives slightly
    different vectors for another batch (int8-dynamic).

    ``method`` "integrated-gradients" (CLS pooling, where no such identity holds) is an approximation: the
    shares sum to ``score - baseline_score`` up to ``gap``, the completeness gap, with ``steps`` steps.
    """

    method: str
    score: float
    stored_score: float | None
    shares_sum: float
    gap: float
    query_score: float  # what the query-side shares sum to (the same cosine, the query re-encoded)
    query_gap: float
    baseline_score: float | None = None
    steps: int | None = None
    # With feedback: the part of the query side's cosine that comes from the feedback windows (the query's
    # words carry the rest), and whose windows they are.
    feedback: float | None = None
    feedback_documents: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "method": self.method,
            "score": self.score,
            "stored_score": self.stored_score,
            "shares_sum": self.shares_sum,
            "gap": self.gap,
            "query_score": self.query_score,
            "query_gap": self.query_gap,
        }
        if self.baseline_score is not None:
            data |= {"baseline_score": self.baseline_score, "steps": self.steps}
        if self.feedback is not None:
            data |= {"feedback": self.feedback, "feedback_documents": list(self.feedback_documents)}
        return data


@dataclass(frozen=True)
class Highlight:
    """A marked word of the snippet: which channel made it count (``dense``, ``bm25`` or ``both``)."""

    start: int
    end: int
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "kind": self.kind}


@dataclass(frozen=True)
class Explanation:
    """Why one document scores as it does for one query in one mode.

    ``window`` is the window that scored (dense: the best one; BM25 scores the whole text, so there it is
    the window holding most of the matched terms' score); ``snippet`` is a stretch of it
    (``snippet_span``) with ``highlights``; ``channels`` holds each retriever used (``dense``, ``bm25``);
    ``carried_by`` names the channel with the larger part of a hybrid score.
    """

    doc_id: str
    mode: str
    score: float
    window: Span
    window_number: int
    snippet: str
    snippet_span: Span
    highlights: tuple[Highlight, ...]
    channels: dict[str, Channel]
    bm25_terms: tuple[TermContribution, ...]
    dense_tokens: tuple[TokenShare, ...]
    dense: DenseSummary | None
    query_words: tuple[QueryWord, ...]
    carried_by: str | None = None
    notes: tuple[str, ...] = ()

    def top_words(self, count: int) -> list[TokenShare]:
        """The ``count`` words with the largest positive dense shares (special tokens left out), largest first."""
        words = [t for t in self.dense_tokens if not t.special and t.score > 0]
        return sorted(words, key=lambda t: -t.score)[:count]

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "score": self.score,
            "window": list(self.window),
            "window_number": self.window_number,
            "snippet": self.snippet,
            "snippet_span": list(self.snippet_span),
            "highlights": [h.to_json() for h in self.highlights],
            "channels": {name: channel.to_json() for name, channel in self.channels.items()},
            "carried_by": self.carried_by,
            "bm25_terms": [t.to_json() for t in self.bm25_terms],
            "dense_tokens": [t.to_json() for t in self.dense_tokens],
            "dense": None if self.dense is None else self.dense.to_json(),
            "query_words": [w.to_json() for w in self.query_words],
            "notes": list(self.notes),
        }
