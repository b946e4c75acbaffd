"""Metrics come from pytrec_eval; our part is reading BEIR files and passing rank order faithfully."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from semsearch.errors import SemsearchError
from semsearch.evaluation import evaluate, load_qrels, load_queries, score


def test_qrels_with_header_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_bytes(b"query-id\tcorpus-id\tscore\r\n1\td1\t1\r\n1\td2\t2\r\n2\td3\t1\r\n")
    assert load_qrels(path) == {"1": {"d1": 1, "d2": 2}, "2": {"d3": 1}}
    path.write_bytes(b"query-id\tcorpus-id\tscore\n1\td1\tx\n")
    with pytest.raises(SemsearchError, match="q.tsv:2"):
        load_qrels(path)


def test_queries(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"_id": "1", "text": "a"}\n\n{"_id": 2, "text": "b"}\n')
    assert load_queries(path) == {"1": "a", "2": "b"}
    path.write_text('{"text": "a"}\n')
    with pytest.raises(SemsearchError, match="q.jsonl:1"):
        load_queries(path)


def test_scores_match_hand_computed_values() -> None:
    qrels = {"q": {"a": 1, "b": 1}}
    ranking = [("x", 0.9), ("a", 0.8), ("y", 0.7), ("b", 0.1)]
    metrics = score(qrels, {"q": ranking})
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3)
    assert metrics["ndcg@10"] == pytest.approx(dcg / ideal)
    assert metrics["recall@100"] == 1.0
    assert metrics["mrr@10"] == 0.5


def test_rank_order_is_kept_even_with_equal_scores() -> None:
    """trec_eval breaks score ties by document id; we pass rank order so it cannot reorder."""
    metrics = score({"q": {"a": 1}}, {"q": [("z", 1.0), ("a", 1.0)]})
    assert metrics["mrr@10"] == 0.5


def test_mrr_is_cut_at_10() -> None:
    ranking = [(f"x{i}", 1.0) for i in range(10)] + [("a", 0.5)]
    assert score({"q": {"a": 1}}, {"q": ranking})["mrr@10"] == 0.0


def test_evaluate_skips_queries_without_qrels() -> None:
    report = evaluate(lambda q: [("a", 1.0)], {"1": "x", "2": "y"}, {"1": {"a": 1}, "3": {"b": 1}}, progress=False)
    assert report.queries == 1 and report.ndcg_at_10 == 1.0
    assert set(report.to_json()) >= {"ndcg@10", "recall@100", "mrr@10", "queries"}
    with pytest.raises(SemsearchError, match="no query"):
        evaluate(lambda q: [], {"9": "x"}, {"1": {"a": 1}}, progress=False)


def test_what_a_process_makes_once_is_no_query_latency() -> None:
    """The first query and the first long one are warm-ups: a model compiled for longer queries (or the codes
    made at an index's second search) would otherwise put one query's 600 ms into the mean."""
    import time

    met: set[int] = set()

    def rank(text: str) -> list[tuple[str, float]]:
        if min(len(text), 50) not in met:  # the first text and the first long one are slow
            met.add(min(len(text), 50))
            time.sleep(0.3)
        return [("d1", 1.0)]

    queries = {str(i): "short query" for i in range(8)} | {"8": "a long query " * 10}
    report = evaluate(rank, queries, {q: {"d1": 1} for q in queries}, progress=False)
    assert report.ndcg_at_10 == 1.0 and report.latency_ms_mean < 10 and report.latency_ms_p95 < 10  # 300 ms if timed
