"""The commands people reach for: info, get, delete, export, compact; search in batch, with fields shown,
with the index from the environment; -h."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import write_jsonl

from semsearch.cli import main

ROWS = [{"_id": f"d{i}", "text": f"document {i} about topic {i % 3}", "year": 2000 + i} for i in range(6)]


def run(*args: object, env: dict[str, str] | None = None, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def small_index(tmp_path: Path, tiny_model: Path) -> Path:
    source = write_jsonl(tmp_path / "c.jsonl", ROWS)
    # fp32 by hand: without --precision the runtime plan of this machine would choose (tests/runtime test that)
    code, _, err = run("index", source, "--index", tmp_path / "idx", "--model", tiny_model, "--precision", "fp32")
    assert code == 0, err
    return tmp_path / "idx"


def test_info_says_what_the_index_holds(small_index: Path, tiny_model: Path) -> None:
    code, out, _ = run("info", "--index", small_index, "--json")
    data = json.loads(out)
    assert code == 0 and data["documents"] == 6 and data["fields"] == [{"name": "year", "kind": "number"}]
    assert data["model"]["path"] == str(tiny_model) and data["precision"] == "fp32" and data["backend"] == "faiss"
    code, out, _ = run("info", "--index", small_index)
    assert code == 0 and "documents    6 (6 chunks)" in out and "year (number)" in out and "FAISS Flat" in out
    assert "bm25         whole documents, stemmed; a title (field 'title') counts 4 times" in out
    assert "counts 4 times" in data["bm25"]


def test_get_delete_and_export(small_index: Path) -> None:
    code, out, err = run("get", "--index", small_index, "d2")
    assert code == 0 and out == "document 2 about topic 2\n" and "year: 2002" in err
    assert json.loads(run("get", "--index", small_index, "d2", "--json")[1])["metadata"] == {"year": 2002}
    code, _, err = run("get", "--index", small_index, "nope")
    assert code == 1 and err == f"error: no document 'nope' in {small_index}\n"
    code, out, _ = run("delete", "--index", small_index, "d1", "d2", "nope")
    assert code == 0 and out == "2 deleted, 4 documents left; 1 not found\n"
    rows = [json.loads(line) for line in run("export", "--index", small_index)[1].splitlines()]
    assert sorted(r["id"] for r in rows) == ["d0", "d3", "d4", "d5"] and all("windows" not in r for r in rows)
    with_vectors = [json.loads(line) for line in run("export", "--index", small_index, "--vectors")[1].splitlines()]
    assert all(len(r["windows"]) == 1 and len(r["windows"][0]["vector"]) == 32 for r in with_vectors)


def test_compact_removes_old_versions(small_index: Path, tmp_path: Path, tiny_model: Path) -> None:
    for round_ in range(3):  # updates leave versions behind
        rows = [{**row, "year": row["year"] + round_ + 1} for row in ROWS]
        assert run("index", write_jsonl(tmp_path / "c.jsonl", rows), "--index", small_index)[0] == 0
    code, out, _ = run("compact", "--index", small_index, "--keep-minutes", "0")
    assert code == 0 and "old versions removed" in out and not out.startswith("0 ")
    code, out, _ = run("search", "topic 1", "--index", small_index, "--mode", "bm25", "--json")
    assert code == 0 and len(json.loads(out)["hits"]) == 6  # every document still there, and findable


def test_search_many_queries_from_stdin_as_jsonl(small_index: Path) -> None:
    stdin = 'document 1\n{"_id": "q2", "text": "topic 2"}\n\n'
    code, out, _ = run("search", "--queries", "-", "--index", small_index, "--mode", "bm25", "-k", "2", stdin=stdin)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 2 and lines[0]["query"] == "document 1" and "query_id" not in lines[0]
    assert lines[1]["query_id"] == "q2" and len(lines[1]["hits"]) == 2
    code, _, err = run("search", "--index", small_index)
    assert code == 2 and "give a QUERY or --queries FILE" in err
    code, _, err = run("search", "--queries", "-", "--index", small_index, stdin='{"_id": "q1"}\n')
    assert code == 2 and '--queries line 1: expected a JSON object with a "text" string' in err
    code, _, err = run("search", "", "--index", small_index)
    assert code == 1 and err == "error: QUERY '': is empty: give the words to search for\n"


def test_search_shows_fields_reads_the_index_from_the_environment_and_says_what_it_did(small_index: Path) -> None:
    code, out, _ = run(
        "search",
        "document",
        "--where",
        "year = 2004",
        "--show",
        "year",
        "--mode",
        "bm25",
        env={"SEMSEARCH_INDEX": str(small_index)},
    )
    assert code == 0 and out.splitlines()[0].split()[2:4] == ["d4", "year=2004"]
    code, out, err = run("search", "the of", "--index", small_index, "--mode", "bm25")
    assert code == 0 and out == "no results\n" and "note: the query has no word BM25 can match" in err
    code, _, err = run("search", "x", "--index", small_index, "-k", "0")
    assert code == 2 and "-k" in err  # refused before anything loads
    code, out, _ = run("-h")
    assert code == 0 and "info" in out and "compact" in out


def test_show_prints_values_as_a_filter_writes_them_and_refuses_unknown_fields(
    tmp_path: Path, tiny_model: Path
) -> None:
    rows = [{"_id": "a", "text": "alpha paper", "open": False, "tags": ["x", "y"]}, {"_id": "b", "text": "beta paper"}]
    index = tmp_path / "idx"
    code, _, err = run("index", write_jsonl(tmp_path / "c.jsonl", rows), "--index", index, "--model", tiny_model,
                       "--precision", "fp32")  # fmt: skip
    assert code == 0, err
    code, out, _ = run("search", "alpha", "--index", index, "--mode", "bm25", "--show", "id,open,tags")
    assert code == 0 and out.split()[2:6] == ["a", "id=a", "open=false", 'tags=["x",']
    code, out, _ = run("search", "beta", "--index", index, "--mode", "bm25", "--show", "open")
    assert code == 0 and out.split()[2:4] == ["b", "open=null"]  # a document without the field
    code, out, err = run("search", "alpha", "--index", index, "--show", "opne")
    assert code == 2 and out == "" and "unknown field 'opne' (known fields: id, open, tags)" in err
    code, _, err = run("get", "--index", index, "a")
    assert code == 0 and "open: false" in err and 'tags: ["x", "y"]' in err


def test_fusion_by_search_by_index_and_by_tune(small_index: Path, tmp_path: Path) -> None:
    code, out, _ = run("info", "--index", small_index)
    assert code == 0 and "fusion       convex:0.5:minmax+feedback (the default; 'semsearch tune' can choose)" in out

    def ids(*flags: object) -> list[str]:
        code, out, err = run("search", "topic 1", "--index", small_index, "--json", *flags)
        assert code == 0, err
        return [hit["id"] for hit in json.loads(out)["hits"]]

    assert ids("--fusion", "convex:0") == ids("--mode", "bm25")
    assert ids("--fusion", "convex:1") == ids("--mode", "dense")
    code, _, err = run("search", "topic 1", "--index", small_index, "--fusion", "convex:2")
    assert code == 1 and err == "error: --fusion convex:2: the convex weight alpha must be a number from 0 to 1\n"
    code, out, _ = run("tune", "--index", small_index, "--fusion", "rrf", "--dry-run")
    assert code == 0 and out == "fusion rrf (dry run: not recorded)\n"
    code, out, _ = run("tune", "--index", small_index, "--fusion", "convex:0")
    assert code == 0 and out == f"fusion convex:0:minmax set by hand, recorded in {small_index}\n"
    assert ids() == ids("--mode", "bm25")  # the index's own fusion now
    code, out, _ = run("info", "--index", small_index, "--json")
    assert json.loads(out)["fusion"] == "convex:0:minmax" and json.loads(out)["fusion_evidence"] is None
    source = write_jsonl(tmp_path / "c.jsonl", ROWS)
    assert run("index", source, "--index", small_index)[0] == 0  # an update keeps it
    assert json.loads(run("info", "--index", small_index, "--json")[1])["fusion"] == "convex:0:minmax"
    assert run("index", source, "--index", small_index, "--fusion", "rrf")[0] == 0
    assert json.loads(run("info", "--index", small_index, "--json")[1])["fusion"] == "rrf"
    code, out, _ = run("info", "--index", small_index)
    assert "fusion       rrf (set by hand, or the default of indexes made before convex fusion)" in out
    code, out, _ = run("eval", "--index", small_index, "--queries", write_jsonl(tmp_path / "q.jsonl",
                       [{"_id": "q", "text": "topic 1"}]), "--qrels", _qrels(tmp_path), "--fusion", "convex:0.5")  # fmt: skip
    assert code == 0 and "1 queries, mode hybrid, fusion convex:0.5:minmax" in out
    code, out, _ = run("eval", "--index", small_index, "--queries", tmp_path / "q.jsonl", "--qrels", _qrels(tmp_path),
                       "--feedback", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["feedback"] is True and json.loads(out)["fusion"] == "rrf+feedback"
    code, out, err = run("search", "topic 1", "--index", small_index, "--feedback", "--json")
    assert code == 0 and len(json.loads(out)["hits"]) > 0, err
    code, _, err = run("search", "topic 1", "--index", small_index, "--feedback", "--mode", "dense")
    assert code == 1 and err == "error: --feedback: works in hybrid mode only (it learns from the fused ranking)\n"


def test_tune_keeps_the_default_on_a_corpus_too_small_to_judge(small_index: Path) -> None:
    code, out, _ = run("tune", "--index", small_index, "--dry-run")
    assert code == 0 and "only 0 pseudo-queries" in out
    assert "fusion convex:0.5:minmax+feedback (dry run: not recorded)" in out
    code, out, _ = run("tune", "--index", small_index, "--json")
    assert code == 0 and json.loads(out)["fusion"] == {
        "method": "convex", "alpha": 0.5, "normalisation": "minmax", "feedback": True
    }  # fmt: skip
    code, out, _ = run("info", "--index", small_index)
    assert "fusion       convex:0.5:minmax+feedback (semsearch tune: only 0 pseudo-queries" in out


def _qrels(tmp_path: Path) -> Path:
    path = tmp_path / "qrels.tsv"
    path.write_text("query-id\tcorpus-id\tscore\nq\td1\t1\n", encoding="utf-8")
    return path
