"""The README's walkthrough data through the command line: a CSV with a year column filters by year, a
folder of notes indexes its notes (front matter as metadata, empty and hidden files skipped)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from semsearch.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_a_csv_with_a_year_column_filters_by_year(tmp_path: Path, tiny_model: Path) -> None:
    index = tmp_path / "papers"
    code, _, err = run("index", EXAMPLES / "papers.csv", "--index", index, "--text-field", "abstract",
                       "--model", tiny_model)  # fmt: skip
    assert code == 0, err
    code, out, _ = run("info", "--index", index, "--json")
    kinds = {f["name"]: f["kind"] for f in json.loads(out)["fields"]}
    assert kinds["year"] == "number" and kinds["open_access"] == "bool" and kinds["journal"] == "string"
    code, out, _ = run("search", "cells", "--index", index, "--where", "year >= 2015 AND open_access = true",
                       "--json", "-k", "30")  # fmt: skip
    hits = json.loads(out)["hits"]
    assert code == 0 and hits and all(h["metadata"]["year"] >= 2015 and h["metadata"]["open_access"] for h in hits)
    code, _, err = run("index", "--index", index, "--model", tiny_model)  # no SOURCE, no --text-field: remembered
    assert code == 0, err


def test_a_folder_of_notes(tmp_path: Path, tiny_model: Path) -> None:
    index = tmp_path / "notes"
    code, out, err = run("index", EXAMPLES / "notes", "--index", index, "--model", tiny_model)
    assert code == 0 and "1 empty file skipped" in err, err
    ids = [json.loads(line)["id"] for line in run("export", "--index", index)[1].splitlines()]
    assert "inbox.md" not in ids and not any(i.startswith(".obsidian") for i in ids) and "recipes/sourdough.md" in ids
    code, out, _ = run("search", "sourdough", "--index", index, "--mode", "bm25", "--where", "tags CONTAINS 'baking'",
                       "--json")  # fmt: skip
    assert code == 0 and [h["id"] for h in json.loads(out)["hits"]][:1] == ["recipes/sourdough.md"]
