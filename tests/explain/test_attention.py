"""Attention from the top words: one row per layer and head, a distribution over the window's pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import semsearch
from semsearch.chunking import ChunkConfig
from semsearch.explain.attention import attention_view


def test_attention_rows_are_distributions_and_the_model_is_left_as_it_was(explain_index: Path) -> None:
    index = semsearch.open(explain_index)
    found = index.explain("vitamin D levels and infection rates", "long", mode="dense")
    model = index.encoder.torch_model
    before = model.config._attn_implementation
    text = index.get("long").text
    view = attention_view(index.encoder, text, ChunkConfig(index.manifest.max_length, index.manifest.overlap), found)
    assert view.weights.shape == (2, 2, len(view.pieces))  # the tiny BERT: 2 layers of 2 heads
    assert np.allclose(view.weights.sum(axis=-1), 1.0, atol=1e-5)
    top = {(t.start, t.end) for t in found.top_words(5)}
    assert view.sources and all(any(a <= view.pieces[i].start < b for a, b in top) for i in view.sources)
    assert view.pieces[0].special and view.pieces[0].token == "[CLS]"
    assert model.config._attn_implementation == before
