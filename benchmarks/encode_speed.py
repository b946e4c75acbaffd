"""Encoding speed on SciFact: plain sentence-transformers against each of our precisions, in one run.

    .venv/bin/python benchmarks/encode_speed.py                          # all 5,183 docs (~15-20 min on 2 quiet cores)
    .venv/bin/python benchmarks/encode_speed.py --docs 1000 --runtimes fp32:torch int8-dynamic:onnxruntime

Prints one table: docs/s (wall clock), CPU seconds, tokens encoded and nDCG@10 (dense, SciFact test
qrels) for

- the peer: plain sentence-transformers, fp32, batch 64 (``model.encode``; it truncates each document
  at 256 tokens, so it encodes fewer tokens than we do), documents scored by their one vector;
- semsearch with each runtime this machine has (precision and engine, as the runtime planner sees them):
  every document split into 128-token windows overlapping by 32, windows batched by length, documents
  scored by their best window.

GFLOP/s is tokens/s times the model's flops per token (its layers' matrix work and attention over the
average window); "of peak" divides it by the CPU's peak for that number format, computed from its flags,
clock and cores (:func:`peak_gflops` states the assumptions): how far from the physical limit we are.

Speed-up is docs/s against the peer in the same run. Queries are encoded the same way as the documents
(the peer with the peer, each precision with itself), and search is exact, so nDCG differences come
from the encoders alone. Model loading (and, for int8, making the quantized model the first time on a
machine, timed separately) is outside the timed part.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's semsearch, not an installed one

import numpy as np

from semsearch import corpus
from semsearch.ann import exact_search
from semsearch.chunking import DEFAULT_WINDOW
from semsearch.encoder import Encoder
from semsearch.evaluation import DEPTH, load_qrels, load_queries, score
from semsearch.ranking import Ranking, best_per_document
from semsearch.runtime import cpu
from semsearch.runtime.planner import candidates
from semsearch.types import Engine, Precision

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"
OVERLAP = 32


@dataclass(frozen=True)
class Row:
    name: str
    seconds: float
    cpu_seconds: float
    docs: int
    tokens: int
    ndcg: float
    flops_per_token: float = 0.0
    peak: float = 0.0  # GFLOP/s the CPU can do at this precision (see peak_gflops)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rankings(vectors: np.ndarray, doc_of_row: np.ndarray, query_vectors: np.ndarray, ids: list[str]) -> dict:
    runs: dict[str, Ranking] = {}
    for query_id, query in zip(ids, query_vectors, strict=True):
        matches = exact_search(vectors, doc_of_row, query, len(vectors))
        runs[query_id] = best_per_document(matches)[:DEPTH]
    return runs


def peer(texts: list[str], doc_ids: np.ndarray, queries: dict[str, str], qrels: dict) -> Row:
    from sentence_transformers import SentenceTransformer

    from semsearch.models import default_model_dir

    model = SentenceTransformer(str(default_model_dir()), device="cpu")
    model.encode(texts[:64], batch_size=64)  # warm-up
    cpu, started = cpu_seconds(), time.perf_counter()
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    tokens = sum(min(len(ids), model.max_seq_length) for ids in model.tokenizer(texts)["input_ids"])
    query_vectors = model.encode(list(queries.values()), batch_size=64, normalize_embeddings=True)
    ndcg = score(qrels, rankings(vectors, doc_ids, query_vectors, list(queries)))["ndcg@10"]
    return Row("sentence-transformers fp32, batch 64 (peer)", seconds, cpu, len(texts), tokens, ndcg,
               flops_per_token(default_model_dir(), tokens / len(texts)), peak_gflops(Precision.FP32))  # fmt: skip


def ours(precision: Precision, engine: Engine, texts: list[str], doc_ids: np.ndarray, queries: dict[str, str],
         qrels: dict) -> Row:  # fmt: skip
    started = time.perf_counter()
    encoder = Encoder(precision=precision, engine=engine)
    setup = time.perf_counter() - started
    encoder.encode(texts[:8])  # warm-up
    cpu, started = cpu_seconds(), time.perf_counter()
    chunks = encoder.chunks(texts, OVERLAP, DEFAULT_WINDOW)  # as an index cuts them
    vectors = encoder.encode_ids([c.input_ids for c in chunks])
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    tokens = sum(len(c.input_ids) for c in chunks)
    query_vectors = encoder.encode(list(queries.values()))
    rows = np.array([doc_ids[c.doc] for c in chunks], dtype=object)
    ndcg = score(qrels, rankings(vectors, rows, query_vectors, list(queries)))["ndcg@10"]
    name = f"semsearch {precision} in {engine}, {len(chunks)} windows (load {setup:.0f} s)"
    return Row(name, seconds, cpu, len(texts), tokens, ndcg, flops_per_token(encoder.model_dir, tokens / len(chunks)),
               peak_gflops(precision))  # fmt: skip


def flops_per_token(model_dir: Path, window: float) -> float:
    """Multiply-adds x 2 per token of a BERT encoder: the projections and feed-forward of every layer, and
    attention over a window of ``window`` tokens (embeddings and norms are negligible)."""
    config = json.loads((model_dir / "config.json").read_text())
    layers, width, inner = config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]
    return 2.0 * layers * (4 * width * width + 2 * width * inner + 2 * window * width)


def peak_gflops(precision: Precision) -> float:
    """The CPU's peak for ``precision``'s arithmetic, from its flags and clock: fp32 FMA lanes per cycle
    (two 256-bit FMA units: 32 flops/cycle/core; two 512-bit units: 64, as Intel's AVX-512 CPUs and AMD's
    from Zen 5, family 26, have; Zen 4 runs AVX-512 on 256-bit units), int8 at 4x that with VNNI/AMX dot
    products and 2x without (AVX2's multiply-add pairs), bf16 at 2x with AVX-512 BF16/AMX.
    Stated assumptions, not a measurement: the clock is the highest ``cpu MHz`` in /proc/cpuinfo."""
    flags = cpu.flags()
    info = Path("/proc/cpuinfo").read_text().splitlines()
    mhz = max((float(line.split(":")[1]) for line in info if line.startswith("cpu MHz")), default=2000.0)
    family = next((int(line.split(":")[1]) for line in info if line.startswith("cpu family")), 0)
    vendor = next((line.split(":")[1].strip() for line in info if line.startswith("vendor_id")), "")
    full_width = vendor == "GenuineIntel" or (vendor == "AuthenticAMD" and family >= 26)
    per_cycle = 64.0 if full_width and "avx512f" in flags else 32.0 if "fma" in flags else 16.0
    if precision in (Precision.INT8, Precision.INT8_DYNAMIC):
        per_cycle *= 4 if cpu.has_fast_int8() else 2
    elif precision is Precision.BF16 and cpu.has_bf16():
        per_cycle *= 2
    return per_cycle * mhz / 1000 * cpu.usable_cores()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=None, help="Only the first N documents (default: all).")
    parser.add_argument("--runtimes", nargs="+", default=None,
                        help="precision:engine pairs, e.g. fp32:torch int8-dynamic:onnxruntime [default: every "
                             "runtime this machine has]")  # fmt: skip
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"SciFact not found at {DATA}")
    started = time.perf_counter()
    docs = list(corpus.load(DATA))[: args.docs]
    texts = [d.text for d in docs]
    doc_ids = np.array([d.id for d in docs], dtype=object)
    qrels = load_qrels(DATA / "qrels" / "test.tsv")
    if args.docs:  # judge only queries whose relevant documents are all in the subset
        kept = set(doc_ids)
        qrels = {q: rels for q, rels in qrels.items() if set(rels) <= kept}
    queries = {q: t for q, t in load_queries(DATA / "queries.jsonl").items() if q in qrels}
    qrels = {q: qrels[q] for q in queries}

    rows = [peer(texts, doc_ids, queries, qrels)]
    print(f"peer done: {rows[0].docs / rows[0].seconds:.1f} docs/s", flush=True)
    runtimes = ([(Precision(p), Engine(e)) for p, _, e in (r.partition(":") for r in args.runtimes)]
                if args.runtimes else candidates())  # fmt: skip
    for precision, engine in runtimes:
        rows.append(ours(precision, engine, texts, doc_ids, queries, qrels))
        print(f"{precision} in {engine} done: {rows[-1].docs / rows[-1].seconds:.1f} docs/s", flush=True)

    base = rows[0]
    print()
    print(f"SciFact, {len(texts)} documents, {len(queries)} test queries; CPU: {cpu.model_name()}, "
          f"{cpu.usable_cores()} cores")  # fmt: skip
    print("| encoder | docs/s | speed-up | CPU s | tokens encoded | tokens/s | GFLOP/s | of peak | nDCG@10 | vs fp32 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    fp32 = next((r.ndcg for r in rows if " fp32 in torch" in r.name), float("nan"))
    for r in rows:
        achieved = r.tokens / r.seconds * r.flops_per_token / 1e9
        share = f"{achieved / r.peak:.0%} of {r.peak:.0f}" if r.peak else ""
        print(
            f"| {r.name} | {r.docs / r.seconds:.1f} | {base.seconds / r.seconds:.2f}x | {r.cpu_seconds:.0f} | "
            f"{r.tokens:,} | {r.tokens / r.seconds:,.0f} | {achieved:.0f} | {share} | {r.ndcg:.4f} | "
            f"{'' if r is base else f'{r.ndcg - fp32:+.4f}'} |"
        )
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
