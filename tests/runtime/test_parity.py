"""One suite for every runtime: the same texts through each give vectors within a stated cosine of
the reference (torch fp32), the runtime that every other one is measured against.

A runtime joins by adding a row to PARITY with the cosine it is held to; the floor is what it must
keep for an index built with it to rank like one built with fp32 (docs/speed.md).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import skip_without

from semsearch.encoder import Encoder
from semsearch.types import Engine, Precision

TEXTS = [
    "The cat sat on the mat.",
    "Quantum chromodynamics describes the strong force between quarks and gluons.",
    "short",
    "Vitamin D deficiency is associated with a higher risk of respiratory infections in children. " * 4,
]

# (precision, engine) -> the lowest cosine any text may have to its torch fp32 vector. Same precision,
# same vectors: fp32 in OpenVINO is held to what fp32 in torch gives, so the two may serve one index.
PARITY = {
    (Precision.FP32, Engine.TORCH): 0.99999,
    (Precision.FP32, Engine.OPENVINO): 0.99999,
    (Precision.BF16, Engine.TORCH): 0.999,
    (Precision.BF16, Engine.OPENVINO): 0.999,  # the fp32 graph run in bf16 (fp32 where the CPU lacks bf16)
    (Precision.INT8, Engine.OPENVINO): 0.98,
    (Precision.INT8_DYNAMIC, Engine.ONNXRUNTIME): 0.97,
    (Precision.FP16, Engine.TORCH): 0.999,  # on a GPU; here, torch fp16 on the CPU (the same number format)
}


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return Encoder(precision=Precision.FP32, threads=1, engine=Engine.TORCH).encode(TEXTS)


@pytest.mark.parametrize(("precision", "engine"), list(PARITY), ids=lambda p: p.value)
@pytest.mark.parametrize("threads", [1, None], ids=["query path", "bulk path"])
def test_every_runtime_gives_the_reference_vectors(
    reference: np.ndarray, precision: Precision, engine: Engine, threads: int | None
) -> None:
    skip_without(engine)
    got = Encoder(precision=precision, threads=threads, engine=engine).encode(TEXTS)
    assert got.shape == reference.shape and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float((got * reference).sum(1).min()) >= PARITY[(precision, engine)]


@pytest.mark.parametrize(("precision", "engine"), list(PARITY), ids=lambda p: p.value)
def test_every_runtime_gives_a_text_the_same_vector_alone_and_padded_in_a_batch(
    precision: Precision, engine: Engine
) -> None:
    from semsearch.runtime.planner import PADDING_FLOOR

    skip_without(engine)
    encoder = Encoder(precision=precision, threads=1, engine=engine)
    together = encoder.encode(TEXTS)  # padded to the longest text
    alone = np.concatenate([encoder.encode([text]) for text in TEXTS])
    assert float((together * alone).sum(1).min()) >= PADDING_FLOOR


@pytest.mark.parametrize("precision", [Precision.FP32, Precision.INT8], ids=lambda p: p.value)
def test_a_single_query_in_openvino_runs_a_model_of_its_own_shape_and_keeps_its_vector(
    reference: np.ndarray, precision: Precision
) -> None:
    """One short text (a query, padded to QUERY_WIDTH) runs the model compiled for that shape alone; several run
    the model of any shape. Each is compiled when first needed, and both give the reference vectors."""
    from semsearch.runtime.openvino_runtime import QUERY_WIDTH

    skip_without(Engine.OPENVINO)
    encoder = Encoder(precision=precision, threads=1, engine=Engine.OPENVINO)
    alone = np.concatenate([encoder.encode([text]) for text in TEXTS[:3]])
    assert set(encoder.runtime._requests) == {(1, QUERY_WIDTH)}  # type: ignore[attr-defined]
    together = encoder.encode(TEXTS[:3])
    assert set(encoder.runtime._requests) == {(1, QUERY_WIDTH), None}  # type: ignore[attr-defined]
    floor = PARITY[(precision, Engine.OPENVINO)]
    assert float((alone * reference[:3]).sum(1).min()) >= floor
    assert float((together * reference[:3]).sum(1).min()) >= floor


def test_a_model_that_takes_no_fixed_shape_runs_every_query_on_the_model_of_any_shape(
    reference: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from semsearch.errors import ModelError
    from semsearch.runtime.openvino_runtime import OpenVinoRuntime

    skip_without(Engine.OPENVINO)
    compile_any = OpenVinoRuntime._compile

    def no_fixed_shape(self: OpenVinoRuntime, shape: tuple[int, ...] | None) -> object:
        if shape is not None:
            raise ModelError("cannot load the OpenVINO model (a fixed shape)")
        return compile_any(self, shape)

    monkeypatch.setattr(OpenVinoRuntime, "_compile", no_fixed_shape)
    encoder = Encoder(precision=Precision.FP32, threads=1, engine=Engine.OPENVINO)
    alone = encoder.encode(TEXTS[:1])
    assert set(encoder.runtime._requests) == {None}  # type: ignore[attr-defined]
    assert float(alone[0] @ reference[0]) >= PARITY[(Precision.FP32, Engine.OPENVINO)]


def test_every_precision_has_a_parity_floor() -> None:
    assert {precision for precision, _ in PARITY} == set(Precision)


def test_queries_are_tokenised_as_transformers_does_without_importing_it() -> None:
    encoder = Encoder(precision=Precision.FP32)
    texts = [*TEXTS, "", "Ünïcödé — accents, CAPITALS and 1,234.5 numbers", "x " * 600]
    want = encoder.tokenizer(texts, max_length=encoder.max_length, truncation=True)["input_ids"]
    assert encoder.token_ids(texts) == [list(ids) for ids in want]


@pytest.mark.parametrize(("precision", "engine"), [(Precision.FP32, Engine.OPENVINO),
                                                   (Precision.INT8_DYNAMIC, Engine.ONNXRUNTIME)],
                         ids=lambda p: p.value)  # fmt: skip
def test_bulk_encoding_hands_back_every_batch_in_order_with_several_in_flight(
    precision: Precision, engine: Engine
) -> None:
    skip_without(engine)
    from semsearch.runtime import pad

    encoder = Encoder(precision=precision, engine=engine)  # bulk: one stream or session per core
    ids = encoder.token_ids(TEXTS * 3)
    batches = [pad(ids[begin : begin + size]) for begin, size in ((0, 1), (1, 3), (4, 2), (6, 1), (7, 5))]
    got = list(encoder.runtime.forward_all(batches))
    assert [h.shape[:2] for h in got] == [i.shape for i, _ in batches]
    for hidden, (batch_ids, mask) in zip(got, batches, strict=True):
        np.testing.assert_allclose(hidden, encoder.runtime.forward(batch_ids, mask), atol=1e-3)
