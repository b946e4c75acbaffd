"""Which runtime is fastest on this CPU, found by measuring, not assumed from the CPU's flags.

The first time a model meets a machine, every runtime available here encodes a fixed calibration set
(:func:`calibration_windows`, from the text shipped with semsearch): in bulk (every usable core, batches
of windows) and as single queries (one short text at a time, on one thread and on every usable core, each
also while another process keeps one core busy). A query runs on every core only where that was faster on
the idle machine and not much slower beside the busy core (:func:`query_threads`): a thread pool that waits for a
descheduled thread can make a query many times slower on a busy machine, where one thread never waits.
A runtime whose vectors fall below :data:`COSINE_FLOOR` (the mean cosine to the torch fp32 vectors of the
same windows) is dropped, whatever its speed, and so is one whose vectors change when a window is padded
(:func:`padding_cosine`). The plan keeps the fastest for bulk encoding (which sets a
new index's precision) and, for each precision, the fastest engine for queries: an index encodes its queries at its own
precision, with whichever engine of that precision is fastest (fp32 in torch or OpenVINO: the same
vectors). The plan is saved under the cache folder, keyed by the CPU's model name, its instruction set,
the weights' hash and the libraries' versions: another CPU, other weights or an upgrade plan again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata, resources
from pathlib import Path
from statistics import median

import numpy as np

from semsearch.fsutil import atomic_write_text
from semsearch.pooling import normalize, pool
from semsearch.runtime import cpu
from semsearch.runtime.base import CPU_BATCH_TOKENS, Runtime, pad
from semsearch.runtime.cache import cache_dir, notice
from semsearch.types import Engine, Pooling, Precision

log = logging.getLogger(__name__)

RECIPE = 7  # bump when what is measured (or how a runtime runs) changes: older plans are then made again
# Mean cosine to torch fp32 a runtime must keep (per window, over the calibration set). The int8 paths sit
# near it on CPUs without int8 dot products; their retrieval quality is measured in benchmarks/RESULTS.md.
COSINE_FLOOR = 0.99
# A window padded in a batch must give about the vector it gives alone: the lowest cosine a runtime may show
# between the two over the calibration queries. A mask lost in a number format moves vectors far (OpenVINO's int8
# model with its other operations in bf16 did); int8 with activation scales set at run time moves them by its
# quantization noise, as its batchmates do in bulk anyway, and passes (benchmarks/RESULTS.md).
PADDING_FLOOR = 0.95
PADDED_TOKENS = 64
BULK_WINDOWS = 192  # calibration windows timed in bulk: a dozen batches, so every stream stays busy
QUERIES = 24  # single queries timed, one at a time
LIBRARIES = ("torch", "openvino", "nncf", "onnxruntime", "semsearch")


@dataclass(frozen=True)
class Candidate:
    """One way to run the model, and what it measured."""

    precision: Precision
    engine: Engine
    bulk_tokens_per_second: float = 0.0
    query_ms: float = 0.0  # median of a single query, on query_threads threads
    cosine: float = 0.0  # mean cosine to torch fp32 over the calibration windows
    kept: bool = False  # at or above the floor
    query_threads: int = 1  # threads a single query runs on (:func:`query_threads`)
    query_timings: dict[str, float] = field(default_factory=dict)  # median ms of each way a query was timed
    padding: float = 1.0  # lowest cosine of a query's vector alone to its vector padded (:data:`PADDING_FLOOR`)


@dataclass(frozen=True)
class Plan:
    """What was measured on this machine, and what it chose."""

    cpu: str
    flags: str
    bulk: tuple[Precision, Engine]  # for a new index: the fastest kept runtime in bulk
    query: dict[str, Engine]  # precision -> the fastest kept engine for single queries
    candidates: tuple[Candidate, ...]
    seconds: float  # what measuring took

    def query_engine(self, precision: Precision) -> Engine | None:
        """The fastest kept engine for single queries at ``precision`` (None if none was kept)."""
        engine = self.query.get(str(precision))
        return Engine(engine) if engine else None

    def query_threads(self, precision: Precision, engine: Engine) -> int:
        """Threads a single query at ``precision`` in ``engine`` runs on (1 where it was not measured)."""
        found = [c for c in self.candidates if c.precision is precision and c.engine is engine and c.kept]
        return found[0].query_threads if found else 1

    def bulk_engine(self, precision: Precision) -> Engine | None:
        """The fastest kept engine for bulk encoding at ``precision`` (an index keeps its precision)."""
        kept = [c for c in self.candidates if c.kept and c.precision is precision]
        return max(kept, key=lambda c: c.bulk_tokens_per_second).engine if kept else None

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["bulk"] = [str(self.bulk[0]), str(self.bulk[1])]
        data["candidates"] = [{**asdict(c), "precision": str(c.precision), "engine": str(c.engine)}
                              for c in self.candidates]  # fmt: skip
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Plan:
        bulk = data["bulk"]
        assert isinstance(bulk, list)
        raw = data["candidates"]
        assert isinstance(raw, list)
        candidates = tuple(
            Candidate(**{**c, "precision": Precision(c["precision"]), "engine": Engine(c["engine"])}) for c in raw
        )
        query = data["query"]
        assert isinstance(query, dict)
        return cls(
            cpu=str(data["cpu"]), flags=str(data["flags"]), bulk=(Precision(bulk[0]), Engine(bulk[1])),
            query={str(k): Engine(v) for k, v in query.items()}, candidates=candidates,
            seconds=float(data["seconds"]),  # type: ignore[arg-type]
        )  # fmt: skip

    def describe(self, detail: bool = False) -> list[str]:
        """Lines for a person: each runtime's figures (with ``detail``, its query timed each way), and the
        choices."""
        lines = [f"runtime plan for {self.cpu} (measured in {self.seconds:.0f} s):"]
        for c in self.candidates:
            verdict = "" if c.kept else f"  (dropped: cosine below {COSINE_FLOOR})"
            if c.padding < PADDING_FLOOR:
                verdict = f"  (dropped: padding changes its vectors, cosine {c.padding:.4f})"
            threads = threads_word(c.query_threads)
            lines.append(
                f"  {c.precision:<12} {c.engine:<11} bulk {c.bulk_tokens_per_second:>8,.0f} tokens/s  "
                f"query {c.query_ms:6.1f} ms on {threads}  cosine {c.cosine:.5f}{verdict}"
            )
            if detail and c.query_timings:
                lines.append("      query ms: " + ", ".join(f"{way} {ms:.1f}" for way, ms in c.query_timings.items()))
        queries = ", ".join(f"{precision} in {engine}" for precision, engine in sorted(self.query.items()))
        lines.append(f"  chosen: bulk {self.bulk[0]} in {self.bulk[1]}; queries at {queries}")
        return lines


def candidates() -> list[tuple[Precision, Engine]]:
    """The runtimes this machine can run: fp32 in torch always, the others where their library is
    installed (bf16 only where the CPU computes in bf16: elsewhere it is emulated, many times slower)."""
    from semsearch.runtime import onnx_runtime, openvino_runtime

    found = [(Precision.FP32, Engine.TORCH)]
    if openvino_runtime.available():
        found += [(Precision.FP32, Engine.OPENVINO), (Precision.INT8, Engine.OPENVINO)]
    if onnx_runtime.available():
        found.append((Precision.INT8_DYNAMIC, Engine.ONNXRUNTIME))
    if cpu.has_bf16():
        found.append((Precision.BF16, Engine.TORCH))
        if openvino_runtime.available():
            found.append((Precision.BF16, Engine.OPENVINO))
    return found


def plan_key(sha256: str) -> str:
    """What a plan depends on: the CPU (model name and instruction set), the weights, the libraries."""
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name}=none")
    digest = hashlib.sha256()
    for part in (f"recipe {RECIPE}", cpu.model_name(), " ".join(sorted(cpu.flags())), sha256, *versions):
        digest.update(part.encode() + b"\n")
    return digest.hexdigest()[:32]


def plan_path(sha256: str) -> Path:
    return cache_dir() / "plans" / f"{plan_key(sha256)}.json"


def cached_plan(sha256: str) -> Plan | None:
    """The plan made earlier on this machine for these weights, if any (an unreadable one is ignored)."""
    path = plan_path(sha256)
    if not path.is_file():
        return None
    try:
        return Plan.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
        log.warning("ignoring the runtime plan %s (%s); measuring again", path, exc)
        return None


@dataclass(frozen=True)
class Model:
    """What measuring needs of a model: where it is, its weights' hash, its pooling, and its tokenizer
    (a callable: loading transformers' tokenizer is for when measuring happens)."""

    model_dir: Path
    sha256: str
    pooling: Pooling
    max_length: int
    tokenizer: Callable[[], object]


Measure = Callable[[Model, Precision, Engine, list[list[int]], np.ndarray], Candidate]


def plan_for(model: Model, measure: Measure | None = None) -> Plan:
    """The runtime plan for ``model``'s weights on this machine: the cached one, else one measured now and
    saved (``measure`` times one runtime; tests give their own)."""
    found = cached_plan(model.sha256)
    if found is not None:
        return found
    made = make_plan(model, measure or measure_runtime)
    save(plan_path(model.sha256), json.dumps(made.to_json(), indent=2) + "\n")
    for line in made.describe(detail=True):
        log.info("%s", line)
    return made


def make_plan(model: Model, measure: Measure) -> Plan:
    from semsearch.runtime import load

    started = time.perf_counter()
    options = candidates()
    notice(f"measuring {len(options)} ways to run the model on this CPU, once ...")
    windows = calibration_windows(model)
    reference = encode(load(model.model_dir, model.sha256, Precision.FP32, model.tokenizer, model.max_length,
                            None, Engine.TORCH), windows, model.pooling)  # fmt: skip
    measured = [measure(model, precision, engine, windows, reference) for precision, engine in options]
    kept = [c for c in measured if c.kept] or [measured[0]]  # torch fp32 is the reference: always kept
    fastest = max(kept, key=lambda c: c.bulk_tokens_per_second)
    query: dict[str, Engine] = {}
    for precision in {c.precision for c in kept}:
        best = min((c for c in kept if c.precision is precision), key=lambda c: c.query_ms)
        query[str(precision)] = best.engine
    return Plan(
        cpu=cpu.model_name(), flags=" ".join(sorted(cpu.flags() & INTERESTING_FLAGS)),
        bulk=(fastest.precision, fastest.engine), query=query, candidates=tuple(measured),
        seconds=time.perf_counter() - started,
    )  # fmt: skip


INTERESTING_FLAGS = frozenset({"avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16",
                               "amx_int8", "amx_tile", "avx512_fp16"})  # fmt: skip


def measure_runtime(
    model: Model, precision: Precision, engine: Engine, windows: list[list[int]], reference: np.ndarray
) -> Candidate:
    """Time one runtime on the calibration windows, in bulk and as single queries, and check its vectors."""
    from semsearch.runtime import load, query_multiple

    bulk = load(model.model_dir, model.sha256, precision, model.tokenizer, model.max_length, None, engine)
    encode(bulk, windows[:8], model.pooling)  # warm up
    started = time.perf_counter()
    vectors = encode(bulk, windows, model.pooling)
    tokens_per_second = sum(len(w) for w in windows) / (time.perf_counter() - started)
    cosine = float(np.mean(np.sum(vectors * reference, axis=1)))
    del bulk
    queries = [w[:18] + w[-1:] for w in windows[:QUERIES]]  # short texts: a window's first tokens, closed
    cores = cpu.usable_cores()
    runtimes = {threads: load(model.model_dir, model.sha256, precision, model.tokenizer, model.max_length,
                              threads, engine) for threads in sorted({1, cores})}  # fmt: skip
    multiple = query_multiple(engine)  # queries padded as the encoder pads them in this engine
    timings = {threads_word(t): query_median(r, queries, model.pooling, multiple) for t, r in runtimes.items()}
    if cores > 1:
        with one_core_busy():
            timings |= {f"{threads_word(t)}, a core busy": query_median(r, queries, model.pooling, multiple)
                        for t, r in runtimes.items()}  # fmt: skip
    ways = list(timings.values())
    threads = query_threads(cores, *ways) if cores > 1 else 1
    chosen = ways[0] if threads == 1 else ways[1]
    padding = min(padding_cosine(r, queries, model.pooling) for r in runtimes.values())
    kept = cosine >= COSINE_FLOOR and padding >= PADDING_FLOOR
    return Candidate(precision, engine, tokens_per_second, chosen, cosine, kept, threads, timings, padding)


def padding_cosine(runtime: Runtime, queries: list[list[int]], pooling: Pooling) -> float:
    """The lowest cosine between a query's vector encoded alone and encoded padded to a multiple of
    :data:`PADDED_TOKENS` tokens (:func:`pad`), as a batch pads its shorter windows: the mask must hide the
    padding whatever the number format."""

    def vector(query: list[int], multiple: int) -> np.ndarray:
        ids, mask = pad([query], multiple)
        return normalize(pool(runtime.forward(ids, mask), mask.astype(np.float32), pooling))

    return min(float(np.sum(vector(query, 1) * vector(query, PADDED_TOKENS))) for query in queries)


# A query may use every core when, beside a busy core, it is at most this much slower than on one thread.
BUSY_TOLERANCE = 1.2


def query_threads(cores: int, one: float, many: float, one_busy: float, many_busy: float) -> int:
    """Threads for a single query, from its median ms on one thread and on ``cores`` threads, on the idle
    machine and beside a busy core: every core only where that is faster idle and not much slower busy."""
    return cores if many < one and many_busy <= one_busy * BUSY_TOLERANCE else 1


def threads_word(count: int) -> str:
    return f"{count} thread{'s' if count > 1 else ''}"


def query_median(runtime: Runtime, queries: list[list[int]], pooling: Pooling, multiple: int = 1) -> float:
    """Median ms of encoding each of ``queries`` alone, padded to a multiple of ``multiple`` tokens (after two to
    warm up)."""
    encode(runtime, queries[:2], pooling, multiple=multiple)
    times = []
    for query in queries:
        began = time.perf_counter()
        encode(runtime, [query], pooling, multiple=multiple)
        times.append((time.perf_counter() - began) * 1000)
    return median(times)


@contextmanager
def one_core_busy() -> Iterator[None]:
    """Another process spinning on one core while the block runs: a machine doing other work."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.05)  # let it start spinning
        yield
    finally:
        spinner.kill()
        spinner.wait()


def encode(runtime: Runtime, windows: list[list[int]], pooling: Pooling, batch: int = CPU_BATCH_TOKENS // 128,
           multiple: int = 1) -> np.ndarray:  # fmt: skip
    """Unit vectors of ``windows`` (in order), batches of ``batch`` windows (padded to a multiple of ``multiple``
    tokens), as the encoder batches and pools the calibration's 128-token windows."""
    out = []
    padded = [pad(windows[begin : begin + batch], multiple) for begin in range(0, len(windows), batch)]
    for (_, mask), hidden in zip(padded, runtime.forward_all(padded), strict=True):
        out.append(normalize(pool(hidden, mask.astype(np.float32), pooling)))
    return np.concatenate(out)


def calibration_windows(model: Model) -> list[list[int]]:
    """:data:`BULK_WINDOWS` token windows of the calibration text shipped with semsearch, cut as an index
    cuts documents (128 tokens, 32 shared), repeated as needed."""
    from semsearch.chunking import ChunkConfig, split

    tokenizer = model.tokenizer()
    text = resources.files("semsearch").joinpath("data/calibration.txt").read_text(encoding="utf-8")
    window = min(128, model.max_length)
    windows = [c.input_ids for c in split(tokenizer, [text], ChunkConfig(window, 32))]  # type: ignore[arg-type]
    lines = [line for line in text.splitlines() if line.strip()]
    windows += [c.input_ids for c in split(tokenizer, lines, ChunkConfig(window, 0))]  # type: ignore[arg-type]
    return list(_cycle(windows, BULK_WINDOWS))


def _cycle(items: list[list[int]], count: int) -> Iterator[list[int]]:
    for position in range(count):
        yield items[position % len(items)]


def save(path: Path, text: str) -> None:
    """Save a plan; a cache folder that cannot be written only costs measuring again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except OSError as exc:
        log.warning("cannot save the runtime plan in %s (%s)", path, exc)
