"""Split documents into overlapping token windows that fit the encoder.

A BERT encoder sees at most ``max_length`` tokens; anything beyond is silently cut off by a plain
``model.encode``. Here a long document becomes several windows that overlap by ``overlap`` tokens,
so a passage near a boundary is whole in at least one window. A document's score is later the best
of its windows (see :func:`semsearch.search.best_per_document`).

The windows come from the fast tokenizer itself (``return_overflowing_tokens`` with ``stride``), so
they match exactly what the model will be fed, special tokens included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    chunks: list[Chunk] = []
    previous, number = -1, 0
    for ids, offsets, doc in zip(
        encoded["input_ids"], encoded["offset_mapping"], encoded["overflow_to_sample_mapping"], strict=True
    ):
        number = number + 1 if doc == previous else 0
        previous = doc
        spans = [span for span in offsets if span[1] > span[0]]  # special tokens have empty spans
        start, end = (spans[0][0], spans[-1][1]) if spans else (0, 0)
        chunks.append(Chunk(doc=doc, number=number, input_ids=list(ids), start=start, end=end))
    return chunks
