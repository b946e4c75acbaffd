"""Attention in the scored window, from the tokens that matter most for the query.

The token shares (:mod:`semsearch.explain.dense`) say which words carry the score; attention says what those
words looked at while their vectors were made, layer by layer and head by head. It is a view, not an
explanation of the score (attention weights do not add up to it), and needs the torch model with its
attention weights returned, so only the HTML page (``semsearch explain --html``) asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from semsearch.chunking import ChunkConfig
from semsearch.encoder import Encoder
from semsearch.explain.dense import TokenWindow, document_windows
from semsearch.explain.types import Explanation

SOURCE_WORDS = 5  # the words with the largest dense shares whose attention is shown


@dataclass(frozen=True)
class Piece:
    """A word piece of the window: its token string and character span (empty for special tokens)."""

    token: str
    start: int
    end: int
    special: bool


@dataclass(frozen=True)
class AttentionView:
    """The window's pieces, which of them are the sources, and ``weights[layer, head, piece]``: the
    attention the sources pay each piece, averaged over the sources (each row sums to 1)."""

    pieces: list[Piece]
    sources: list[int]
    weights: np.ndarray


def attention_view(encoder: Encoder, text: str, config: ChunkConfig, explanation: Explanation) -> AttentionView:
    """The attention from the explanation's top words over its window (cut again as the index cut it)."""
    windows = document_windows(encoder.tokenizer, text, config)
    window = windows[min(explanation.window_number, len(windows) - 1)]
    pieces = [
        Piece(token, start, end, word is None)
        for token, (start, end), word in zip(
            encoder.tokenizer.convert_ids_to_tokens(window.ids), window.offsets, window.words, strict=True
        )
    ]
    top = [(t.start, t.end) for t in explanation.top_words(SOURCE_WORDS)]
    sources = [i for i, p in enumerate(pieces) if not p.special and any(a <= p.start < b for a, b in top)] or [0]
    return AttentionView(pieces, sources, attention_from(encoder, window, sources))


def attention_from(encoder: Encoder, window: TokenWindow, sources: list[int]) -> np.ndarray:
    """``[layer, head, token]``: attention from the ``sources`` tokens of ``window``, averaged over them.

    The model's attention implementation is switched to eager for the call (the fused kernels return no
    weights) and back after it, since the encoder may share this model with its runtime.
    """
    import torch

    model: Any = encoder.torch_model  # transformers' methods (set_attn_implementation) are untyped here
    before = getattr(model.config, "_attn_implementation", None)
    switch = before not in (None, "eager") and hasattr(model, "set_attn_implementation")
    if switch:
        model.set_attn_implementation("eager")
    try:
        with torch.inference_mode():
            ids = torch.tensor([window.ids])
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=True)
    finally:
        if switch:
            model.set_attn_implementation(before)
    layers = [layer[0, :, sources, :].mean(dim=1).float().numpy() for layer in out.attentions]
    return np.stack(layers)
