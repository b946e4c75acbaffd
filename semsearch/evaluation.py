"""Retrieval quality on BEIR-style queries and qrels, scored by pytrec_eval (trec_eval's code).

Rankings are per document (an index's search already collapses chunks to documents), and the
rank order is passed to trec_eval as descending scores so its tie-breaking cannot reorder them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytrec_eval
from tqdm.auto import tqdm

from semsearch.errors import EvaluationError
from semsearch.ranking import Ranking

Qrels = dict[str, dict[str, int]]
DEPTH = 100  # documents retrieved per query: enough for Recall@100


@dataclass(frozen=True)
class EvalReport:
    ndcg_at_10: float
    recall_at_100: float
    mrr_at_10: float
    queries: int
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_mean: float

    def to_json(self) -> dict[str, float | int]:
        data = asdict(self)
        return {
            "ndcg@10": data.pop("ndcg_at_10"),
            "recall@100": data.pop("recall_at_100"),
            "mrr@10": data.pop("mrr_at_10"),
            **data,
        }


def load_queries(path: str | Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                queries[str(row["_id"])] = row["text"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise EvaluationError(f"{path}:{number}: expected a JSON object with '_id' and 'text' ({exc})") from exc
    return queries


def load_qrels(path: str | Path) -> Qrels:
    """BEIR qrels: a header line, then ``query-id<TAB>corpus-id<TAB>score`` (LF or CRLF)."""
    qrels: Qrels = {}
    with Path(path).open(encoding="utf-8", newline=None) as handle:
        for number, line in enumerate(handle, start=1):
            cells = line.rstrip("\r\n").split("\t")
            if number == 1 and not cells[-1].lstrip("-").isdigit():
                continue  # the header
            if cells == [""]:
                continue
            if len(cells) != 3:
                raise EvaluationError(f"{path}:{number}: expected 'query-id<TAB>corpus-id<TAB>score'")
            try:
                qrels.setdefault(cells[0], {})[cells[1]] = int(cells[2])
            except ValueError as exc:
                raise EvaluationError(f"{path}:{number}: score {cells[2]!r} is not an integer") from exc
    return qrels


def score(qrels: Qrels, runs: Mapping[str, Ranking]) -> dict[str, float]:
    """Mean nDCG@10, Recall@100 and MRR@10 over the queries of ``qrels``."""
    run = {q: _trec_scores(r) for q, r in runs.items()}
    top10 = {q: _trec_scores(r[:10]) for q, r in runs.items()}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"})
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"})
    per_query = evaluator.evaluate(run)
    per_query_mrr = mrr.evaluate(top10)
    return {
        "ndcg@10": float(np.mean([per_query[q]["ndcg_cut_10"] for q in qrels])),
        "recall@100": float(np.mean([per_query[q]["recall_100"] for q in qrels])),
        "mrr@10": float(np.mean([per_query_mrr[q]["recip_rank"] for q in qrels])),
    }


def _trec_scores(ranking: Ranking) -> dict[str, float]:
    """Scores that encode our rank order exactly (trec_eval re-sorts by score, ties by id)."""
    return {doc: float(len(ranking) - i) for i, (doc, _) in enumerate(ranking)}


def evaluate(
    rank: Callable[[str], Ranking], queries: Mapping[str, str], qrels: Qrels, progress: bool = True
) -> EvalReport:
    """Run ``rank`` on every query that has qrels and score the rankings."""
    judged = {q: rels for q, rels in qrels.items() if q in queries}
    if not judged:
        raise EvaluationError("no query in the queries file has qrels: nothing to evaluate")
    runs: dict[str, Ranking] = {}
    latencies = []
    order = sorted(judged)
    # Warm-ups: loading the model and the indexes, the held documents and the vectors' codes (made at an index's
    # second search), and a model for queries longer than most (compiled when first met) are no query's latency.
    for text in (queries[order[0]], max((queries[q] for q in order), key=len)):
        rank(text)
    for query_id in tqdm(order, desc="evaluating", unit="query", disable=not progress):
        started = time.perf_counter()
        runs[query_id] = rank(queries[query_id])
        latencies.append((time.perf_counter() - started) * 1000)
    metrics = score(judged, runs)
    return EvalReport(
        ndcg_at_10=metrics["ndcg@10"],
        recall_at_100=metrics["recall@100"],
        mrr_at_10=metrics["mrr@10"],
        queries=len(judged),
        latency_ms_p50=float(np.percentile(latencies, 50)),
        latency_ms_p95=float(np.percentile(latencies, 95)),
        latency_ms_mean=float(np.mean(latencies)),
    )
