"""Encoding texts for a head: the frozen vectors are the index's own, the fine-tuning cache the encoder's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from semsearch.classify import Encoded, Window, WindowPooling, encode_texts, pool_windows
from semsearch.classify.layers import bert_layers, run_layers
from semsearch.encoder import Encoder
from semsearch.errors import ClassifierError
from semsearch.types import Precision


def test_frozen_head_vectors_are_the_indexs_own(tiny_encoder: Encoder) -> None:
    """At any precision (the default may be int8) a frozen head sees exactly the stored vectors."""
    texts = ["short text", " ".join(["long"] * 300), "another one"]
    encoded = encode_texts(tiny_encoder, texts, first_only=False, overlap=8, progress=False)
    windows = [c.input_ids for c in tiny_encoder.chunks(texts, 8)]
    np.testing.assert_array_equal(encoded.vectors, tiny_encoder.encode_ids(windows))
    assert encoded.states is None


def test_window_vectors_are_the_encoders_own(tiny_model: Path) -> None:
    """The fine-tuning path runs the torch layers itself; in fp32 it must agree with the encoder."""
    tiny_encoder = Encoder(tiny_model, precision=Precision.FP32)
    texts = ["short text", " ".join(["long"] * 300), "another one"]
    encoded = encode_texts(tiny_encoder, texts, first_only=False, overlap=8, state_layer=1, progress=False)
    windows = [c.input_ids for c in tiny_encoder.chunks(texts, 8)]
    np.testing.assert_allclose(encoded.vectors, tiny_encoder.encode_ids(windows), atol=1e-6)
    assert encoded.count == 3 and len(encoded.vectors) > 3  # the long text has several windows
    assert [s.shape[0] for s in encoded.states] == [len(windows[0]), tiny_encoder.max_length, len(windows[-1])]
    first = pool_windows(encoded.doc_index, encoded.vectors, 3, Window.FIRST)
    np.testing.assert_allclose(first[1], encoded.vectors[1])
    mean = pool_windows(encoded.doc_index, encoded.vectors, 3, Window.MEAN)
    assert np.allclose(np.linalg.norm(mean, axis=1), 1.0) and not np.allclose(mean[1], first[1])


def test_the_states_cache_is_the_same_in_any_batches(tiny_model: Path) -> None:
    """States and vectors do not depend on how the windows were batched (padding is masked out)."""
    texts = ["short text", " ".join(["long"] * 300), "another one", "a fourth, a little longer text"]
    one = encode_texts(Encoder(tiny_model, precision=Precision.FP32, batch_size=1), texts, first_only=True,
                       state_layer=1, progress=False)  # fmt: skip
    many = encode_texts(Encoder(tiny_model, precision=Precision.FP32), texts, first_only=True, state_layer=1,
                        progress=False)  # fmt: skip
    np.testing.assert_allclose(one.vectors, many.vectors, atol=1e-6)
    for a, b in zip(one.states, many.states, strict=True):
        assert a.dtype == torch.bfloat16 and a.shape == b.shape
        torch.testing.assert_close(a.float(), b.float(), atol=1e-2, rtol=1e-2)  # bfloat16 rounding
    assert one.state_layer == 1 and one.window == 128 and one.texts == texts


def test_pooling_windows_by_their_numbers_or_their_order() -> None:
    vectors = np.eye(4, dtype=np.float32)
    doc_index = [1, 0, 1, 0]
    assert WindowPooling is Window
    by_order = pool_windows(doc_index, vectors, 2, WindowPooling.FIRST)
    np.testing.assert_array_equal(by_order, vectors[[1, 0]])
    by_number = pool_windows(doc_index, vectors, 2, WindowPooling.FIRST, numbers=[1, 1, 0, 0])
    np.testing.assert_array_equal(by_number, vectors[[3, 2]])
    mean = pool_windows(doc_index, vectors, 2, WindowPooling.MEAN)
    np.testing.assert_allclose(mean[0], (vectors[1] + vectors[3]) / np.sqrt(2), rtol=1e-6)
    with pytest.raises(ClassifierError, match="a document has no first window"):
        pool_windows([0, 0], vectors[:2], 2, WindowPooling.FIRST)
    encoded = Encoded(doc_index=np.array(doc_index), vectors=vectors, count=2)
    np.testing.assert_array_equal(encoded.pooled(WindowPooling.FIRST), by_order)


def test_fine_tuning_refuses_a_model_that_is_not_bert_style() -> None:
    with pytest.raises(ClassifierError, match="BERT-style model.*train a frozen head instead") as refused:
        bert_layers(torch.nn.Linear(2, 2))
    assert "--" not in str(refused.value)


def test_padding_is_masked_out_of_the_layers(tiny_encoder: Encoder) -> None:
    layers = bert_layers(tiny_encoder.torch_model)
    hidden = torch.randn(1, 3, tiny_encoder.dim)
    padded = torch.cat([hidden, torch.randn(1, 2, tiny_encoder.dim)], dim=1)
    with torch.inference_mode():
        alone = run_layers(layers, hidden, torch.ones(1, 3, dtype=torch.long))
        beside = run_layers(layers, padded, torch.tensor([[1, 1, 1, 0, 0]]))
    torch.testing.assert_close(alone, beside[:, :3], atol=1e-5, rtol=1e-5)
