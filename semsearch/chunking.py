"""Split documents into overlapping token windows that fit the encoder.

A BERT encoder sees at most ``max_length`` tokens; anything beyond is silently cut off by a plain
``model.encode``. Here a long document becomes several windows that overlap by ``overlap`` tokens,
so a passage near a boundary is whole in at least one window. A document's score is later the best
of its windows (see :func:`semsearch.search.best_per_document`).

The windows come from the fast tokenizer itself (truncation with a ``stride``, its overflowing parts), so
they match exactly what the model will be fed, special tokens included. :func:`split` takes transformers'
tokenizer; :func:`split_fast` the ``tokenizers`` library's, which gives the same windows (tested) without
importing transformers, 3 s of an index run's start (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tokenizers
    from transformers import PreTrainedTokenizerBase

# Tokens per document window of a new index (capped by what the model reads). all-MiniLM-L6-v2 reads 256
# tokens but was trained on 128-token texts, and its vectors of 128-token windows find documents better
# than 256- or 64-token ones (benchmarks/RESULTS.md, windows).
DEFAULT_WINDOW = 128
DEFAULT_OVERLAP = 32  # tokens shared by consecutive windows of a long document


def default_window(model_reads: int) -> int:
    """Tokens per window of a new index, and of a classifier's training texts, for a model that reads
    ``model_reads`` tokens: the same, so a classifier labels an index from the vectors it stores."""
    return min(DEFAULT_WINDOW, model_reads)


@dataclass(frozen=True)
class ChunkConfig:
    """How documents are cut. Recorded in the index manifest: changing it changes every vector."""

    max_length: int  # tokens per window, special tokens included
    overlap: int  # tokens shared by consecutive windows

    def __post_init__(self) -> None:
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {self.max_length}")
        if not 0 <= self.overlap <= (self.max_length - 2) // 2:
            raise ValueError(f"overlap must be between 0 and half a window, got {self.overlap}")


@dataclass(frozen=True)
class Chunk:
    """One window of one document: ``doc`` indexes the input list, ``start``/``end`` are characters."""

    doc: int
    number: int
    input_ids: list[int]
    start: int
    end: int


def split(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], config: ChunkConfig) -> list[Chunk]:
    """Token windows for every text, in input order; every text yields at least one window."""
    if not texts:
        return []
    encoded = tokenizer(
        list(texts),
        max_length=config.max_length,
        truncation=True,
        stride=config.overlap,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return _windows(zip(encoded["input_ids"], encoded["offset_mapping"], encoded["overflow_to_sample_mapping"],
                        strict=True))  # fmt: skip


def window_tokenizer(path: str, config: ChunkConfig) -> tokenizers.Tokenizer:
    """The ``tokenizers`` library's tokenizer in ``path`` (a ``tokenizer.json``) set to cut as ``config`` says:
    what transformers sets on the same tokenizer for :func:`split`."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=config.max_length, stride=config.overlap)
    return tokenizer


def split_fast(tokenizer: tokenizers.Tokenizer, texts: Sequence[str]) -> list[Chunk]:
    """:func:`split` by a tokenizer from :func:`window_tokenizer` (its config set there)."""
    if not texts:
        return []
    parts = ((part, doc) for doc, encoding in enumerate(tokenizer.encode_batch(list(texts)))
             for part in (encoding, *encoding.overflowing))  # fmt: skip
    return _windows((part.ids, part.offsets, doc) for part, doc in parts)


def _windows(parts: Iterable[tuple[Sequence[int], Sequence[tuple[int, int]], int]]) -> list[Chunk]:
    """Chunks of the tokenizer's windows: (ids, character offsets, document) each, a document's in order."""
    chunks: list[Chunk] = []
    previous, number = -1, 0
    for ids, offsets, doc in parts:
        number = number + 1 if doc == previous else 0
        previous = doc
        spans = [span for span in offsets if span[1] > span[0]]  # special tokens have empty spans
        start, end = (spans[0][0], spans[-1][1]) if spans else (0, 0)
        chunks.append(Chunk(doc=doc, number=number, input_ids=list(ids), start=start, end=end))
    return chunks
