"""Retrieval quality and indexing behaviour on the shared BEIR sets, in one run, beside reference figures.

    .venv/bin/python benchmarks/quality.py                       # SciFact and NFCorpus, mean and cls pooling
    .venv/bin/python benchmarks/quality.py --datasets scifact --poolings mean

Prints, per dataset and pooling: nDCG@10 / Recall@100 / MRR@10 for dense, BM25 and hybrid, next to the
plain sentence-transformers figures of ../shared/data/README.md; then, on SciFact: agreement of the FAISS
and LanceDB top-10 (exact search), a filtered query on a field matching ~3% of documents, and the time of
re-running `index` on the unchanged corpus against the first run. Indexes go to indexes/bench-* and are
rebuilt from scratch unless --reuse is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semsearch import Index, runtime
from semsearch.evaluation import DEPTH, evaluate, load_qrels, load_queries
from semsearch.ingest import IndexOptions, build_index
from semsearch.types import Backend, Mode, Pooling, Precision

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# nDCG@10 of plain sentence-transformers (mean pooling), bm25s and their RRF: ../shared/data/README.md
REFERENCE = {
    "scifact": {Mode.DENSE: 0.645, Mode.BM25: 0.662, Mode.HYBRID: 0.687},
    "nfcorpus": {Mode.DENSE: 0.316, Mode.BM25: 0.308, Mode.HYBRID: 0.335},
}


def build(dataset: str, pooling: Pooling, precision: Precision, reuse: bool) -> tuple[Path, float]:
    target = Path("indexes") / f"bench-{dataset}-{pooling}-{precision}"
    if target.exists() and not reuse:
        shutil.rmtree(target)
    summary = build_index(DATA / dataset, target, IndexOptions(pooling=pooling, precision=precision))
    return target, summary.seconds


def quality_rows(dataset: str, pooling: Pooling, precision: Precision, index_dir: Path) -> list[str]:
    queries = load_queries(DATA / dataset / "queries.jsonl")
    qrels = load_qrels(DATA / dataset / "qrels" / "test.tsv")
    index = Index.open(index_dir)
    rows = []
    for mode in Mode:
        report = evaluate(lambda q, m=mode: index.rank(q, DEPTH, m), queries, qrels, progress=False)
        reference = REFERENCE[dataset][mode] if pooling is Pooling.MEAN else float("nan")
        rows.append(
            f"| {dataset} | {pooling} | {precision} | {mode} | {report.ndcg_at_10:.4f} | {reference:.3f} | "
            f"{report.recall_at_100:.4f} | {report.mrr_at_10:.4f} | {report.latency_ms_p50:.1f} |"
        )
    return rows


def backend_agreement(index_dir: Path) -> str:
    queries = load_queries(DATA / "scifact" / "queries.jsonl")
    judged = sorted(load_qrels(DATA / "scifact" / "qrels" / "test.tsv"))
    faiss, lance = Index.open(index_dir, Backend.FAISS), Index.open(index_dir, Backend.LANCEDB)
    same = sum(
        [d for d, _ in faiss.rank(queries[q], 10, Mode.DENSE)] == [d for d, _ in lance.rank(queries[q], 10, Mode.DENSE)]
        for q in judged
    )
    return f"FAISS vs LanceDB exact top-10 ids identical: {same}/{len(judged)} SciFact test queries"


def filtered_query(index_dir: Path) -> str:
    """Add a metadata field to a copy of the index (a metadata-only update: nothing is re-encoded)."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "index"
        shutil.copytree(index_dir, copy)
        source = Path(scratch) / "corpus.jsonl"
        with (DATA / "scifact" / "corpus.jsonl").open() as src, source.open("w") as out:
            for line in src:
                doc = json.loads(line)
                doc["bucket"] = int(doc["_id"]) % 33  # one bucket is about 3% of the documents
                out.write(json.dumps(doc) + "\n")
        summary = build_index(source, copy, IndexOptions(progress=False))
        index = Index.open(copy)
        condition = index.condition("bucket = 7")
        matching = len(index.store.scan(["doc_id"], f"chunk = 0 AND ({condition.sql})"))
        queries = list(load_queries(DATA / "scifact" / "queries.jsonl").values())[:50]
        k, full, correct = 10, 0, 0
        for query in queries:
            hits = index.search(query, k=k, mode=Mode.DENSE, where="bucket = 7").hits
            full += len(hits) == k
            correct += all(h.metadata["bucket"] == 7 for h in hits)
        share = matching / index.store.count_docs()
        return (
            f"filter 'bucket = 7' matches {matching} docs ({share:.1%}); {full}/{len(queries)} queries got k={k} hits, "
            f"{correct}/{len(queries)} with every hit matching (metadata update re-encoded {summary.encoded_docs} docs)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["scifact", "nfcorpus"], choices=sorted(REFERENCE))
    parser.add_argument("--poolings", nargs="+", default=["mean", "cls"], choices=[p.value for p in Pooling])
    parser.add_argument(
        "--precision",
        choices=[p.value for p in Precision],
        default=runtime.best_precision().value,
        help="Encoder precision of the indexes [default: the engine's default on this machine].",
    )
    parser.add_argument("--reuse", action="store_true", help="Keep existing indexes/bench-* (updated incrementally).")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA}")

    table = [
        "| dataset | pooling | precision | mode | nDCG@10 | reference | Recall@100 | MRR@10 | p50 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    precision = Precision(args.precision)
    for dataset in args.datasets:
        for pooling in map(Pooling, args.poolings):
            index_dir, first = build(dataset, pooling, precision, args.reuse)
            table += quality_rows(dataset, pooling, precision, index_dir)
            if dataset == "scifact" and pooling is Pooling.MEAN:
                started = time.perf_counter()
                again = build_index(DATA / dataset, index_dir, IndexOptions(progress=False))
                rerun = time.perf_counter() - started
                notes.append(
                    f"re-index unchanged SciFact: {rerun:.1f} s vs first run {first:.1f} s ({rerun / first:.1%}); "
                    f"re-encoded {again.encoded_docs} docs, {again.unchanged} unchanged"
                )
                notes.append(backend_agreement(index_dir))
                notes.append(filtered_query(index_dir))
    print("\n".join(table))
    print()
    print("\n".join(f"- {n}" for n in notes))


if __name__ == "__main__":
    main()
