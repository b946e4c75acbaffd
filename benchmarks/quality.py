"""Retrieval quality and indexing behaviour on the shared BEIR sets, in one run, beside reference figures.

    .venv/bin/python benchmarks/quality.py                       # SciFact and NFCorpus, mean and cls pooling
    .venv/bin/python benchmarks/quality.py --datasets scifact --poolings mean

    .venv/bin/python benchmarks/quality.py --techniques \
        --index-dir scifact=indexes/bench-scifact-mean-fp32 --index-dir nfcorpus=/tmp/nfcorpus-index

Prints, per dataset and pooling: nDCG@10 / Recall@100 / MRR@10 for dense, BM25 and hybrid, next to the
plain sentence-transformers figures of ../shared/data/README.md; then, on SciFact: agreement of the FAISS
and LanceDB top-10 (exact search), a filtered query on a field matching ~3% of documents, and the time of
re-running `index` on the unchanged corpus against the first run. Indexes go to indexes/bench-* and are
rebuilt from scratch unless --reuse is given.

Then (alone with --techniques) one table of the ranking techniques: dense, BM25 and hybrid with each fusion
(RRF, convex with a fixed weight, convex as `semsearch tune` chooses it for each index without labels) on
SciFact test, NFCorpus train (where weights were tuned) and NFCorpus test, with the query latency each adds;
and one of BM25's title weight (the title counted 1 to 5 times), BM25 alone and hybrid.
`--index-dir DATASET=DIR` scores an existing mean-pooled index instead of building one; nothing is written to it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semsearch import Index, runtime
from semsearch.bm25 import BM25, TITLE_WEIGHT, store_texts
from semsearch.evaluation import DEPTH, evaluate, load_qrels, load_queries, score
from semsearch.ingest import IndexOptions, build_index
from semsearch.ranking import Others, Ranking
from semsearch.types import DEFAULT_FUSION, Backend, Fusion, FusionMethod, Mode, Pooling, Precision

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


SPLITS = (("scifact", "test"), ("nfcorpus", "train"), ("nfcorpus", "test"))
TUNED = "tuned"  # the fusion `semsearch tune` chooses for each index, without labels
LABELLED = "labelled"  # the candidate of tune's grid best on NFCorpus train's qrels
WITHOUT_FEEDBACK = replace(DEFAULT_FUSION, feedback=False)
# (label, mode, fusion)
TECHNIQUES: tuple[tuple[str, Mode, Fusion | str | None], ...] = (
    ("dense (best window)", Mode.DENSE, None),
    ("BM25", Mode.BM25, None),
    ("hybrid, RRF k=60", Mode.HYBRID, Fusion()),
    ("hybrid, convex min-max alpha 0.5, no feedback", Mode.HYBRID, WITHOUT_FEEDBACK),
    ("hybrid, convex z-score alpha 0.5, no feedback", Mode.HYBRID, Fusion.parse("convex:0.5:zscore")),
    ("hybrid, convex best on NFCorpus train qrels, no feedback", Mode.HYBRID, LABELLED),
    ("hybrid, RRF with feedback", Mode.HYBRID, Fusion.parse("rrf+feedback")),
    (f"hybrid, {DEFAULT_FUSION} (a new index's default)", Mode.HYBRID, DEFAULT_FUSION),
    ("hybrid, as `semsearch tune` chooses (no labels)", Mode.HYBRID, TUNED),
)
TITLE_WEIGHTS = (1, 2, 3, 4, 5)  # how many times BM25 counts a document's title (1: once, as in its text)
LATENCY_QUERIES = 100  # timed per technique with the query encoded afresh (the first SciFact test queries)


def techniques_table(indexes: dict[str, Path]) -> tuple[list[str], list[str]]:
    """One row per technique, nDCG@10 per split, and the latency of a whole query (encoding, search, fusion).

    Each query's dense and BM25 top :data:`~semsearch.evaluation.DEPTH`, and each retriever's scores of the
    other's documents, come from the index once (``Index.fusion_inputs``) and every fusion is applied to them
    with :func:`semsearch.ranking.fuse`, exactly as ``Index.rank`` does in hybrid mode.
    """
    from semsearch.adaptation.fusion import candidates
    from semsearch.ranking import fuse

    opened = {dataset: Index.open(directory) for dataset, directory in indexes.items()}
    tuned: dict[str, Fusion] = {}
    notes = []
    for dataset, index in opened.items():
        started = time.perf_counter()
        made = index.tune(apply=False)
        tuned[dataset] = made.fusion
        evidence = ", ".join(f"{name} {value:.4f}" for name, value in made.scores.items())
        notes.append(
            f"{dataset}: `tune` took {time.perf_counter() - started:.0f} s and chose {made.fusion} "
            f"({made.queries} pseudo-queries; nDCG@10 there: {evidence}); {made.reason}"
        )
    lists: dict[tuple[str, str], Inputs] = {}  # without feedback: every such fusion fuses the same lists
    fed: dict[tuple[str, tuple[str, str]], Inputs] = {}  # with a fusion's feedback: its own lists, made on demand
    qrels: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    texts: dict[tuple[str, str], dict[str, str]] = {}
    for dataset, split in SPLITS:
        if dataset not in opened:
            continue
        queries = load_queries(DATA / dataset / "queries.jsonl")
        judged = {q: r for q, r in load_qrels(DATA / dataset / "qrels" / f"{split}.tsv").items() if q in queries}
        qrels[(dataset, split)] = judged
        texts[(dataset, split)] = {q: queries[q] for q in judged}
        lists[(dataset, split)] = inputs(opened[dataset], texts[(dataset, split)], WITHOUT_FEEDBACK)

    def ndcg(split: tuple[str, str], mode: Mode, fusion: Fusion | None) -> float:
        pick = {Mode.DENSE: lambda d, b: d, Mode.BM25: lambda d, b: b}.get(mode)
        fusion = fusion or Fusion()
        if mode is Mode.HYBRID and fusion.feedback and (str(fusion), split) not in fed:
            fed[(str(fusion), split)] = inputs(opened[split[0]], texts[split], fusion)
        chosen = fed[(str(fusion), split)] if mode is Mode.HYBRID and fusion.feedback else lists[split]
        runs = {q: pick(d, b) if pick else fuse(d, b, fusion, others)[:DEPTH] for q, (d, b, others) in chosen.items()}
        return score(qrels[split], runs)["ndcg@10"]

    train = ("nfcorpus", "train")
    grid = {str(c): ndcg(train, Mode.HYBRID, c) for c in candidates()} if train in lists else {"rrf": 0.0}
    labelled = Fusion.parse(max(grid, key=lambda name: grid[name]))
    notes.append("NFCorpus train nDCG@10 of tune's grid: " + ", ".join(f"{n} {v:.4f}" for n, v in grid.items()))

    def resolve(fusion: Fusion | str | None, dataset: str) -> Fusion | None:
        named = {TUNED: tuned[dataset], LABELLED: labelled}
        return named[fusion] if isinstance(fusion, str) else fusion

    figures = {
        label: {split: ndcg(split, mode, resolve(fusion, split[0])) for split in lists}
        for label, mode, fusion in TECHNIQUES
    }
    latency = latencies(opened["scifact"], lambda fusion: resolve(fusion, "scifact")) if "scifact" in opened else {}
    rrf = latency.get(TECHNIQUES[2][0], float("nan"))
    fusing = fusion_cost(lists.get(("scifact", "test"), {}), {
        label: resolve(fusion, "scifact") for label, mode, fusion in TECHNIQUES if mode is Mode.HYBRID
    })  # fmt: skip
    header = " | ".join(f"{dataset} {split}" for dataset, split in SPLITS)
    table = [
        f"| technique | {header} | p50 ms per query | added to RRF | fusing alone, p50 us |",
        "|---|" + "---|" * len(SPLITS) + "---|---|---|",
    ]
    for label, mode, _ in TECHNIQUES:
        cells = " | ".join(f"{figures[label].get(s, float('nan')):.4f}" for s in SPLITS)
        added = f"{latency[label] - rrf:+.1f}" if mode is Mode.HYBRID and label in latency else ""
        alone = f"{fusing[label]:.0f}" if label in fusing else ""
        table.append(f"| {label} | {cells} | {latency.get(label, float('nan')):.1f} | {added} | {alone} |")
    notes.append(f"best on NFCorpus train qrels: {labelled}; tune's choice per index (no labels): "
                 + ", ".join(f"{d} {f}" for d, f in tuned.items()))  # fmt: skip
    return [*table, "", *title_weights(opened, texts, qrels)], notes


def title_weights(opened: dict[str, Index], texts: dict[tuple[str, str], dict[str, str]],
                  qrels: dict[tuple[str, str], dict[str, dict[str, int]]]) -> list[str]:  # fmt: skip
    """BM25 alone and hybrid (each index's own fusion) with the title counted 1 to 5 times in BM25
    (``semsearch.bm25.TITLE_WEIGHT``, chosen on NFCorpus train)."""
    splits = [split for split in SPLITS if split in texts]
    figures: dict[int, dict[tuple[str, str], tuple[float, float]]] = {weight: {} for weight in TITLE_WEIGHTS}
    for dataset, index in opened.items():
        own = index.bm25
        for weight in TITLE_WEIGHTS:
            index.__dict__["bm25"] = BM25.build(*store_texts(index.store, index.manifest.title_field, weight))
            for split in (s for s in splits if s[0] == dataset):
                lexical = {q: index.rank(t, DEPTH, Mode.BM25) for q, t in texts[split].items()}
                hybrid = {q: index.rank(t, DEPTH) for q, t in texts[split].items()}
                figures[weight][split] = (score(qrels[split], lexical)["ndcg@10"],
                                          score(qrels[split], hybrid)["ndcg@10"])  # fmt: skip
        index.__dict__["bm25"] = own
    header = " | ".join(f"{dataset} {split} BM25 / hybrid" for dataset, split in splits)
    table = [f"| the title counted, in BM25 | {header} |", "|---|" + "---|" * len(splits)]
    for weight, by_split in figures.items():
        label = f"{weight} time{'s' if weight > 1 else ''}" + (" (the default)" if weight == TITLE_WEIGHT else "")
        cells = " | ".join(f"{by_split[s][0]:.4f} / {by_split[s][1]:.4f}" for s in splits)
        table.append(f"| {label} | {cells} |")
    return table


Inputs = dict[str, tuple[Ranking, Ranking, Others | None]]  # per query: what hybrid search fuses


def inputs(index: Index, queries: dict[str, str], fusion: Fusion) -> Inputs:
    """What hybrid search fuses for each query by ``fusion``, its feedback included, with each retriever's
    scores of the other's list (RRF without feedback asks convex fusion for them; RRF ignores them)."""
    complete = fusion if fusion.method is FusionMethod.CONVEX or fusion.feedback else Fusion.parse("convex")
    return {q: index.fusion_inputs(text, DEPTH, None, complete)[:3] for q, text in queries.items()}


def fusion_cost(
    lists: dict[str, tuple[Ranking, Ranking, Others | None]], fusions: dict[str, Fusion | None]
) -> dict[str, float]:
    """p50 microseconds of fusing one query's two top lists, per fusion (what a fusion adds to a query)."""
    from semsearch.ranking import fuse

    timed: dict[str, list[float]] = {label: [] for label in fusions}
    for dense, lexical, others in lists.values():
        for label, fusion in fusions.items():
            started = time.perf_counter()
            fuse(dense, lexical, fusion or Fusion(), others)
            timed[label].append((time.perf_counter() - started) * 1e6)
    return {label: sorted(values)[len(values) // 2] for label, values in timed.items() if values}


def latencies(index: Index, resolve: Callable[[Fusion | str | None], Fusion | None]) -> dict[str, float]:
    """p50 milliseconds of a whole ``Index.rank`` per technique, the query encoded afresh each time."""
    queries = load_queries(DATA / "scifact" / "queries.jsonl")
    judged = sorted(q for q in load_qrels(DATA / "scifact" / "qrels" / "test.tsv") if q in queries)
    texts = [queries[q] for q in judged[:LATENCY_QUERIES]]
    timed: dict[str, list[float]] = {label: [] for label, _, _ in TECHNIQUES}
    for text in texts:
        for label, mode, fusion in TECHNIQUES:
            chosen = resolve(fusion)
            index._query_vectors.cache_clear()  # type: ignore[attr-defined]  # the query is encoded afresh
            started = time.perf_counter()
            index.rank(text, 10, mode, fusion=chosen)
            timed[label].append((time.perf_counter() - started) * 1000)
    return {label: sorted(values)[len(values) // 2] for label, values in timed.items()}


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
    parser.add_argument("--techniques", action="store_true", help="Print only the table of ranking techniques.")
    parser.add_argument(
        "--index-dir", action="append", default=[], metavar="DATASET=DIR", help="Score this mean-pooled index."
    )
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA}")
    given = {dataset: Path(path) for dataset, path in (item.split("=", 1) for item in args.index_dir)}
    if args.techniques:
        indexes = {
            dataset: given.get(dataset) or build(dataset, Pooling.MEAN, Precision(args.precision), True)[0]
            for dataset in dict.fromkeys(d for d, _ in SPLITS if d in args.datasets)
        }
        table, notes = techniques_table(indexes)
        print("\n".join(table))
        print()
        print("\n".join(f"- {n}" for n in notes))
        return

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
