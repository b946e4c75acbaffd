"""BM25 at scale: Lance's own inverted (full-text) index against semsearch's bm25s, one run, same documents.

    python benchmarks/lance_fts.py [--data ../shared/data] [--datasets scifact nfcorpus]

bm25s keeps its sparse matrix in RAM, which stops somewhere past tens of millions of documents; Lance's
inverted index lives in the store (object storage included) and is built by Lance. Before it is offered for
hybrid search at scale its quality must hold: nDCG@10 on the test qrels of each dataset, each document's
title and text (as an index holds them), every test query, query latency p50, build time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import lance
import pyarrow as pa

from semsearch.bm25 import BM25
from semsearch.evaluation import evaluate, load_qrels, load_queries

ROOT = Path(__file__).resolve().parent.parent


def run(data: Path, scratch: Path) -> dict[str, dict[str, float]]:
    docs = [json.loads(line) for line in (data / "corpus.jsonl").open()]
    ids = [d["_id"] for d in docs]
    texts = [f"{d.get('title', '')} {d['text']}".strip() for d in docs]
    queries, qrels = load_queries(data / "queries.jsonl"), load_qrels(data / "qrels" / "test.tsv")
    asked = {q: text for q, text in queries.items() if q in qrels}
    results = {}

    started = time.perf_counter()
    bm25 = BM25.build(ids, texts)
    built = time.perf_counter() - started
    report = evaluate(lambda text: bm25.top(text, 100), asked, qrels)
    results["bm25s"] = {"ndcg@10": report.ndcg_at_10, "build_s": built, "p50_ms": report.latency_ms_p50}

    dataset = lance.write_dataset(pa.table({"id": ids, "text": texts}), str(scratch / f"{data.name}.lance"))
    started = time.perf_counter()
    dataset.create_scalar_index("text", index_type="INVERTED", with_position=False)
    built = time.perf_counter() - started

    def search(text: str) -> list[tuple[str, float]]:
        rows = dataset.to_table(full_text_query=text, columns=["id", "_score"], limit=100)
        return list(zip(rows["id"].to_pylist(), rows["_score"].to_pylist(), strict=True))

    report = evaluate(search, asked, qrels)
    results["lance_fts"] = {"ndcg@10": report.ndcg_at_10, "build_s": built, "p50_ms": report.latency_ms_p50}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--datasets", nargs="+", default=["scifact", "nfcorpus"])
    args = parser.parse_args()
    print("| dataset | engine | nDCG@10 | build s | query p50 ms |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.datasets:
            for engine, row in run(args.data / name, Path(scratch)).items():
                print(f"| {name} | {engine} | {row['ndcg@10']:.4f} | {row['build_s']:.2f} | {row['p50_ms']:.1f} |")


if __name__ == "__main__":
    main()
