"""Single-query latency on the SciFact index, end to end in-process, dense and hybrid, in one run.

    .venv/bin/python benchmarks/latency.py                        # builds indexes/bench-latency-scifact if missing
    .venv/bin/python benchmarks/latency.py --index indexes/scifact   # an existing SciFact index

Prints p50/p99 over the 300 SciFact test queries, one at a time, of ``Index.search(query, k=10)``: encode
the query, search the vectors (and BM25 for hybrid), fuse, and fetch the hits' text and metadata from the
store, exactly what a caller gets (a store of SciFact's size holds its documents in memory,
:mod:`semsearch.store.held`; a stage line gives Lance's take of the same hits beside it). Each query is searched
in every way in turn (three rounds), so a machine slower for a while slows each way alike. The model and
indexes load once before timing (the first query is a warm-up). Beside it, the stages' own medians, and the
peer: plain sentence-transformers ``encode`` of the query plus a FAISS ``IndexFlatIP`` search over the same
vectors (no hit fetching), the code a user would otherwise glue together by hand. Run time: about 1 minute
with an index (the first build of the index adds the indexing time).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's semsearch, not an installed one

import numpy as np

from semsearch import Index
from semsearch.encoder import Encoder
from semsearch.evaluation import load_qrels, load_queries
from semsearch.ingest import IndexOptions, build_index
from semsearch.manifest import Manifest
from semsearch.ranking import fuse
from semsearch.runtime import cpu
from semsearch.runtime.planner import plan_for
from semsearch.types import DEFAULT_FUSION, Mode, Precision

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"


def timed(function, items: list[str]) -> tuple[np.ndarray, float]:
    """Wall ms per call, and this process's CPU ms per call (steadier than wall time on a busy machine)."""
    for item in (items[0], max(items, key=len)):  # warm-ups: the longest makes the model for longer queries
        function(item)
    times = []
    cpu = time.process_time()
    for item in items:
        started = time.perf_counter()
        function(item)
        times.append((time.perf_counter() - started) * 1000)
    return np.array(times), (time.process_time() - cpu) * 1000 / len(items)


def interleaved(
    searches: dict[str, Callable[[str], object]], queries: list[str], rounds: int, reset: Callable[[], None]
) -> dict[str, tuple[np.ndarray, float]]:
    """Like :func:`timed` for each search, taken in turn on each query (the first of them moving round), so
    that a machine slower for a while slows every search alike. ``reset`` runs before each call (it clears
    the query vector cache: every search encodes its query)."""
    names = list(searches)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu_ms = dict.fromkeys(names, 0.0)
    for name in names:
        for query in (queries[0], max(queries, key=len)):  # warm-ups, as in timed()
            searches[name](query)
    turn = 0
    for _ in range(rounds):
        for query in queries:
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                reset()
                began, cpu = time.perf_counter(), time.process_time()
                searches[name](query)
                times[name].append((time.perf_counter() - began) * 1000)
                cpu_ms[name] += (time.process_time() - cpu) * 1000
            turn += 1
    return {name: (np.array(times[name]), cpu_ms[name] / len(times[name])) for name in names}


def peer(index: Index, queries: list[str]) -> tuple[np.ndarray, float]:
    import faiss
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(index.encoder.identity.path), device="cpu")
    rows = index.store.scan(["vector"])
    vectors = np.asarray(rows["vector"].combine_chunks().flatten().to_numpy(), dtype=np.float32).reshape(
        -1, index.manifest.dim
    )
    flat = faiss.IndexFlatIP(index.manifest.dim)
    flat.add(vectors)
    # The first 100 queries: with its default threads the peer can take a second a query on a busy machine.
    return timed(lambda q: flat.search(model.encode([q], normalize_embeddings=True), 20), queries[:100])


def row(name: str, measured: tuple[np.ndarray, float]) -> str:
    times, cpu = measured
    return (
        f"| {name} | {np.percentile(times, 50):.1f} | {np.percentile(times, 99):.1f} | {times.mean():.1f} | {cpu:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("indexes/bench-latency-scifact"))
    parser.add_argument("--rounds", type=int, default=3, help="times each query is searched in each way")
    args = parser.parse_args()
    started = time.perf_counter()
    if not (args.index / "manifest.json").is_file():
        summary = build_index(DATA, args.index, IndexOptions())
        print(f"built {args.index} in {summary.seconds:.0f} s", flush=True)
    qrels = load_qrels(DATA / "qrels" / "test.tsv")
    queries = [text for qid, text in load_queries(DATA / "queries.jsonl").items() if qid in qrels]
    manifest = Manifest.load(args.index)
    # The runtime plan, as the first index on this machine makes it (queries then run on the threads it chose).
    plan = plan_for(Encoder(manifest.model_spec, manifest.pooling, Precision.FP32).planner_model())
    index = Index.open(args.index)
    index.search(queries[0], k=10, mode=Mode.HYBRID)  # loads the model, vectors and BM25 once
    vector = index.encoder.encode([queries[0]])[0]
    ranked = index.rank(queries[0], 10, Mode.HYBRID)

    table = [
        "| what (300 SciFact test queries, one at a time) | p50 ms | p99 ms | mean ms | CPU ms |",
        "|---|---|---|---|---|",
    ]
    searches = {
        f"semsearch search, {mode}, k=10 (end to end)": lambda q, m=mode: index.search(q, 10, m)
        for mode in (Mode.DENSE, Mode.HYBRID)
    }
    if index.fusion != DEFAULT_FUSION:  # an index made before the default changed: time a new index's too
        searches[f"semsearch search, hybrid by {DEFAULT_FUSION} (a new index's default), k=10 (end to end)"] = (
            lambda q: index.search(q, 10, Mode.HYBRID, fusion=DEFAULT_FUSION)
        )
    searches[f"semsearch search, hybrid by {DEFAULT_FUSION} with feedback=False, k=10 (end to end)"] = lambda q: (
        index.search(q, 10, Mode.HYBRID, fusion=DEFAULT_FUSION, feedback=False)
    )
    measured = interleaved(searches, queries, args.rounds, index._query_vectors.cache_clear)
    table += [row(name, times) for name, times in measured.items()]
    table.append(row("  stage: encode the query", timed(lambda q: index.encoder.encode([q]), queries)))
    table.append(row("  stage: vector search (28 chunks)", timed(lambda q: index.vectors.search(vector, 28), queries)))
    table.append(row("  stage: BM25 top 100", timed(lambda q: index.bm25.top(q, 100), queries)))
    dense, lexical = index.rank(queries[0], 100, Mode.DENSE), index.rank(queries[0], 100, Mode.BM25)
    table.append(
        row(
            f"  stage: fuse the two top 100 ({index.fusion})",
            timed(lambda q: fuse(dense, lexical, index.fusion), queries),
        )
    )
    held = "held in memory" if index.store.holds_documents else "taken"
    table.append(row(f"  stage: fetch 10 hits from the store ({held})", timed(lambda q: index.hits(ranked), queries)))
    ids = [doc_id for doc_id, _ in ranked]
    table.append(row("  stage: the same taken from the table (a store too large to hold)",
                     timed(lambda q: index.store.documents(ids), queries)))  # fmt: skip
    table.append(
        row("peer: sentence-transformers encode + FAISS IndexFlatIP, no fetch (100 queries)", peer(index, queries))
    )
    print(
        f"index {args.index}: {index.info().query_engine}, {index.vectors.describe()}, fusion {index.fusion}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"CPU: {cpu.model_name()}, flags {plan.flags}")
    print("\n".join(table))
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
