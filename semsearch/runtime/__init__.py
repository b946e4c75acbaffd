"""How the transformer runs: one runtime per file behind the :class:`Runtime` protocol.

- :mod:`~semsearch.runtime.torch_runtime`: torch, fp32 (the reference) or bf16 autocast;
- :mod:`~semsearch.runtime.openvino_runtime`: OpenVINO running the int8 model that
  :mod:`~semsearch.runtime.quantize` makes once per set of weights.

:func:`load` picks the runtime for a precision; :func:`best_precision` is the default for a new index.
Importing this package is cheap: torch and OpenVINO load only with the runtime that needs them.
"""

from __future__ import annotations

from pathlib import Path

from semsearch.runtime.base import Runtime, bert_inputs, pad
from semsearch.types import Precision

__all__ = ["Runtime", "bert_inputs", "best_precision", "load", "pad"]


def best_precision() -> Precision:
    """int8 where the CPU has int8 dot-product instructions (VNNI/AMX) and OpenVINO is installed, else fp32.

    bf16 is never the default: its speed depends too much on the CPU (benchmarks/RESULTS.md, speed).
    """
    from semsearch.runtime import cpu, openvino_runtime

    return Precision.INT8 if openvino_runtime.available() and cpu.has_fast_int8() else Precision.FP32


def load(model_dir: Path, sha256: str, precision: Precision, tokenizer: object, max_length: int,
         threads: int | None = None) -> Runtime:  # fmt: skip
    """The runtime that runs ``model_dir`` at ``precision`` on ``threads`` threads (None: every core)."""
    if precision is Precision.INT8:
        from semsearch.runtime import quantize

        return quantize.load(model_dir, sha256, tokenizer, max_length, threads)
    from semsearch.runtime.torch_runtime import TorchRuntime, load_model

    return TorchRuntime(load_model(model_dir), precision, threads)
