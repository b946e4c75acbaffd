"""``semsearch search --explain`` and ``semsearch explain``: text with markers, JSON with spans, the page,
and bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from explain.conftest import DOCS

import semsearch
from semsearch.cli import main

QUERY = "vitamin D and respiratory infection"


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_search_explain_json_gives_each_hit_an_explanation(explain_index: Path) -> None:
    code, out, _ = run("search", QUERY, "--index", explain_index, "-k", "3", "--explain", "--json")
    data = json.loads(out)
    assert code == 0 and len(data["hits"]) == 3
    for hit in data["hits"]:
        e = hit["explanation"]
        assert {"window", "snippet", "channels", "bm25_terms", "dense_tokens"} <= set(e)
        assert sum(c["fused"] for c in e["channels"].values()) == hit["score"]
        for token in e["dense_tokens"]:
            assert token.get("special") or hit["text"][token["start"] : token["end"]] == token["text"]


def test_search_explain_text_marks_the_words(explain_index: Path) -> None:
    code, out, _ = run("search", QUERY, "--index", explain_index, "-k", "2", "--explain")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("  1. ")
    assert lines[1].strip().startswith("hybrid ") and "= dense " in lines[1] and "carried by" in lines[1]
    assert "**Vitamin**" in out and "\x1b[" not in out  # not a terminal: plain markers, no colour codes
    assert "BM25 terms: vitamin " in out and "shares (mean) sum to" in out


def test_explain_command_text_json_and_page(explain_index: Path, tmp_path: Path) -> None:
    code, out, _ = run("explain", QUERY, "long", "--index", explain_index, "--mode", "dense")
    assert code == 0 and out.startswith("long  dense score ") and "dense words: " in out and "BM25" not in out
    code, out, err = run("explain", QUERY, "long", "--index", explain_index, "--json", "--html", tmp_path / "p.html")
    data = json.loads(out)
    assert code == 0 and data["id"] == "long" and data["explanation"]["mode"] == "hybrid"
    assert err == f"wrote {tmp_path / 'p.html'}\n"
    page = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and 'class="tok top"' in page and "<svg" in page


@pytest.mark.parametrize("flags", [["--fusion", "rrf"], ["--fusion", "convex:0.3"], ["--no-feedback"]])
def test_explain_takes_the_fusion_a_search_ran_and_splits_its_score(explain_index: Path, flags: list[str]) -> None:
    """The explanation of a hit of ``search --fusion X`` is the explanation under X: its parts add up to the
    score that search gave the document."""
    code, out, _ = run("search", QUERY, "--index", explain_index, "-k", "3", "--json", *flags)
    hit = json.loads(out)["hits"][0]
    code, out, _ = run("explain", QUERY, hit["id"], "--index", explain_index, "--json", *flags)
    channels = json.loads(out)["explanation"]["channels"]
    assert code == 0 and sum(c["fused"] for c in channels.values()) == pytest.approx(hit["score"], abs=1e-9)


def test_bad_input_is_one_line_never_a_traceback(explain_index: Path) -> None:
    code, out, err = run("explain", QUERY, "nope", "--index", explain_index)
    assert code == 1 and out == "" and err.startswith("error: no document 'nope' in ") and "Traceback" not in err
    code, out, _ = run("explain", "the of", "vit", "--index", explain_index, "--mode", "bm25")
    assert code == 0 and "note: the query has no word BM25 can match" in out
    code, out, _ = run("explain", "zebra", "vit", "--index", explain_index, "--mode", "bm25")
    assert code == 0 and "zebra 0.000 [no match]" in out and "note: none of the query's terms occurs" in out
    code, _, err = run("explain", QUERY, "vit", "--index", explain_index.parent / "missing")
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err


def test_a_deleted_document_is_one_line(tmp_path: Path, tiny_model: Path) -> None:
    index = semsearch.index(DOCS[:3], tmp_path / "idx", model=str(tiny_model), precision="fp32", progress=False)
    index.delete(["vit"])
    code, out, err = run("explain", QUERY, "vit", "--index", tmp_path / "idx")
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.startswith("error: no document 'vit' in ") and "or it has been deleted" in err


def test_marks_are_colours_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import io

    cli_explain = importlib.import_module("semsearch.cli.explain")  # the module, not the command it defines

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(cli_explain.sys, "stdout", Terminal())
    assert cli_explain.marker()("vitamin", "bm25") == "\x1b[33m\x1b[1mvitamin\x1b[0m"  # yellow, bold
    monkeypatch.setattr(cli_explain.sys, "stdout", io.StringIO())
    assert cli_explain.marker()("vitamin", "bm25") == "**vitamin**"
