"""Encoding speed on SciFact: plain sentence-transformers against each of our precisions, in one run.

    .venv/bin/python benchmarks/encode_speed.py                          # all 5,183 docs (~15-20 min on 2 quiet cores)
    .venv/bin/python benchmarks/encode_speed.py --docs 1000 --precisions int8 fp32   # a quicker look

Prints one table: docs/s (wall clock), CPU seconds, tokens encoded and nDCG@10 (dense, SciFact test
qrels) for

- the peer: plain sentence-transformers, fp32, batch 64 (``model.encode``; it truncates each document
  at 256 tokens, so it encodes fewer tokens than we do), documents scored by their one vector;
- semsearch at each precision: every document split into 256-token windows overlapping by 32
  (9,631 windows for 5,183 documents), windows batched by length, documents scored by their best window.

Speed-up is docs/s against the peer in the same run. Queries are encoded the same way as the documents
(the peer with the peer, each precision with itself), and search is exact, so nDCG differences come
from the encoders alone. Model loading (and, for int8, making the quantized model the first time on a
machine, timed separately) is outside the timed part.
"""

from __future__ import annotations

import argparse
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
from semsearch.encoder import Encoder
from semsearch.evaluation import DEPTH, load_qrels, load_queries, score
from semsearch.ranking import Ranking, best_per_document
from semsearch.types import Precision

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
    return Row("sentence-transformers fp32, batch 64 (peer)", seconds, cpu, len(texts), tokens, ndcg)


def ours(precision: Precision, texts: list[str], doc_ids: np.ndarray, queries: dict[str, str], qrels: dict) -> Row:
    started = time.perf_counter()
    encoder = Encoder(precision=precision)
    setup = time.perf_counter() - started
    encoder.encode(texts[:8])  # warm-up
    cpu, started = cpu_seconds(), time.perf_counter()
    chunks = encoder.chunks(texts, OVERLAP)
    vectors = encoder.encode_ids([c.input_ids for c in chunks])
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    tokens = sum(len(c.input_ids) for c in chunks)
    query_vectors = encoder.encode(list(queries.values()))
    rows = np.array([doc_ids[c.doc] for c in chunks], dtype=object)
    ndcg = score(qrels, rankings(vectors, rows, query_vectors, list(queries)))["ndcg@10"]
    name = f"semsearch {precision}, {len(chunks)} windows (load {setup:.0f} s)"
    return Row(name, seconds, cpu, len(texts), tokens, ndcg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=None, help="Only the first N documents (default: all).")
    parser.add_argument("--precisions", nargs="+", default=[p.value for p in Precision], choices=list(Precision))
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
    for precision in map(Precision, args.precisions):
        rows.append(ours(precision, texts, doc_ids, queries, qrels))
        print(f"{precision} done: {rows[-1].docs / rows[-1].seconds:.1f} docs/s", flush=True)

    base = rows[0]
    print()
    print(f"SciFact, {len(texts)} documents, {len(queries)} test queries, {os.cpu_count()} CPUs")
    print("| encoder | docs/s | speed-up | CPU s | tokens encoded | tokens/s | nDCG@10 | vs fp32 |")
    print("|---|---|---|---|---|---|---|---|")
    fp32 = next((r.ndcg for r in rows if " fp32," in r.name and "peer" not in r.name), float("nan"))
    for r in rows:
        print(
            f"| {r.name} | {r.docs / r.seconds:.1f} | {base.seconds / r.seconds:.2f}x | {r.cpu_seconds:.0f} | "
            f"{r.tokens:,} | {r.tokens / r.seconds:,.0f} | {r.ndcg:.4f} | "
            f"{'' if r is base else f'{r.ndcg - fp32:+.4f}'} |"
        )
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
