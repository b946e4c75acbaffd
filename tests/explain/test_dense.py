"""Token shares of a mean-pooled cosine: exact, from the windows the index encoded, grouped into words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semsearch.chunking import ChunkConfig, split
from semsearch.encoder import Encoder
from semsearch.explain.dense import document_windows, mean_shares, query_window, unit_mean, word_shares
from semsearch.pooling import normalize, pool
from semsearch.types import Pooling

TEXT = "Vitamin D deficiency raises the risk of respiratory infections; hypovitaminosis is common in winter."


@pytest.fixture(scope="module")
def encoder(tiny_model: Path) -> Encoder:
    return Encoder(tiny_model, precision="fp32")


def test_shares_sum_to_the_cosine_of_the_pooled_vector() -> None:
    rng = np.random.default_rng(3)
    hidden = rng.normal(size=(37, 24)).astype(np.float32)
    query = normalize(rng.normal(size=(1, 24)))[0]
    shares, score = mean_shares(hidden, query)
    pooled = normalize(pool(hidden[None], np.ones((1, 37), dtype=np.float32), Pooling.MEAN))[0]
    assert score == pytest.approx(float(pooled @ query), abs=1e-6)
    assert float(shares.sum()) == pytest.approx(score, abs=1e-12)
    assert unit_mean(hidden) @ query == pytest.approx(score, abs=1e-6)
    assert len(set(np.sign(shares))) == 2  # shares are signed: some tokens pull the score down


def test_windows_are_cut_as_the_index_cut_them(encoder: Encoder) -> None:
    config = ChunkConfig(16, 4)
    chunks = split(encoder.tokenizer, [TEXT], config)
    windows = document_windows(encoder.tokenizer, TEXT, config)
    assert len(windows) == len(chunks) > 1
    for chunk, window in zip(chunks, windows, strict=True):
        assert window.ids == chunk.input_ids and (window.start, window.end) == (chunk.start, chunk.end)
        assert window.words[0] is None and window.words[-1] is None  # [CLS] ... [SEP]


def test_query_tokens_are_the_encoders(encoder: Encoder) -> None:
    query = "hypovitaminosis and infection?"
    assert query_window(encoder.tokenizer, query, encoder.max_length).ids == encoder.token_ids([query])[0]


def test_word_pieces_are_summed_into_words_and_specials_kept(encoder: Encoder) -> None:
    window = document_windows(encoder.tokenizer, TEXT, ChunkConfig(64, 0))[0]
    shares = np.arange(len(window.ids), dtype=np.float64) / 100
    names = encoder.tokenizer.convert_ids_to_tokens(window.ids)
    words = word_shares(window, shares, TEXT, names)
    assert sum(w.score for w in words) == pytest.approx(float(shares.sum()))
    assert words[0].special and words[0].text == "[CLS]" and words[0].start == words[0].end == window.start
    assert words[-1].special and words[-1].text == "[SEP]" and words[-1].start == words[-1].end == window.end
    text_words = [w for w in words if not w.special]
    assert all(TEXT[w.start : w.end] == w.text for w in text_words)
    (long_word,) = [w for w in text_words if w.text == "hypovitaminosis"]  # several pieces, one word
    assert long_word.pieces == len(encoder.tokenizer.tokenize("hypovitaminosis")) > 1
    assert sum(w.pieces for w in words) == len(window.ids)


def test_a_window_that_starts_inside_a_word_keeps_only_its_own_pieces(encoder: Encoder) -> None:
    windows = document_windows(encoder.tokenizer, "hypovitaminosis " * 6, ChunkConfig(8, 0))
    second = windows[1]
    words = word_shares(second, np.ones(len(second.ids)), "hypovitaminosis " * 6, ["x"] * len(second.ids))
    assert all(w.start >= second.start and w.end <= second.end for w in words)
    assert sum(w.score for w in words) == len(second.ids)
