"""What the encoder makes of texts, computed once and reused by every head fitted on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from semsearch.chunking import DEFAULT_OVERLAP, default_window
from semsearch.classify.options import WindowPooling
from semsearch.errors import ClassifierError

if TYPE_CHECKING:
    import torch

    from semsearch.encoder import Encoder


@dataclass
class Encoded:
    """What the encoder made of a list of texts, computed once and reused by every head fitted on them.

    ``vectors`` are the frozen encoder's pooled, normalised window vectors (``doc_index`` says which
    text each belongs to; with ``first_only`` there is exactly one per text, its first window).
    ``states`` (fine-tuning only) hold, per text, the first window's hidden states after the frozen
    bottom layers, in bfloat16 to halve their memory. ``texts`` are the texts themselves, which a
    hybrid head reads beside the vectors.
    """

    doc_index: np.ndarray
    vectors: np.ndarray
    count: int
    states: list[torch.Tensor] | None = None
    state_layer: int = -1  # how many layers produced ``states``
    texts: list[str] | None = None
    window: int = 0  # tokens per window the texts were cut into (0: not said; taken as the default for the head)

    def pooled(self, window: WindowPooling) -> np.ndarray:
        """One vector per text: its first window's, or the re-normalised mean of its windows'."""
        return pool_windows(self.doc_index, self.vectors, self.count, window)


def pool_windows(
    doc_index: Sequence[int] | np.ndarray,
    vectors: np.ndarray,
    count: int,
    window: WindowPooling,
    numbers: Sequence[int] | None = None,
) -> np.ndarray:
    """Per-document features from per-window vectors. ``numbers`` (each window's number within its
    document) finds the first windows; without it, each document's first-listed window is taken."""
    doc_index = np.asarray(doc_index)
    if window is WindowPooling.FIRST:
        first = np.full(count, -1)
        if numbers is not None:
            rows = np.flatnonzero(np.asarray(numbers) == 0)
            first[doc_index[rows]] = rows
        else:
            for row in range(len(doc_index) - 1, -1, -1):  # keep each document's first-listed window
                first[doc_index[row]] = row
        if (first < 0).any():
            raise ClassifierError("a document has no first window")
        return vectors[first]
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, doc_index, vectors)
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return sums.astype(np.float32)


def encode_texts(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    first_only: bool,
    overlap: int = DEFAULT_OVERLAP,
    window: int | None = None,
    state_layer: int | None = None,
    progress: bool = True,
) -> Encoded:
    """Encode ``texts`` once: window vectors for a frozen head and, if ``state_layer`` is given, the
    first windows' hidden states after that many layers (the cache that fine-tuning trains on).

    The vectors equal :meth:`Encoder.encode_ids` (same windows, pooling and normalisation), so a
    head trained here applies unchanged to an index's stored vectors.
    """
    window = window or default_window(encoder.max_length)
    chunks = encoder.chunks(texts, overlap, window)
    if first_only:
        chunks = [c for c in chunks if c.number == 0]
    doc_index = np.array([c.doc for c in chunks], dtype=np.int64)
    with tqdm(total=len(chunks), unit="window", desc="encoding", disable=not progress) as bar:
        if state_layer is None:  # a frozen head: exactly the vectors the index stores, at its precision
            vectors = encoder.encode_ids([c.input_ids for c in chunks], bar)
            return Encoded(doc_index=doc_index, vectors=vectors, count=len(texts), texts=list(texts), window=window)
        from semsearch.classify.layers import encode_with_states

        vectors, states = encode_with_states(encoder, chunks, len(texts), state_layer, bar)
    return Encoded(doc_index, vectors, len(texts), states, state_layer, list(texts), window)
