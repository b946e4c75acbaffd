"""One suite for every runtime: the same texts through each give vectors within a stated cosine of
the reference (torch fp32), the runtime that every other one is measured against.

A runtime joins by adding a row to PARITY with the cosine it is held to; the floor is what it must
keep for an index built with it to rank like one built with fp32 (docs/speed.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.encoder import Encoder
from semsearch.runtime import openvino_runtime
from semsearch.types import Precision

TEXTS = [
    "The cat sat on the mat.",
    "Quantum chromodynamics describes the strong force between quarks and gluons.",
    "short",
    "Vitamin D deficiency is associated with a higher risk of respiratory infections in children. " * 4,
]

# precision -> the lowest cosine any text may have to its torch fp32 vector
PARITY = {
    Precision.FP32: 0.99999,
    Precision.BF16: 0.999,
    Precision.INT8: 0.98,
}


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return Encoder(precision=Precision.FP32, threads=1).encode(TEXTS)


@pytest.mark.parametrize("precision", list(PARITY), ids=lambda p: p.value)
@pytest.mark.parametrize("threads", [1, None], ids=["query path", "bulk path"])
def test_every_runtime_gives_the_reference_vectors(
    reference: np.ndarray, precision: Precision, threads: int | None
) -> None:
    if precision is Precision.INT8 and not openvino_runtime.available():
        pytest.skip("OpenVINO and NNCF are not installed")
    got = Encoder(precision=precision, threads=threads).encode(TEXTS)
    assert got.shape == reference.shape and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float((got * reference).sum(1).min()) >= PARITY[precision]


def test_every_precision_has_a_parity_floor() -> None:
    assert set(PARITY) == set(Precision)
