"""The query path shared by threads (as ``semsearch serve`` shares one query encoder per model among its
request threads): each text gets the vector it gets alone, whatever runs beside it.

An OpenVINO infer request must not be started while it runs: two threads on one request got each other's
output shapes (a broadcast error) before the runtime took turns on it.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from helpers import skip_without

from semsearch.encoder import Encoder
from semsearch.runtime import onnx_runtime
from semsearch.types import Engine, Precision

TEXTS = [f"text {i} on vitamin D and the risk of infection " * (1 + i % 5) for i in range(24)]
THREADS = 4


@pytest.mark.parametrize(
    ("precision", "engine"),
    [(Precision.FP32, Engine.TORCH), (Precision.FP32, Engine.OPENVINO), (Precision.INT8_DYNAMIC, Engine.ONNXRUNTIME)],
    ids=lambda p: p.value,
)
def test_threads_sharing_a_query_encoder_get_the_vectors_each_text_gets_alone(
    precision: Precision, engine: Engine
) -> None:
    skip_without(engine)
    encoder = Encoder(precision=precision, threads=1, engine=engine)
    alone = [encoder.encode([text])[0] for text in TEXTS]
    together: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def encode(first: int) -> None:
        start.wait()
        try:
            for number in range(first, len(TEXTS), THREADS):
                together[number] = encoder.encode([TEXTS[number]])[0]
        except BaseException as error:  # reported below, with the others
            errors.append(error)

    workers = [threading.Thread(target=encode, args=(n,)) for n in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    for number, vector in enumerate(alone):
        np.testing.assert_allclose(together[number], vector, rtol=1e-5, atol=1e-6)


def test_a_query_session_on_several_threads_stops_spinning_when_a_run_ends() -> None:
    """Its threads would otherwise go on spinning after the run and take the cores the rest of the search
    (vector search, BM25, the fetch) runs on; a single-threaded session has no threads to stop."""
    if not onnx_runtime.available():
        pytest.skip("ONNX Runtime is not installed")
    encoder = Encoder(precision=Precision.INT8_DYNAMIC, threads=2, engine=Engine.ONNXRUNTIME)
    many = encoder.runtime
    single = Encoder(precision=Precision.INT8_DYNAMIC, threads=1, engine=Engine.ONNXRUNTIME).runtime
    assert isinstance(many, onnx_runtime.OnnxRuntime) and isinstance(single, onnx_runtime.OnnxRuntime)

    def stops(runtime: onnx_runtime.OnnxRuntime) -> bool:
        try:
            return (
                runtime._sessions[0].get_session_options().get_session_config_entry("session.force_spinning_stop")
                == "1"
            )
        except RuntimeError:  # ORT's way of saying the entry was never set
            return False

    assert stops(many) and not stops(single)
    np.testing.assert_allclose(encoder.encode(TEXTS[:3]), Encoder(precision=Precision.INT8_DYNAMIC, threads=1,
                               engine=Engine.ONNXRUNTIME).encode(TEXTS[:3]), atol=1e-4)  # fmt: skip
