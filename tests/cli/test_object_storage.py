"""The CLI on an index at an s3:// URI (a local moto server): --storage-option on every command."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from helpers import write_jsonl

from semsearch.cli import main

ROWS = [
    {"_id": f"d{i}", "text": f"document {i} about {'cats' if i % 2 else 'dogs'}", "year": 2000 + i} for i in range(6)
]


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_index_search_info_delete_on_object_storage(tmp_path: Path, tiny_model: Path, s3_server, s3_uri) -> None:
    flags = [f for key, value in s3_server.items() for f in ("--storage-option", f"{key}={value}")]
    source = write_jsonl(tmp_path / "c.jsonl", ROWS)
    code, out, err = run("index", source, "--index", s3_uri, "--model", tiny_model, *flags)
    assert code == 0, err
    assert f"6 documents in {s3_uri}" in out
    code, out, _ = run("search", "cats", "--index", s3_uri, "--mode", "bm25", "--json", *flags)
    assert code == 0 and {h["id"] for h in json.loads(out)["hits"]} == {"d1", "d3", "d5"}
    code, out, _ = run("delete", "--index", s3_uri, "d1", *flags)
    assert code == 0
    code, out, _ = run("info", "--index", s3_uri, "--json", *flags)
    assert code == 0 and json.loads(out)["documents"] == 5


def test_bad_storage_options_are_one_line_errors(tmp_path: Path, s3_server, s3_uri) -> None:
    code, _, err = run("search", "cats", "--index", s3_uri, "--storage-option", "no-equals-sign")
    assert code == 1 and "--storage-option" in err and "KEY=VALUE" in err and "Traceback" not in err
    code, _, err = run("search", "cats", "--index", tmp_path, "--storage-option", "aws_region=x")
    assert code == 1 and "object storage" in err
    flags = [f for key, value in s3_server.items() for f in ("--storage-option", f"{key}={value}")]
    code, _, err = run("search", "cats", "--index", s3_uri, *flags)
    assert code == 1 and f"no index at {s3_uri}" in err
