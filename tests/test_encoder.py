"""The encoder: offline loading, pooling, normalisation, identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semsearch.encoder import Encoder, length_batches
from semsearch.errors import SemsearchError
from semsearch.models import weights_sha256
from semsearch.types import Pooling, Precision

TEXTS = ["The cat sat on the mat.", "Quantum chromodynamics describes the strong force.", "short"]


@pytest.fixture(scope="module")
def default_encoder() -> Encoder:
    return Encoder(precision=Precision.FP32)


def test_mean_pooling_matches_sentence_transformers(default_encoder: Encoder) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(default_encoder.identity.path), device="cpu")
    want = reference.encode(TEXTS, normalize_embeddings=True)
    got = default_encoder.encode(TEXTS)
    assert got.dtype == np.float32 and got.shape == (3, 384)
    np.testing.assert_allclose((got * want).sum(1), 1.0, atol=1e-5)


def test_vectors_are_unit_length_and_cls_differs(default_encoder: Encoder) -> None:
    cls = Encoder(pooling=Pooling.CLS, precision=Precision.FP32)
    mean_vectors, cls_vectors = default_encoder.encode(TEXTS), cls.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(cls_vectors, axis=1), 1.0, atol=1e-5)
    assert np.all((mean_vectors * cls_vectors).sum(1) < 0.99)
    assert cls.identity == default_encoder.identity  # same weights: pooling is recorded separately


def test_batching_by_length_does_not_change_vectors(default_encoder: Encoder) -> None:
    one_by_one = np.vstack([default_encoder.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(default_encoder.encode(TEXTS), one_by_one, atol=1e-5)


def test_any_bert_directory_loads_and_is_identified_by_its_weights(tiny_model: Path, default_encoder: Encoder) -> None:
    tiny = Encoder(str(tiny_model))
    assert tiny.dim == 32 and tiny.max_length == 128
    assert tiny.identity.sha256 == weights_sha256(tiny_model) != default_encoder.identity.sha256
    assert tiny.encode(["hello"]).shape == (1, 32)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SemsearchError, match="model directory not found"):
        Encoder(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SemsearchError, match="cannot load a model"):
        Encoder(str(tmp_path / "empty"))


def test_length_batches_cover_everything_longest_first_within_the_token_budget() -> None:
    lengths = [5, 200, 17, 256, 3, 90, 90, 12] * 5
    batches = length_batches(lengths, max_tokens=512, max_windows=6)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        widths = [lengths[i] for i in batch]
        assert widths == sorted(widths, reverse=True)
        assert len(batch) <= 6
        assert len(batch) == 1 or len(batch) * widths[0] <= 512
    assert max(len(b) for b in batches) == 6  # short windows share a batch
    firsts = [lengths[b[0]] for b in batches]
    assert firsts == sorted(firsts, reverse=True)


def test_openvino_pads_short_texts_to_a_few_widths_and_the_vectors_stay() -> None:
    """OpenVINO prepares its kernels per input shape: queries are padded to a multiple of QUERY_WIDTH tokens,
    never past max_length, and give the vectors they give unpadded."""
    from helpers import skip_without

    from semsearch.runtime.base import pad
    from semsearch.runtime.openvino_runtime import QUERY_WIDTH
    from semsearch.types import Engine

    skip_without(Engine.OPENVINO)
    encoder = Encoder(precision=Precision.FP32, threads=1, engine=Engine.OPENVINO)
    widths: list[int] = []
    forward = encoder.runtime.forward

    def recording(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        widths.append(ids.shape[1])
        return forward(ids, mask)

    encoder.runtime.forward = recording  # type: ignore[method-assign]
    encoder.runtime.forward_all = lambda batches: (recording(ids, mask) for ids, mask in batches)  # type: ignore[method-assign]
    texts = ["short", "a somewhat longer query about vitamin D and the risk of infection in children"]
    padded = np.concatenate([encoder.encode([text]) for text in texts])
    assert widths and all(width % QUERY_WIDTH == 0 for width in widths)
    plain = np.concatenate([encoder.encode_ids(encoder.token_ids([text])) for text in texts])
    assert float((padded * plain).sum(1).min()) > 0.99999
    assert pad([[1] * 20], 32, 16)[0].shape == (1, 20)  # never cut, never past the limit
    assert pad([[1] * 250], 32, 256)[0].shape == (1, 256) and pad([[1] * 3], 32, 256)[0].shape == (1, 32)
