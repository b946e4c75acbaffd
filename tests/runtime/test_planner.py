"""The runtime planner: it keeps the fastest runtime whose vectors stay near fp32, separately for bulk and
for single queries, and caches the plan per CPU, instruction set and weights."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from semsearch import runtime
from semsearch.runtime import cpu, planner
from semsearch.runtime.planner import Candidate, Model
from semsearch.types import Engine, Pooling, Precision

SPEEDS = {  # (precision, engine) -> (bulk tokens/s, query ms, cosine to fp32)
    (Precision.FP32, Engine.TORCH): (1000.0, 20.0, 1.0),
    (Precision.FP32, Engine.OPENVINO): (1700.0, 8.0, 0.9999999),
    (Precision.INT8, Engine.OPENVINO): (1800.0, 7.0, 0.95),  # fast, but its vectors are too far off
    (Precision.INT8_DYNAMIC, Engine.ONNXRUNTIME): (2600.0, 9.0, 0.993),
}


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[Precision, Engine]]:
    """Every runtime measures as SPEEDS says; the calls are recorded. The cache lives in ``tmp_path``."""
    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path))
    monkeypatch.setattr(planner, "candidates", lambda: list(SPEEDS))
    monkeypatch.setattr(planner, "calibration_windows", lambda model: [[101, 2000, 102]] * 4)
    monkeypatch.setattr(runtime, "load", lambda *args, **kwargs: None)
    monkeypatch.setattr(planner, "encode", lambda rt, windows, pooling: np.ones((len(windows), 2)))
    calls: list[tuple[Precision, Engine]] = []

    def measure(model: Model, precision: Precision, engine: Engine, windows: object, reference: object) -> Candidate:
        calls.append((precision, engine))
        bulk, query, cosine = SPEEDS[(precision, engine)]
        threads = 2 if engine is Engine.ONNXRUNTIME else 1  # as if its queries measured faster on both cores
        return Candidate(precision, engine, bulk, query, cosine, cosine >= planner.COSINE_FLOOR, threads)

    monkeypatch.setattr(planner, "measure_runtime", measure)
    return calls


def model(sha: str = "ab" * 32) -> Model:
    return Model(Path("/models/x"), sha, Pooling.MEAN, 256, lambda: None)


def test_the_plan_keeps_the_fastest_runtime_near_fp32_for_bulk_and_for_queries(fake: list) -> None:
    plan = planner.plan_for(model())
    assert plan.bulk == (Precision.INT8_DYNAMIC, Engine.ONNXRUNTIME)  # int8 (static) was faster but dropped
    assert plan.query_engine(Precision.FP32) is Engine.OPENVINO and plan.bulk_engine(Precision.FP32) is Engine.OPENVINO
    assert plan.query_engine(Precision.INT8) is None
    assert [c.kept for c in plan.candidates] == [True, True, False, True]
    assert any("dropped: cosine below" in line for line in plan.describe())


def test_the_plan_is_cached_per_cpu_and_weights(fake: list, monkeypatch: pytest.MonkeyPatch) -> None:
    planner.plan_for(model())
    assert len(fake) == 4
    planner.plan_for(model())  # cached: nothing measured
    assert len(fake) == 4
    assert planner.cached_plan("ab" * 32) is not None and planner.cached_plan("cd" * 32) is None
    planner.plan_for(model("cd" * 32))  # other weights: measured again
    assert len(fake) == 8
    monkeypatch.setattr(cpu, "model_name", lambda: "another CPU")
    assert planner.cached_plan("ab" * 32) is None  # another CPU string: measured again
    planner.plan_for(model())
    assert len(fake) == 12
    monkeypatch.setattr(cpu, "flags", lambda: frozenset({"avx2", "avx512_vnni"}))
    assert planner.cached_plan("ab" * 32) is None  # another instruction set too


def test_an_index_queries_at_its_own_precision_with_the_plan_fastest_engine(fake: list) -> None:
    planner.plan_for(model())
    sha = "ab" * 32
    assert runtime.engine_for(Precision.FP32, 1, sha) is Engine.OPENVINO
    assert runtime.engine_for(Precision.FP32, None, sha) is Engine.OPENVINO  # bulk at fp32: faster there too
    assert runtime.engine_for(Precision.INT8_DYNAMIC, 1, sha) is Engine.ONNXRUNTIME
    assert runtime.engine_for(Precision.INT8, None, sha) is Engine.OPENVINO  # the only engine int8 has
    assert runtime.best_precision(model()) is Precision.INT8_DYNAMIC


def test_an_unreadable_plan_is_measured_again(fake: list) -> None:
    planner.plan_path("ab" * 32).parent.mkdir(parents=True)
    planner.plan_path("ab" * 32).write_text("{not json")
    assert planner.cached_plan("ab" * 32) is None
    assert planner.plan_for(model()).bulk[0] is Precision.INT8_DYNAMIC


def test_a_query_uses_every_core_only_where_that_was_faster_idle_and_not_much_slower_busy() -> None:
    # median ms: one thread, every core, one thread beside a busy core, every core beside it
    assert planner.query_threads(2, 5.4, 2.9, 9.8, 11.0) == 2  # ONNX Runtime int8 on the 2-core EPYC
    assert planner.query_threads(2, 5.0, 3.0, 9.0, 180.0) == 1  # a pool that waits for a descheduled thread
    assert planner.query_threads(2, 5.0, 5.5, 9.0, 9.0) == 1  # no faster idle
    assert planner.query_threads(4, 5.0, 2.0, 9.0, 9.0 * planner.BUSY_TOLERANCE) == 4


def test_queries_run_on_the_threads_the_plan_chose(fake: list) -> None:
    sha = "ab" * 32
    assert runtime.query_threads(Precision.INT8_DYNAMIC, Engine.ONNXRUNTIME, sha) == 1  # no plan yet: one
    plan = planner.plan_for(model())
    assert runtime.query_threads(Precision.INT8_DYNAMIC, Engine.ONNXRUNTIME, sha) == 2
    assert runtime.query_threads(Precision.FP32, Engine.OPENVINO, sha) == 1
    assert runtime.query_threads(Precision.INT8, Engine.OPENVINO, sha) == 1  # dropped: never chosen
    assert any("on 2 threads" in line for line in plan.describe())
    timed = replace(plan, candidates=tuple(replace(c, query_timings={"1 thread": 2.5}) for c in plan.candidates))
    short, detailed = timed.describe(), timed.describe(detail=True)
    assert not any("query ms:" in line for line in short) and "      query ms: 1 thread 2.5" in detailed
    assert short[-1].startswith("  chosen: bulk ") and "queries at " in short[-1] and len(short) < len(detailed)
    assert planner.cached_plan(sha) == plan  # the threads survive the cache


def test_measuring_times_queries_on_each_thread_count_idle_and_beside_a_busy_core(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    from semsearch.models import weights_sha256

    spinners: list[subprocess.Popen] = []
    popen = subprocess.Popen
    monkeypatch.setattr(planner.subprocess, "Popen", lambda *a, **k: spinners.append(popen(*a, **k)) or spinners[-1])

    monkeypatch.setattr(cpu, "usable_cores", lambda: 2)
    tiny = Model(tiny_model, weights_sha256(tiny_model), Pooling.MEAN, 64, lambda: None)
    windows = [[101, *range(2000, 2000 + n), 102] for n in (5, 20, 40, 60)] * 8
    reference = planner.encode(runtime.load(tiny_model, tiny.sha256, Precision.FP32, lambda: None, 64, None,
                                            Engine.TORCH), windows, Pooling.MEAN)  # fmt: skip
    found = planner.measure_runtime(tiny, Precision.FP32, Engine.TORCH, windows, reference)
    assert list(found.query_timings) == ["1 thread", "2 threads", "1 thread, a core busy", "2 threads, a core busy"]
    assert all(ms > 0 for ms in found.query_timings.values()) and found.cosine > 0.9999 and found.kept
    timings = list(found.query_timings.values())
    assert found.query_threads == planner.query_threads(2, *timings)
    assert found.query_ms == timings[found.query_threads - 1]
    assert len(spinners) == 1 and spinners[0].poll() is not None  # the busy process ran, and is gone
    assert found.padding >= planner.PADDING_FLOOR  # torch's mask hides the padding


class WidthRecorder:
    """A runtime that records the width of every input it is given."""

    def __init__(self) -> None:
        self.widths: list[int] = []

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.widths.append(ids.shape[1])
        return np.ones((*ids.shape, 4), dtype=np.float32)

    def forward_all(self, batches):
        return (self.forward(ids, mask) for ids, mask in batches)


@pytest.mark.parametrize("engine", [Engine.OPENVINO, Engine.TORCH])
def test_queries_are_timed_padded_as_the_encoder_pads_them_in_each_engine(
    monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    """OpenVINO runs a single query of QUERY_WIDTH tokens on a model of that shape: the plan times that."""
    recorders: list[WidthRecorder] = []
    monkeypatch.setattr(runtime, "load", lambda *args: recorders.append(WidthRecorder()) or recorders[-1])
    monkeypatch.setattr(cpu, "usable_cores", lambda: 1)
    windows = [[101, *range(2000, 2030), 102]] * 4
    planner.measure_runtime(model(), Precision.FP32, engine, windows, np.ones((4, 4)) / 2)
    timed = recorders[1].widths  # the query runtime (the first is the bulk one)
    count = 1 + min(planner.QUERIES, len(windows))  # two together to warm up, then each query alone
    assert timed[:count] == [32 if engine is Engine.OPENVINO else 19] * count
    assert runtime.query_multiple(Engine.OPENVINO) == 32 and runtime.query_multiple(Engine.TORCH) == 1


class LeakyRuntime:
    """A runtime whose padding leaks into the real tokens' vectors (as a mask lost in a number format would)."""

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        hidden = np.ones((*ids.shape, 4), dtype=np.float32)
        hidden[..., 1] = 5.0 if ids.shape[1] >= planner.PADDED_TOKENS else -5.0  # every token sees the padding
        return hidden


