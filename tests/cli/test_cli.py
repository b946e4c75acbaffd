"""The command line: output shapes from INTERFACE.md and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from semsearch.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_search_json(sample_index: Path) -> None:
    code, out, _ = run("search", "vitamin D", "--index", sample_index, "-k", "4", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["query"] == "vitamin D" and len(data["hits"]) == 4
    assert data["ambiguous"] is None and data["senses"] == []


def test_search_plain_text(sample_index: Path) -> None:
    code, out, _ = run("search", "vitamin D", "--index", sample_index, "-k", "2", "--mode", "bm25")
    assert code == 0
    assert out.startswith("  1. ") and "\n  2. " in out


def test_eval_json(sample_index: Path, sample_dir: Path) -> None:
    code, out, _ = run(
        "eval", "--index", sample_index, "--queries", sample_dir / "queries.jsonl",
        "--qrels", sample_dir / "qrels" / "test.tsv", "--mode", "dense", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["queries"] == 60
    assert 0.5 < data["ndcg@10"] <= 1 and 0.5 < data["recall@100"] <= 1 and 0.5 < data["mrr@10"] <= 1


def test_user_errors_are_one_line_and_non_zero(tmp_path: Path, sample_index: Path) -> None:
    code, _, err = run("search", "x", "--index", tmp_path / "missing")
    assert code == 1 and err.startswith("error: no index at") and err.count("\n") == 1
    code, _, err = run("search", "x", "--index", sample_index, "--where", "1=1; DROP TABLE chunks")
    assert code == 1 and "single condition" in err and "Traceback" not in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "1", "text": "ok"}\n{"_id": "2"}\n')
    code, _, err = run("index", bad, "--index", tmp_path / "idx")
    assert code == 1 and f"{bad}:2: field 'text': missing text" in err


def test_index_prints_a_summary(tmp_path: Path, tiny_model: Path) -> None:
    source = tmp_path / "c.jsonl"
    source.write_text('{"_id": "1", "text": "one"}\n{"_id": "2", "text": "two"}\n')
    code, out, _ = run("index", source, "--index", tmp_path / "idx", "--model", tiny_model)
    assert code == 0
    assert "2 documents" in out and "2 added" in out and "docs/s" in out and "MB on disk" in out
    code, out, _ = run("index", source, "--index", tmp_path / "idx", "--model", tiny_model)
    assert "0 added, 0 updated, 2 unchanged" in out
