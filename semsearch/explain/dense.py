"""The dense score, token by token, from the hidden states of one forward pass.

With mean pooling a window's vector is d = m / |m|, m = (1/n) sum_t h_t over its n tokens (special tokens
included, padding not), so for a unit query vector q

    cos(q, d) = q·m / |m| = sum_t  q·h_t / (n·|m|)

and each token has an exact additive share, q·h_t / (n·|m|). Nothing is approximated: the shares are the
score, taken apart. The same holds from the query's side with the window's vector in place of q. The
shares of a word's pieces are summed into the word (the tokenizer's own words, by its ``word_ids``).

A window is cut again from the document exactly as the index cut it (the same tokenizer call as
:func:`semsearch.chunking.split`, with offsets), so its tokens are the ones that were encoded, even where
a window starts inside a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from semsearch.chunking import ChunkConfig
from semsearch.explain.types import Span, TokenShare

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class TokenWindow:
    """The tokens of one window: ids (special tokens included), each token's character span (empty for
    special tokens) and word number (None for special tokens), and the window's span of the text."""

    number: int
    ids: list[int]
    offsets: list[Span]
    words: list[int | None]
    start: int
    end: int


def document_windows(tokenizer: PreTrainedTokenizerBase, text: str, config: ChunkConfig) -> list[TokenWindow]:
    """Every window of ``text`` as the index cut it, with offsets and word numbers."""
    encoded = tokenizer(
        [text],
        max_length=config.max_length,
        truncation=True,
        stride=config.overlap,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    rows = zip(encoded["input_ids"], encoded["offset_mapping"], strict=True)
    return [_window(number, ids, offsets, encoded.word_ids(number)) for number, (ids, offsets) in enumerate(rows)]


def query_window(tokenizer: PreTrainedTokenizerBase, query: str, max_length: int) -> TokenWindow:
    """The query's tokens as the encoder reads them (truncated at ``max_length``), with offsets."""
    encoded = tokenizer(
        [query], max_length=max_length, truncation=True, return_offsets_mapping=True, return_attention_mask=False,
        return_token_type_ids=False,
    )  # fmt: skip
    return _window(0, encoded["input_ids"][0], encoded["offset_mapping"][0], encoded.word_ids(0))


def _window(number: int, ids: Sequence[int], offsets: Sequence[Sequence[int]],
            words: Sequence[int | None]) -> TokenWindow:  # fmt: skip
    spans = [(int(a), int(b)) for a, b in offsets]
    text_spans = [span for span, word in zip(spans, words, strict=True) if word is not None and span[1] > span[0]]
    start, end = (text_spans[0][0], text_spans[-1][1]) if text_spans else (0, 0)
    return TokenWindow(number, list(ids), spans, list(words), start, end)


def mean_shares(hidden: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """Each token's share of cos(target, mean of ``hidden``), and that cosine; ``hidden`` holds the
    window's token vectors only (n x dim, no padding), ``target`` is a unit vector. In float64, so the
    shares sum to the cosine to rounding."""
    vectors = hidden.astype(np.float64)
    aim = target.astype(np.float64)
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        return np.zeros(len(vectors)), 0.0
    return vectors @ aim / (len(vectors) * norm), float(aim @ mean / norm)


def unit_mean(hidden: np.ndarray) -> np.ndarray:
    """The pooled, normalised vector of a window's token vectors (mean pooling), in float64."""
    mean = hidden.astype(np.float64).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def word_shares(window: TokenWindow, shares: np.ndarray, text: str, special_names: Sequence[str]) -> list[TokenShare]:
    """The window's words in order, each with the sum of its pieces' shares; a special token is its own
    entry, at the window's start (before the first word) or end (after the last), named by
    ``special_names`` (the tokenizer's token strings, one per token)."""
    found: list[TokenShare] = []
    current: tuple[int | None, int, int, float, int] | None = None  # word, start, end, share, pieces
    seen_text = False
    for position, (word, (start, end)) in enumerate(zip(window.words, window.offsets, strict=True)):
        share = float(shares[position])
        if word is None:
            if current is not None:
                found.append(_share(text, current))
                current = None
            edge = window.end if seen_text else window.start
            found.append(TokenShare(special_names[position], edge, edge, share, special=True))
            continue
        seen_text = True
        if current is not None and current[0] == word:
            current = (word, current[1], max(current[2], end), current[3] + share, current[4] + 1)
        else:
            if current is not None:
                found.append(_share(text, current))
            current = (word, start, end, share, 1)
    if current is not None:
        found.append(_share(text, current))
    return found


def _share(text: str, word: tuple[int | None, int, int, float, int]) -> TokenShare:
    _, start, end, share, pieces = word
    return TokenShare(text[start:end], start, end, share, pieces=pieces)
