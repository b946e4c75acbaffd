"""Explanations of documents for a query: each channel's part, the window that scored, its words' shares.

What it costs, for the top 10 of a dense or hybrid search: the 10 scored windows and the query in one
forward pass (one padded batch), the channels' rankings once more (the same calls the search made, so the
ranks are the search's), and for BM25 a read of the score matrix per query term. A BM25 explanation loads
no model. CLS pooling has no exact decomposition and costs integrated gradients instead
(:mod:`semsearch.explain.gradients`).

It reads an index through :class:`Source`, which the facade's ``Index`` is, so this capability never imports
the facade.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from semsearch.chunking import ChunkConfig
from semsearch.errors import DocumentNotFoundError
from semsearch.explain.dense import TokenWindow, document_windows, mean_shares, query_window, unit_mean, word_shares
from semsearch.explain.lexical import Word, query_word_scores, term_contributions, window_weight
from semsearch.explain.snippet import DENSE_MARKS, excerpt, highlights
from semsearch.explain.types import (
    Channel,
    DenseSummary,
    Explanation,
    QueryWord,
    Span,
    TermContribution,
    TokenShare,
)
from semsearch.filters import Filter
from semsearch.manifest import Manifest
from semsearch.ranking import FUSION_DEPTH, RRF_K, Feedback, Others, Ranking, convex_parts
from semsearch.runtime import pad
from semsearch.store import Store, StoredWindow
from semsearch.types import Fusion, FusionMethod, Mode, Pooling

if TYPE_CHECKING:
    from semsearch.bm25 import BM25
    from semsearch.encoder import Encoder

CHANNELS = {Mode.DENSE: ("dense",), Mode.BM25: ("bm25",), Mode.HYBRID: ("dense", "bm25")}
STORED_GAP_NOTE = 1e-4  # re-encoded and stored window cosines further apart than this are pointed out


class Source(Protocol):
    """What an explanation reads of an index (``semsearch.Index`` is one)."""

    directory: Path
    manifest: Manifest
    store: Store

    @property
    def encoder(self) -> Encoder: ...

    @property
    def bm25(self) -> BM25: ...

    def query_vector(self, query: str) -> np.ndarray: ...

    def rank(self, query: str, k: int = 10, mode: Mode | str = Mode.HYBRID, where: Filter | None = None) -> Ranking: ...

    @property
    def fusion(self) -> Fusion: ...

    def fusion_inputs(
        self, query: str, depth: int, where: Filter | None, fusion: Fusion
    ) -> tuple[Ranking, Ranking, Others | None, Feedback | None]: ...


@dataclass(frozen=True)
class Asked:
    """The query, its mode, and each channel's ranks (document id -> 1-based rank) in its top ``depth``."""

    query: str
    mode: Mode
    depth: int
    ranks: dict[str, dict[str, int]]
    parts: dict[str, Callable[[str], float]]  # hybrid: each channel's part of a document's fused score


@dataclass(frozen=True)
class DenseParts:
    """The dense side of one document's explanation."""

    window: StoredWindow
    tokens: list[TokenShare]
    summary: DenseSummary
    query_words: list[TokenShare]  # the query's words with their shares from the query's side
    notes: list[str]


def explain_documents(source: Source, query: str, mode: Mode, docs: Sequence[tuple[str, str]],
                      where: Filter | None = None, depth: int = FUSION_DEPTH,
                      fusion: Fusion | None = None) -> list[Explanation]:  # fmt: skip
    """An explanation of each ``(doc_id, text)`` for ``query`` in ``mode``; ranks are read from each
    channel's top ``depth`` under ``where`` (the depth the search used, so they are its ranks), and a
    hybrid score is split as ``fusion`` (None: the index's own) fuses the lists."""
    if not docs:
        return []
    channels = CHANNELS[mode]
    fusion = source.fusion if fusion is None else fusion
    moved = None
    if mode is Mode.HYBRID:
        dense_list, lexical_list, others, moved = source.fusion_inputs(query, depth, where, fusion)
        ranks = {"dense": _ranks(dense_list), "bm25": _ranks(lexical_list)}
        parts = fusion_parts(dense_list, lexical_list, fusion, others)
    else:
        ranks = {name: _ranks(source.rank(query, depth, Mode(name), where)) for name in channels}
        parts = {}
    asked = Asked(query, mode, depth, ranks, parts)
    stored = source.store.windows([doc_id for doc_id, _ in docs])
    terms = {}
    if "bm25" in channels:
        terms = {doc_id: term_contributions(source.bm25, query, doc_id, text) for doc_id, text in docs}
    dense = dense_parts(source, query, docs, stored, moved) if "dense" in channels else {}
    found = []
    for doc_id, text in docs:
        lexical_query = query_word_scores(source.bm25, query, terms[doc_id]) if doc_id in terms else None
        found.append(_explanation(asked, doc_id, text, stored.get(doc_id, []), terms.get(doc_id),
                                  dense.get(doc_id), lexical_query))  # fmt: skip
    return found


