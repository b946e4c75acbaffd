"""An exact index's vectors as int8 codes, scanned before the fp32 vectors so that a query reads a quarter of the
bytes, with a proof that the result is still the fp32 search's.

A vector x is stored as c = round(x * s), s per dimension (127 / the largest magnitude there), and a query q is
scanned as the integers p = round(q / s * t), t putting its largest magnitude at :data:`LEVELS`; p . c / t is
within :meth:`Int8Scan.error` of q . x. ONNX Runtime computes every p . c in one integer matrix product on one
thread (int32 sums, so exact). FAISS's own scan of such codes selects its top candidates through a heap, which
took most of the time for the 500 windows hybrid search asks for (benchmarks/RESULTS.md).

The candidates are every vector whose code score plus that error reaches the lowest exact score among the
code scores' top k: any vector that beats the k-th exact score beats that one, so it is a candidate. Scoring the
candidates with their fp32 vectors therefore gives the fp32 search's top k, whatever the vectors are; where they
are too close for the codes to tell apart, the candidates are simply many. Without codes (before they are made, or
for a zero query) :func:`whole_search` scores every vector, the same way: :func:`exact_scores` gives each vector
the same bits wherever it sits, so both give the same scores and order (an explanation recomputes a search's).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# The query's integers lie in [-LEVELS, LEVELS] and reach the product as unsigned bytes p + LEVELS + 1, at most 127.
# An x86 CPU without int8 dot products (VNNI) adds each pair of u8 x s8 products into 16 bits with saturation; at
# most 2 x 127 x 127 = 32,258, such a pair is always exact. With VNNI, p + 128 would be exact too, but not there.
LEVELS = 63
_ZERO_POINT = LEVELS + 1
_SLICE = 65_536  # rows scaled at a time: the scaled copy is never whole in memory
_CHECKED_ROWS = 256  # rows of the product compared with numpy's when it is made


class IntegerProduct:
    """Every row's dot product with a query, ``codes @ p`` for int8 ``codes`` (n x d) and integers ``p`` in
    [-LEVELS, LEVELS], by ONNX Runtime's integer matrix product on one thread."""

    def __init__(self, codes: np.ndarray) -> None:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        count, dim = codes.shape
        self._columns = np.ascontiguousarray(codes.T)  # the product's right side, d x n; ONNX Runtime reads it
        weights = TensorProto(name="codes", data_type=TensorProto.INT8, dims=[dim, count])
        weights.data_location = TensorProto.EXTERNAL  # given below from memory, not copied into the model
        weights.external_data.add(key="location", value="memory")
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["query", "codes", "zero"], ["scores"])],
            "int8-scan",
            [helper.make_tensor_value_info("query", TensorProto.UINT8, [1, dim])],
            [helper.make_tensor_value_info("scores", TensorProto.INT32, [1, count])],
            [weights, helper.make_tensor("zero", TensorProto.UINT8, [], [_ZERO_POINT])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # one query is too small to split
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._value = ort.OrtValue.ortvalue_from_numpy(self._columns)  # must outlive the session
        options.add_external_initializers(["codes"], [self._value])
        self._session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def __call__(self, integers: np.ndarray) -> np.ndarray:
        """``codes @ integers`` (int32, one per row) for integers in [-LEVELS, LEVELS]."""
        shifted = (integers.astype(np.int16) + _ZERO_POINT).astype(np.uint8).reshape(1, -1)
        scores: Any = self._session.run(None, {"query": shifted})[0]
        return np.asarray(scores[0])


def exact_scores(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Each row's fp32 inner product with ``query``, summed the same way whatever the other rows: a BLAS product
    sums a row in another order by its place among the rows (the last bits differ), numpy's einsum does not."""
    return np.einsum("ij,j->i", vectors, query)


def best_first(scores: np.ndarray, positions: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``limit`` of ``scores`` (those of ``positions``), best first, ties by position."""
    order = np.lexsort((positions, -scores))[:limit]
    return scores[order], positions[order]


def whole_search(vectors: np.ndarray, query: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``limit`` of every row of ``vectors``: scores and positions, as :meth:`Int8Scan.search` orders them."""
    scores = exact_scores(vectors, query)
    limit = min(limit, len(scores))
    if limit == 0:
        return scores[:0], np.arange(0)
    kth = np.partition(scores, len(scores) - limit)[len(scores) - limit]
    tied = np.flatnonzero(scores >= kth)  # every row tied with the last kept one: the lowest positions win
    return best_first(scores[tied], tied, limit)


@dataclass(frozen=True)
class Int8Scan:
    """The int8 codes of an exact index's fp32 vectors ``full`` (row i is position i), searched first."""

    owner: object  # what owns ``full``'s memory (the exact index), kept alive while it is viewed
    full: np.ndarray  # fp32 vectors, n x d
    scale: np.ndarray  # s, per dimension
    product: IntegerProduct  # p -> every p . c
    largest_code: float  # the largest |c|
    largest_rounding: float  # the largest |x * s - c|
    largest_norm: float  # the largest |x|

    @classmethod
    def of(cls, full: np.ndarray, owner: object = None) -> Int8Scan | None:
        """The codes of ``full``; None where ONNX Runtime cannot be loaded or its product is not exact here."""
        count, dim = full.shape
        # A dimension (near) zero in every vector keeps a bounded scale, so the scaled query stays a normal float.
        scale = (127.0 / np.maximum(np.abs(full).max(axis=0), 1e-6)).astype(np.float32)
        codes = np.empty((count, dim), dtype=np.int8)
        largest_code = largest_rounding = 0.0
        for begin in range(0, count, _SLICE):
            scaled = full[begin : begin + _SLICE] * scale
            code = np.clip(np.rint(scaled), -127, 127)
            codes[begin : begin + _SLICE] = code
            largest_code = max(largest_code, float(np.linalg.norm(code, axis=1).max()))
            largest_rounding = max(largest_rounding, float(np.linalg.norm(scaled - code, axis=1).max()))
        try:
            product = IntegerProduct(codes)
        except Exception as exc:  # onnx or ONNX Runtime missing, or refusing the graph (its errors are Exceptions)
            log.warning("exact search reads the fp32 vectors only: ONNX Runtime's integer product failed (%s)", exc)
            return None
        # The first row's largest possible score: a kernel that saturated or misread the codes would show here.
        probe = np.where(codes[0] < 0, -LEVELS, LEVELS).astype(np.int64)
        checked = codes[:_CHECKED_ROWS].astype(np.int64) @ probe
        if not np.array_equal(product(probe)[:_CHECKED_ROWS], checked):
            log.warning("exact search reads the fp32 vectors only: ONNX Runtime's integer product is not exact here")
            return None
        largest_norm = float(np.linalg.norm(full, axis=1).max())
        return cls(owner, full, scale, product, largest_code, largest_rounding, largest_norm)

    def search(self, query: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The exact top ``limit`` of ``query``: scores and positions, best first (ties by position); None for
        a zero query (every score is 0: :func:`whole_search` orders them)."""
        scored = self.candidates(query, limit)
        if scored is None:
            return None
        positions, exact = scored
        return best_first(exact, positions, limit)

    def candidates(self, query: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The positions of every vector that can be among ``query``'s exact top ``limit`` (module docstring),
        and their exact scores; None for a zero query."""
        scaled = (query / self.scale).astype(np.float32)
        top = float(np.abs(scaled).max())
        if top == 0.0:
            return None
        stretch = LEVELS / top
        integers = np.rint(scaled * stretch)
        rough = self.product(integers)
        count = len(rough)
        limit = min(limit, count)
        best = np.argpartition(rough, count - limit)[count - limit :]
        best_scores = exact_scores(self.full[best], query)
        error = self.error(query, scaled, scaled * stretch - integers, stretch)
        # rough / stretch + error >= the lowest, in integers; one less, so a float rounding can only add candidates
        more = rough >= np.floor((float(best_scores.min()) - error) * stretch) - 1
        if 2 * int(np.count_nonzero(more)) > count:  # the codes rule out too few: score every vector where it lies
            return np.arange(count), exact_scores(self.full, query)
        more[best] = False  # scored already
        others = np.flatnonzero(more)
        return np.concatenate([best, others]), np.concatenate([best_scores, exact_scores(self.full[others], query)])

    def error(self, query: np.ndarray, scaled: np.ndarray, rounded_off: np.ndarray, stretch: float) -> float:
        """A bound on |p . c / t - q . x| for any stored x. With r = x * s - c and e = q / s * t - p,
        q . x = (q / s) . (c + r) = p . c / t + (e . c) / t + (q / s) . r, and by Cauchy-Schwarz
        |(q / s) . r| <= |q / s| |r| and |e . c| <= |e| |c|. Then a margin of four times the rounding an fp32 sum
        of d products can make, for the exact scores' sums (the reasoning in :meth:`candidates` meets three of
        them); p . c is summed exactly, in integers."""
        bound = float(np.linalg.norm(scaled)) * self.largest_rounding
        bound += float(np.linalg.norm(rounded_off)) * self.largest_code / stretch
        margin = len(query) * 2.0**-22 * float(np.linalg.norm(query)) * self.largest_norm
        return bound * (1 + 2.0**-16) + margin
