"""How the transformer runs: one runtime per file behind the :class:`Runtime` protocol.

- :mod:`~semsearch.runtime.torch_runtime`: torch, fp32 (the reference) or bf16 autocast;
- :mod:`~semsearch.runtime.openvino_runtime`: OpenVINO, running the fp32 graph that
  :mod:`~semsearch.runtime.export` makes once per set of weights (in fp32, or in bf16 where the CPU computes
  in bf16), or the int8 one that :mod:`~semsearch.runtime.quantize` makes.

:func:`load` picks the runtime for a precision; :func:`best_precision` is the default for a new index.
Importing this package is cheap: torch and OpenVINO load only with the runtime that needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from semsearch.errors import ModelError
from semsearch.runtime.base import Runtime, bert_inputs, pad
from semsearch.types import Engine, Precision

if TYPE_CHECKING:
    from semsearch.runtime.planner import Model, Plan

__all__ = ["Runtime", "bert_inputs", "best_precision", "engine_for", "load", "pad"]


def best_precision(model: Model | None = None) -> Precision:
    """The precision of a new index: the plan's bulk choice for ``model`` on this CPU (measured the first
    time, :mod:`.planner`); without a model, int8 where the CPU has int8 dot products and OpenVINO is
    installed, else fp32. With a CUDA GPU: fp16 on it."""
    from semsearch.gpu import cuda_available

    if cuda_available():
        return Precision.FP16
    if model is not None:
        from semsearch.runtime.planner import plan_for

        return plan_for(model).bulk[0]
    from semsearch.runtime import cpu, openvino_runtime

    return Precision.INT8 if openvino_runtime.available() and cpu.has_fast_int8() else Precision.FP32


def engine_for(precision: Precision, threads: int | None, sha256: str | None = None) -> Engine:
    """Which engine runs ``precision`` for a job on ``threads`` threads (1: a single query; None: bulk).

    int8 runs only in OpenVINO, int8-dynamic only in ONNX Runtime, fp16 only in torch. fp32 runs in torch
    and OpenVINO with the same vectors, and so does bf16 (torch's autocast, or OpenVINO's bf16 inference):
    the measured plan for these weights (``sha256``) says which is faster here. With no plan yet, fp32
    queries go to OpenVINO where it is installed (it starts without importing torch or transformers), and
    the rest stays with torch, the reference.
    """
    from semsearch.runtime import openvino_runtime

    if precision is Precision.INT8:
        return Engine.OPENVINO
    if precision is Precision.INT8_DYNAMIC:
        return Engine.ONNXRUNTIME
    if precision not in (Precision.FP32, Precision.BF16):
        return Engine.TORCH
    plan = _cached_plan(sha256)
    if plan is not None:
        if threads == 1 and (engine := plan.query_engine(precision)) is not None:
            return engine
        if threads != 1 and (engine := plan.bulk_engine(precision)) is not None:
            return engine
    fp32_query = precision is Precision.FP32 and threads == 1
    return Engine.OPENVINO if fp32_query and openvino_runtime.available() else Engine.TORCH


def query_multiple(engine: Engine) -> int:
    """Short texts (queries) in ``engine`` are padded to a multiple of this many tokens: OpenVINO prepares its
    kernels for each input shape it meets, and runs a single query of
    :data:`~semsearch.runtime.openvino_runtime.QUERY_WIDTH` tokens on a model of that shape alone."""
    from semsearch.runtime.openvino_runtime import QUERY_WIDTH

    return QUERY_WIDTH if engine is Engine.OPENVINO else 1


def query_threads(precision: Precision, engine: Engine, sha256: str) -> int:
    """Threads a single query runs on at ``precision`` in ``engine``: what the measured plan for these
    weights chose (every usable core where that was faster, idle and busy), else one."""
    plan = _cached_plan(sha256)
    return plan.query_threads(precision, engine) if plan is not None else 1


def _cached_plan(sha256: str | None) -> Plan | None:
    if sha256 is None:
        return None
    from semsearch.runtime.planner import cached_plan

    return cached_plan(sha256)


def load(model_dir: Path, sha256: str, precision: Precision, tokenizer: Callable[[], object], max_length: int,
         threads: int | None = None, engine: Engine | None = None) -> Runtime:  # fmt: skip
    """The runtime that runs ``model_dir`` at ``precision`` on ``threads`` threads (None: every core), in
    ``engine`` (None: :func:`engine_for`). ``tokenizer`` gives the model's tokenizer, when making the int8
    model needs one."""
    engine = engine or engine_for(precision, threads, sha256)
    if precision is Precision.INT8_DYNAMIC:
        from semsearch.runtime import onnx_runtime
        from semsearch.runtime.export import int8_dynamic_graph

        if not onnx_runtime.available():
            raise ModelError("precision int8-dynamic needs the 'onnxruntime' package: pip install onnxruntime")
        return onnx_runtime.OnnxRuntime(int8_dynamic_graph(model_dir, sha256), threads)
    if precision is Precision.INT8:
        from semsearch.runtime import quantize

        return quantize.load(model_dir, sha256, tokenizer, max_length, threads)
    if engine is Engine.OPENVINO:
        if precision not in (Precision.FP32, Precision.BF16):
            raise ModelError(f"OpenVINO runs fp32, bf16 and int8 here, not {precision}")
        from semsearch.runtime.export import fp32_graph
        from semsearch.runtime.openvino_runtime import OpenVinoRuntime

        compute = "bf16" if precision is Precision.BF16 else "f32"
        return OpenVinoRuntime(fp32_graph(model_dir, sha256), threads, compute)
    from semsearch.runtime.torch_runtime import TorchRuntime, load_model

    return TorchRuntime(load_model(model_dir), precision, threads)