def explain_document(source: Source, query: str, doc_id: str, mode: Mode, where: Filter | None = None,
                     fusion: Fusion | None = None) -> Explanation:  # fmt: skip
    """The explanation of ``doc_id`` for ``query``, whether or not it is among the hits; a clear error when
    the index (the version this handle reads) does not hold it."""
    stored = source.store.documents([doc_id]).get(doc_id)
    if stored is None:
        raise DocumentNotFoundError(
            f"no document {doc_id!r} in {source.directory} (version {source.store.version}): the index never held "
            "that id, or it has been deleted; search again for the current ids"
        )
    return explain_documents(source, query, mode, [(doc_id, stored.text)], where, fusion=fusion)[0]


def dense_parts(source: Source, query: str, docs: Sequence[tuple[str, str]], stored: dict[str, list[StoredWindow]],
                moved: Feedback | None = None) -> dict[str, DenseParts]:  # fmt: skip
    """The dense side of each document's explanation: its best stored window, cut again and encoded with
    the query in one batch, and the shares of the window's and the query's words. With feedback (``moved``)
    the window's shares split the moved query's cosine; on the query's side its words carry q·d / norm and
    the feedback windows the rest (:class:`~semsearch.ranking.Feedback`), exactly."""
    encoder = source.encoder
    target = source.query_vector(query) if moved is None else moved.vector
    tokenizer = encoder.tokenizer
    config = ChunkConfig(source.manifest.max_length, source.manifest.overlap)
    chosen: list[tuple[str, StoredWindow, TokenWindow, list[str]]] = []
    for doc_id, text in docs:
        windows = stored.get(doc_id)
        if not windows:
            continue
        best = max(windows, key=lambda w: float(w.vector @ target))
        cut = document_windows(tokenizer, text, config)
        window = cut[min(best.number, len(cut) - 1)]
        notes = []
        if (window.start, window.end) != (best.start, best.end):
            notes.append(
                f"the window cut again spans {window.start}-{window.end}, the stored one {best.start}-{best.end} "
                "(the tokenizer has changed since indexing)"
            )
        chosen.append((doc_id, best, window, notes))
    if not chosen:
        return {}
    asked = query_window(tokenizer, query, encoder.max_length)
    if encoder.pooling is Pooling.CLS:
        if moved is not None:
            for _, _, _, notes in chosen:
                notes.append("with feedback the query-side shares explain the query's own cosine, not the moved one")
        return {doc_id: _integrated(encoder, text_of(docs, doc_id), asked, query, best, window, target, notes)
                for doc_id, best, window, notes in chosen}  # fmt: skip
    ids, mask = pad([asked.ids] + [window.ids for _, _, window, _ in chosen])
    hidden = encoder.runtime.forward(ids, mask)  # one pass: the query and every window
    query_hidden = hidden[0, : len(asked.ids)]
    found = {}
    for row, (doc_id, best, window, notes) in enumerate(chosen, start=1):
        window_hidden = hidden[row, : len(window.ids)]
        shares, score = mean_shares(window_hidden, target)
        query_shares, query_score = mean_shares(query_hidden, unit_mean(window_hidden))
        from_feedback = None
        if moved is not None:  # moved·d = q·d / norm + weight (towards·d) / norm
            from_feedback = (
                moved.weight * float(moved.towards.astype(np.float64) @ unit_mean(window_hidden)) / moved.norm
            )
            query_shares = query_shares / moved.norm
            query_score = query_score / moved.norm + from_feedback
            notes.append(
                f"feedback moved the query towards the best windows of {', '.join(map(repr, moved.documents))}: "
                f"{from_feedback:+.4f} of the dense score comes from them, the rest from the query's words"
            )
        stored_score = float(best.vector @ target)
        if abs(stored_score - score) > STORED_GAP_NOTE:
            notes.append(
                f"the window encoded now scores {score:.6f}, the stored vector {stored_score:.6f} (the index's "
                "runtime gives slightly different vectors in another batch); the shares sum to the first"
            )
        summary = DenseSummary(
            method="mean",
            score=score,
            stored_score=stored_score,
            shares_sum=float(shares.sum()),
            gap=abs(float(shares.sum()) - score),
            query_score=query_score,
            query_gap=abs(float(query_shares.sum()) + (from_feedback or 0.0) - query_score),
            feedback=from_feedback,
            feedback_documents=moved.documents if moved is not None else (),
        )
        found[doc_id] = DenseParts(
            window=best,
            tokens=word_shares(window, shares, text_of(docs, doc_id), tokenizer.convert_ids_to_tokens(window.ids)),
            summary=summary,
            query_words=word_shares(asked, query_shares, query, tokenizer.convert_ids_to_tokens(asked.ids)),
            notes=notes,
        )
    return found


