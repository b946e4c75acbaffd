"""What the encoder makes of texts, computed once and reused by every head fitted on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
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

    def subset(self, docs: Sequence[int] | np.ndarray) -> Encoded:
        """The encoded form of ``docs`` (positions into this list, in that order), renumbered 0..len(docs)-1."""
        docs = np.asarray(docs, dtype=np.int64)
        if len(docs) and (docs.min() < 0 or docs.max() >= self.count):
            raise ClassifierError(f"positions must be between 0 and {self.count - 1}")
        order = np.argsort(self.doc_index, kind="stable")
        starts = np.concatenate([[0], np.cumsum(np.bincount(self.doc_index, minlength=self.count))])
        rows = np.concatenate([order[starts[d] : starts[d + 1]] for d in docs]) if len(docs) else np.zeros(0, int)
        return Encoded(
            doc_index=np.repeat(np.arange(len(docs)), starts[docs + 1] - starts[docs]),
            vectors=self.vectors[rows],
            count=len(docs),
            states=[self.states[i] for i in docs] if self.states is not None else None,
            state_layer=self.state_layer,
            texts=[self.texts[i] for i in docs] if self.texts is not None else None,
            window=self.window,
        )

    def pooled(self, window: WindowPooling) -> np.ndarray:
        """One vector per text: its first window's, or the re-normalised mean of its windows'."""
        return pool_windows(self.doc_index, self.vectors, self.count, window)


def pool_windows(
    doc_index: Sequence[int] | np.ndarray,
    vectors: np.ndarray,
    count: int,
    window: WindowPooling,
    numbers: Sequence[int] | np.ndarray | None = None,
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
    cache: str | Path | None = None,
) -> Encoded:
    """Encode ``texts`` once: window vectors for a frozen head and, if ``state_layer`` is given, the
    first windows' hidden states after that many layers (the cache that fine-tuning trains on).

    The vectors equal :meth:`Encoder.encode_ids` (same windows, pooling and normalisation), so a
    head trained here applies unchanged to an index's stored vectors. With ``cache`` (a folder; frozen
    heads only), the vectors of texts encoded before by the same encoder setup are read from it and
    only the others are encoded (:mod:`semsearch.classify.featurecache`).
    """
    window = window or default_window(encoder.max_length)
    if cache is not None and state_layer is None:
        return _encode_cached(encoder, list(texts), first_only, overlap, window, progress, Path(cache))
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


def _encode_cached(
    encoder: Encoder, texts: list[str], first_only: bool, overlap: int, window: int, progress: bool, root: Path
) -> Encoded:
    """:func:`encode_texts` for a frozen head, encoding only the texts the cache does not hold."""
    from semsearch.classify.featurecache import FeatureCache, text_key

    cache = FeatureCache(root, encoder, window, overlap, first_only)
    keys = [text_key(text) for text in texts]
    found = cache.lookup(keys)
    missing = sorted({text: i for i, (text, hit) in enumerate(zip(texts, found, strict=True)) if hit is None}.values())
    if missing:
        fresh = encode_texts(
            encoder, [texts[i] for i in missing], first_only=first_only, overlap=overlap, window=window,
            progress=progress,
        )  # fmt: skip
        order = np.argsort(fresh.doc_index, kind="stable")
        counts = np.bincount(fresh.doc_index, minlength=len(missing))
        per_text = np.split(fresh.vectors[order], np.cumsum(counts)[:-1])
        cache.add([keys[i] for i in missing], per_text)
        found = cache.lookup(keys)
    parts = [hit for hit in found if hit is not None]
    doc_index = np.repeat(np.arange(len(texts), dtype=np.int64), [len(p) for p in parts])
    vectors = np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros((0, encoder.dim), np.float32)
    return Encoded(doc_index=doc_index, vectors=vectors, count=len(texts), texts=texts, window=window)
