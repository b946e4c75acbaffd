"""ONNX Runtime as a runtime: an ONNX graph of the model run by ORT's CPU kernels.

Its place is the int8 graph ``int8-dynamic`` (weights quantized per output channel, activations at run
time, matrix products only): on CPUs without int8 dot-product instructions (AVX2 only) ORT's int8 kernels
were the fastest path measured, where OpenVINO's static int8 model gained nothing over fp32.
"""

from __future__ import annotations

import importlib.util
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from semsearch.errors import ModelError
from semsearch.runtime.base import bert_inputs
from semsearch.runtime.cpu import usable_cores


def available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


class OnnxRuntime:
    """ONNX Runtime sessions over ``path``. With ``threads`` set (for queries), one session on that many
    threads; without, one single-threaded session per usable core, each batch on one of them, several in
    flight: on 2 cores that encoded a corpus about 8% faster than one session sharing both cores."""

    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime as ort

        def session(intra: int) -> ort.InferenceSession:
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = intra
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # errors only: its warnings say nothing a user can act on
            if intra > 1:
                # Its threads spin for work between operators (fast), and by default go on spinning after a
                # run, taking the cores the rest of a search needs: they stop when the run ends.
                options.add_session_config_entry("session.force_spinning_stop", "1")
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        try:
            self._sessions = [session(threads)] if threads else [session(1) for _ in range(usable_cores())]
        except Exception as exc:  # ORT raises its own exception types for a damaged graph
            raise ModelError(f"cannot load the ONNX model {path} ({exc}); delete its folder to rebuild it") from exc
        self._inputs = {i.name for i in self._sessions[0].get_inputs()}

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._run(self._sessions[0], ids, mask)

    def _run(self, session: object, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {name: value for name, value in bert_inputs(ids, mask).items() if name in self._inputs}
        return np.asarray(session.run(None, feed)[0], dtype=np.float32)  # type: ignore[attr-defined]

    def forward_all(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
        """Hidden states of each batch, in order, with one batch per session in flight."""
        if len(self._sessions) == 1:
            yield from (self.forward(ids, mask) for ids, mask in batches)
            return
        with ThreadPoolExecutor(len(self._sessions)) as pool:
            pending: deque[Future[np.ndarray]] = deque()
            for number, (ids, mask) in enumerate(batches):
                pending.append(pool.submit(self._run, self._sessions[number % len(self._sessions)], ids, mask))
                if len(pending) == len(self._sessions):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