def _integrated(encoder: Encoder, text: str, asked: TokenWindow, query: str, best: StoredWindow,
                window: TokenWindow, target: np.ndarray, notes: list[str]) -> DenseParts:  # fmt: skip
    """The dense side by integrated gradients (CLS pooling): no exact decomposition, an approximation."""
    from semsearch.explain.gradients import IG_STEPS, integrated_gradients

    model = encoder.torch_model
    names = encoder.tokenizer.convert_ids_to_tokens(window.ids)
    doc = integrated_gradients(model, window.ids, [w is None for w in window.words], target)
    side = integrated_gradients(model, asked.ids, [w is None for w in asked.words], doc.vector)
    notes.append(
        "CLS pooling has no exact decomposition of the score: the shares are integrated gradients against a "
        f"[PAD] baseline, an approximation that sums to score - baseline_score up to the gap ({doc.gap:.2e})"
    )
    summary = DenseSummary(
        method="integrated-gradients",
        score=doc.score,
        stored_score=float(best.vector @ target),
        shares_sum=float(doc.shares.sum()),
        gap=doc.gap,
        query_score=side.score,
        query_gap=side.gap,
        baseline_score=doc.baseline_score,
        steps=IG_STEPS,
    )
    return DenseParts(
        window=best,
        tokens=word_shares(window, doc.shares, text, names),
        summary=summary,
        query_words=word_shares(asked, side.shares, query, encoder.tokenizer.convert_ids_to_tokens(asked.ids)),
        notes=notes,
    )


def text_of(docs: Sequence[tuple[str, str]], doc_id: str) -> str:
    return next(text for found, text in docs if found == doc_id)


def _ranks(ranking: Ranking) -> dict[str, int]:
    return {doc_id: rank for rank, (doc_id, _) in enumerate(ranking, start=1)}


def _explanation(asked: Asked, doc_id: str, text: str, windows: list[StoredWindow],
                 terms: list[TermContribution] | None, dense: DenseParts | None,
                 lexical_query: list[tuple[Word, float]] | None) -> Explanation:  # fmt: skip
    query, mode, ranks = asked.query, asked.mode, asked.ranks
    hybrid = mode is Mode.HYBRID
    channels: dict[str, Channel] = {}
    notes: list[str] = []
    if dense is not None:
        rank = ranks["dense"].get(doc_id)
        channels["dense"] = Channel(dense.summary.stored_score, rank, asked.parts["dense"](doc_id) if hybrid else None)
        notes += dense.notes
    elif "dense" in ranks:
        channels["dense"] = Channel(None, None, asked.parts["dense"](doc_id) if hybrid else None)
        notes.append("the index holds no window of this document")
    if terms is not None:
        rank = ranks["bm25"].get(doc_id)
        channels["bm25"] = Channel(sum(t.score for t in terms), rank, asked.parts["bm25"](doc_id) if hybrid else None)
        notes += lexical_notes(terms)
    window, number = _window(windows, dense, terms, len(text))
    top = [(t.start, t.end) for t in _top(dense.tokens if dense else [])]
    matched = [span for t in terms or [] if t.score > 0 for span in t.spans if window[0] <= span[0] < window[1]]
    marks = highlights(top, matched)
    shown = excerpt(text, window, marks)
    score, carried = _score(mode, channels)
    if hybrid and all(c.rank is None for c in channels.values()):
        notes.append(f"the document is in neither channel's top {asked.depth}: its fused score is the lowest there is")
    return Explanation(
        doc_id=doc_id,
        mode=str(mode),
        score=score,
        window=window,
        window_number=number,
        snippet=text[shown[0] : shown[1]],
        snippet_span=shown,
        highlights=tuple(m for m in marks if shown[0] <= m.start and m.end <= shown[1]),
        channels=channels,
        bm25_terms=tuple(terms or ()),
        dense_tokens=tuple(dense.tokens if dense else ()),
        dense=dense.summary if dense else None,
        query_words=tuple(query_words(dense.query_words if dense else None, lexical_query, query)),
        carried_by=carried,
        notes=tuple(notes),
    )


