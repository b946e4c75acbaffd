"""ONNX Runtime as a runtime: an ONNX graph of the model run by ORT's CPU kernels.

Its place is the int8 graph ``int8-dynamic`` (weights quantized per output channel, activations at run
time, matrix products only): on CPUs without int8 dot-product instructions (AVX2 only) ORT's int8 kernels
were the fastest path measured, where OpenVINO's static int8 model gained nothing over fp32.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from semsearch.errors import ModelError
from semsearch.runtime.base import bert_inputs
from semsearch.runtime.cpu import usable_cores


def available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


class OnnxRuntime:
    """An ONNX Runtime session over ``path``, on ``threads`` threads (None: every usable core)."""

    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or usable_cores()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its warnings say nothing a user can act on
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for a damaged graph
            raise ModelError(f"cannot load the ONNX model {path} ({exc}); delete its folder to rebuild it") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {name: value for name, value in bert_inputs(ids, mask).items() if name in self._inputs}
        return np.asarray(self._session.run(None, feed)[0], dtype=np.float32)

    def forward_all(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
        return (self.forward(ids, mask) for ids, mask in batches)
