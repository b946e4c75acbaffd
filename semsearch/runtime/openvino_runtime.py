"""OpenVINO as a runtime: a compiled OpenVINO model, with several batches in flight when encoding in bulk.

OpenVINO and NNCF send usage telemetry by default; :func:`no_telemetry` keeps them silent.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import ModelError
from semsearch.runtime.base import bert_inputs
from semsearch.runtime.cpu import usable_cores


def no_telemetry() -> None:
    """Keep OpenVINO and NNCF from sending usage telemetry, which they do by default.

    Importing ``openvino`` sends an "import" event to Intel from a forked process (forking after
    LanceDB has started its threads, which LanceDB warns may deadlock), and NNCF sends events as it
    quantizes. Both fall back to a silent stub when ``openvino_telemetry`` cannot be imported, so
    semsearch makes it unimportable in this process before importing them (unless it already was).
    """
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]


@contextmanager
def output_to_stderr() -> Iterator[None]:
    """What the libraries print while quantizing (NNCF's progress bars, OpenVINO's messages) goes to
    stderr, at the file-descriptor level too: stdout carries a command's results alone, so that
    ``semsearch search --json | jq`` works on a machine that has not made its int8 model yet."""
    for stream in (sys.stdout, sys.__stdout__):
        if stream is not None:
            stream.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with redirect_stdout(sys.stderr):
            yield
    finally:
        for stream in (sys.stdout, sys.__stdout__):
            if stream is not None:
                stream.flush()
        os.dup2(saved, 1)
        os.close(saved)


def available() -> bool:
    """True when OpenVINO (to run the int8 model) and NNCF (to make it) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("openvino", "nncf"))


# A short text is padded to a multiple of this many tokens in OpenVINO (Encoder.encode): OpenVINO prepares its
# kernels for each input shape it meets, and a query of a width it had met ran faster than one of a new width.
QUERY_WIDTH = 32


class OpenVinoRuntime:
    """An OpenVINO compiled model (the int8 one): token ids and mask in, last hidden states out.

    With ``threads`` set (for queries) it runs one request at a time on that many threads, and a single text
    of :data:`QUERY_WIDTH` tokens (most queries, padded) runs a model compiled for exactly that shape, which
    took a fifth less time than the model of any shape (benchmarks/RESULTS.md); other inputs run that one.
    Each is compiled when first needed, so a process that encodes one query compiles one model.
    Without ``threads``, it is compiled for throughput: one stream per core, each batch on one thread,
    several batches in flight. On the 2-core test machine that encoded a corpus 20-40% faster (wall clock)
    than two threads sharing each batch, because the threads never wait for each other.
    """

    def __init__(self, xml: Path, threads: int | None, compute: str = "f32") -> None:
        no_telemetry()
        import openvino as ov

        # The graph computes in ``compute``: fp32, or bf16 for a bf16 index (the fp32 graph). The int8 model's
        # unquantized operations stay fp32 on every CPU: in bf16 (OpenVINO's own choice where the CPU has bf16)
        # its vectors changed when a window was padded (benchmarks/RESULTS.md).
        config: dict[str, str] = {"INFERENCE_PRECISION_HINT": compute}
        if threads:
            config |= {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": str(threads)}
        else:
            config |= {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": str(usable_cores())}
        self._core, self._xml, self._config = ov.Core(), xml, config
        self._static = (1, QUERY_WIDTH) if threads else None  # the one shape compiled on its own
        self._requests: dict[tuple[int, ...] | None, ov.InferRequest] = {}  # by shape; None: any shape
        self._busy = threading.Lock()  # one infer request: threads sharing a query encoder (a server) take turns
        self._queue = None
        if not threads:
            model = self._compile(None)
            parallel = int(model.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            self._queue = ov.AsyncInferQueue(model, parallel) if parallel > 1 else None
            self._requests[None] = model.create_infer_request()

    def _compile(self, shape: tuple[int, ...] | None) -> Any:
        """The model compiled for inputs of ``shape`` (None: any shape)."""
        import openvino as ov

        try:
            model = self._core.read_model(str(self._xml))
            if shape is not None:
                model.reshape({port.get_any_name(): ov.PartialShape(list(shape)) for port in model.inputs})
            return self._core.compile_model(model, "CPU", self._config)
        except RuntimeError as exc:
            problem = f"cannot load the OpenVINO model {self._xml} ({exc}); delete its folder to rebuild it"
            raise ModelError(problem) from exc

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with self._busy:
            outputs = self._request(ids.shape).infer(bert_inputs(ids, mask))
            return np.asarray(outputs[0], dtype=np.float32)

    def _request(self, shape: tuple[int, ...]) -> Any:
        """The infer request for inputs of ``shape``, its model compiled on first use."""
        key = shape if shape == self._static else None
        request = self._requests.get(key)
        if request is None:
            try:
                request = self._compile(key).create_infer_request()
            except ModelError:
                if key is None:
                    raise
                self._static = None  # a model that takes no fixed shape: every input runs the model of any shape
                return self._request(shape)
            self._requests[key] = request
        return request

    def forward_all(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
        """Hidden states of each batch, in order, with one batch per stream in flight at all times: a
        stream that finishes takes the next batch at once (``start_async`` waits for an idle one), and
        what is done is handed on while the others run, so the caller's pooling overlaps the encoding."""
        if self._queue is None:
            yield from (self.forward(ids, mask) for ids, mask in batches)
            return
        done: dict[int, np.ndarray] = {}
        self._queue.set_callback(
            lambda request, number: done.__setitem__(number, request.get_output_tensor(0).data.copy())
        )
        following = 0  # the next batch to hand on
        for number, (ids, mask) in enumerate(batches):
            self._queue.start_async(bert_inputs(ids, mask), number)
            while following in done:
                yield done.pop(following)
                following += 1
        self._queue.wait_all()
        while following in done:
            yield done.pop(following)
            following += 1