def lexical_notes(terms: Sequence[TermContribution]) -> list[str]:
    """What to say when BM25 has nothing to explain."""
    if not terms:
        return ["the query has no word BM25 can match (only stop words or symbols): its BM25 score is 0"]
    if all(t.score == 0 for t in terms):
        return ["none of the query's terms occurs in this document: its BM25 score is 0"]
    return []


def query_words(dense: list[TokenShare] | None, lexical: list[tuple[Word, float]] | None,
                query: str) -> list[QueryWord]:  # fmt: skip
    """The query's words with each channel's part (None for a channel not used): the tokenizer's words where
    the dense side ran (a BM25 word's part goes to the tokenizer word it starts in), else the words BM25 counts."""
    if dense is None:
        return [QueryWord(query[w.start : w.end], w.start, w.end, None, score) for w, score in lexical or []]
    parts: list[float | None] = [None if lexical is None or t.special else 0.0 for t in dense]
    for word, score in lexical or []:
        for position, token in enumerate(dense):
            if not token.special and token.start <= word.start < token.end:
                parts[position] = (parts[position] or 0.0) + score
                break
    return [QueryWord(t.text, t.start, t.end, t.score, parts[i], t.special) for i, t in enumerate(dense)]


def _top(tokens: Sequence[TokenShare]) -> list[TokenShare]:
    """The words to mark in the snippet: the largest positive shares among words (punctuation left out)."""
    words = [t for t in tokens if not t.special and t.score > 0 and any(c.isalnum() for c in t.text)]
    return sorted(words, key=lambda t: -t.score)[:DENSE_MARKS]


def _window(windows: list[StoredWindow], dense: DenseParts | None, terms: list[TermContribution] | None,
            length: int) -> tuple[Span, int]:  # fmt: skip
    """The window to show: the dense one that scored, else the one holding most of the BM25 score."""
    if dense is not None:
        return (dense.window.start, dense.window.end), dense.window.number
    if not windows:
        return (0, length), 0
    best = max(windows, key=lambda w: (window_weight(terms or [], (w.start, w.end)), -w.number))
    return (best.start, best.end), best.number


def fusion_parts(
    dense: Ranking, lexical: Ranking, fusion: Fusion, others: Others | None
) -> dict[str, Callable[[str], float]]:
    """Each channel's part of a document's fused score, as :func:`semsearch.ranking.fuse` adds them up:
    RRF 1 / (60 + rank), 0 without a rank; convex :func:`semsearch.ranking.convex_parts`."""
    if fusion.method is FusionMethod.CONVEX:
        dense_part, lexical_part = convex_parts(dense, lexical, fusion.alpha, fusion.normalisation, others)
        return {"dense": dense_part, "bm25": lexical_part}

    def rrf(ranks: dict[str, int]) -> Callable[[str], float]:
        return lambda doc: 1.0 / (RRF_K + ranks[doc]) if doc in ranks else 0.0

    return {"dense": rrf(_ranks(dense)), "bm25": rrf(_ranks(lexical))}


def _score(mode: Mode, channels: dict[str, Channel]) -> tuple[float, str | None]:
    """The mode's score of the document and the channel that carried it."""
    if mode is not Mode.HYBRID:
        channel = channels[CHANNELS[mode][0]]
        return (channel.score or 0.0), CHANNELS[mode][0]
    parts = {name: c.fused or 0.0 for name, c in channels.items()}
    total = sum(parts.values())
    if total == 0:
        return 0.0, None
    dense, lexical = parts.get("dense", 0.0), parts.get("bm25", 0.0)
    return total, "dense" if dense > lexical else "bm25" if lexical > dense else "both"
