"""The int8 codes exact search reads first: an exact integer product, candidates that always hold the fp32 top k."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.ann import exact_search
from semsearch.ann.codes import LEVELS, Int8Scan, IntegerProduct


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("dim", [384, 20])
def test_the_integer_product_is_exact_at_its_extremes(dim: int) -> None:
    """Codes at +-127 and a query at +-LEVELS: the largest sums any CPU's int8 instructions must add exactly
    (those without VNNI add pairs of products into 16 bits)."""
    rng = np.random.default_rng(0)
    codes = rng.choice(np.array([-127, 127], dtype=np.int8), size=(300, dim))
    codes[0] = 127
    codes[1] = -127
    query = rng.choice(np.array([-LEVELS, LEVELS]), size=dim)
    for integers in (query, np.full(dim, LEVELS), np.full(dim, -LEVELS), np.where(codes[2] < 0, -LEVELS, LEVELS)):
        got = IntegerProduct(codes)(integers.astype(np.float32))
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, codes.astype(np.int64) @ integers.astype(np.int64))


@pytest.mark.parametrize("dim", [32, 20])
def test_the_candidates_hold_the_exact_top_k_and_few_others(dim: int) -> None:
    rng = np.random.default_rng(1)
    vectors = unit(rng.normal(size=(3000, dim)))
    scan = Int8Scan.of(vectors)
    assert scan is not None
    doc_ids = np.arange(3000).astype(str).astype(object)
    for query in unit(rng.normal(size=(20, dim))):
        for limit in (10, 200):
            want = exact_search(vectors, doc_ids, query, limit)
            scored = scan.candidates(query, limit)
            assert scored is not None
            candidates, exact = scored
            assert set(want.ids) <= set(candidates) and len(set(candidates)) == len(candidates)
            np.testing.assert_allclose(exact, vectors[candidates] @ query, atol=1e-6)
            assert len(candidates) < 3000 // 2  # random vectors are far enough apart for the codes to rule most out
            found = scan.search(query, limit)
            assert found is not None
            scores, positions = found
            assert list(positions) == list(want.ids)
            np.testing.assert_allclose(scores, want.scores, atol=1e-6)
    assert scan.search(np.zeros(dim, dtype=np.float32), 10) is None  # every score is 0: nothing to prove


def test_vectors_the_codes_cannot_tell_apart_are_all_candidates() -> None:
    """Thousands of vectors within the codes' rounding of one another: the codes rule none out, and the answer
    is still the fp32 top k."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=16).astype(np.float32)
    close = unit(base + rng.normal(scale=1e-5, size=(2000, 16)))
    scan = Int8Scan.of(close)
    assert scan is not None
    query = base / np.linalg.norm(base)
    scored = scan.candidates(query, 10)
    assert scored is not None and list(scored[0]) == list(range(2000))  # every vector, scored where it lies
    found = scan.search(query, 10)
    assert found is not None
    scores, positions = found
    # the scores differ by less than fp32 resolves, so ties may order differently: the scores are the top 10
    want = exact_search(close, np.arange(2000).astype(object), query, 10)
    np.testing.assert_allclose(scores, want.scores, atol=1e-6)
    np.testing.assert_allclose(scores, close[positions] @ query, atol=1e-6)


def test_a_product_that_is_not_exact_leaves_the_fp32_vectors_to_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = unit(np.random.default_rng(4).normal(size=(50, 16)))
    monkeypatch.setattr(IntegerProduct, "__call__", lambda self, integers: np.zeros(50, dtype=np.int32))
    assert Int8Scan.of(vectors) is None


def test_equal_vectors_come_in_the_order_they_were_added() -> None:
    """Duplicates (a text indexed twice) score the same: they come in position order, run after run."""
    rng = np.random.default_rng(5)
    vectors = unit(rng.normal(size=(400, 16)))
    vectors[[50, 10, 390, 200]] = vectors[7]  # five copies of one vector
    scan = Int8Scan.of(vectors)
    assert scan is not None
    found = scan.search(vectors[7], 5)
    assert found is not None
    assert list(found[1]) == [7, 10, 50, 200, 390]


def test_a_product_that_cannot_be_made_leaves_the_fp32_vectors_to_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """ONNX Runtime's own errors are plain Exceptions (no RuntimeError): any of them means no codes, not a crash."""

    class RefusedError(Exception):
        pass

    def refuse(self: IntegerProduct, codes: np.ndarray) -> None:
        raise RefusedError("[ONNXRuntimeError] : 1 : FAIL : the graph is not supported")

    monkeypatch.setattr(IntegerProduct, "__init__", refuse)
    assert Int8Scan.of(unit(np.random.default_rng(6).normal(size=(50, 16)))) is None