def test_a_runtime_whose_vectors_change_with_padding_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    queries = [[101, 2000, 2001, 102], [101, 2002, 102]]
    assert planner.padding_cosine(LeakyRuntime(), queries, Pooling.MEAN) < planner.PADDING_FLOOR
    monkeypatch.setattr(runtime, "load", lambda *args: LeakyRuntime())
    monkeypatch.setattr(planner, "query_median", lambda *args: 1.0)
    monkeypatch.setattr(cpu, "usable_cores", lambda: 1)
    monkeypatch.setattr(planner, "encode", lambda rt, windows, pooling: np.ones((len(windows), 2)) / np.sqrt(2))
    windows = [[101, *range(2000, 2030), 102]] * 4
    found = planner.measure_runtime(model(), Precision.INT8, Engine.OPENVINO, windows, np.ones((4, 2)) / np.sqrt(2))
    assert found.cosine > 0.999 and not found.kept  # near fp32 in bulk, yet dropped
    plan = planner.Plan("cpu", "", (Precision.FP32, Engine.TORCH), {}, (found,), 1.0)
    assert any("padding changes its vectors" in line for line in plan.describe())


def test_bf16_runs_in_whichever_engine_the_plan_measured_faster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path))
    sha = "ef" * 32
    assert runtime.engine_for(Precision.BF16, 1, sha) is Engine.TORCH  # no plan: torch, the reference
    measured = (
        Candidate(Precision.BF16, Engine.TORCH, 2000.0, 9.0, 0.99998, True),
        Candidate(Precision.BF16, Engine.OPENVINO, 2500.0, 1.7, 0.99999, True),
    )
    plan = planner.Plan("cpu", "", (Precision.BF16, Engine.OPENVINO), {"bf16": Engine.OPENVINO}, measured, 1.0)
    planner.save(planner.plan_path(sha), json.dumps(plan.to_json()))
    assert runtime.engine_for(Precision.BF16, 1, sha) is Engine.OPENVINO
    assert runtime.engine_for(Precision.BF16, None, sha) is Engine.OPENVINO
    assert runtime.engine_for(Precision.FP16, None, sha) is Engine.TORCH
    monkeypatch.setattr(cpu, "has_bf16", lambda: True)
    assert (Precision.BF16, Engine.OPENVINO) in planner.candidates() or not runtime.openvino_runtime.available()
