"""Corpus loading: every accepted format, the default fields, and bad records named precisely."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_jsonl

from semsearch import corpus
from semsearch.errors import BadRecordError, CorpusError

ROWS = [
    {"_id": "a", "title": "Alpha", "text": "first text", "year": 2001},
    {"_id": "b", "text": "second text", "year": 2002, "metadata": {"url": "http://b"}},
]


def ids_and_texts(path: Path, **kwargs) -> list[tuple[str, str]]:
    return [(d.id, d.text) for d in corpus.load(path, **kwargs)]


def test_jsonl_default_fields_title_prepended_rest_is_metadata(tmp_path: Path) -> None:
    docs = list(corpus.load(write_jsonl(tmp_path / "c.jsonl", ROWS)))
    assert [d.id for d in docs] == ["a", "b"]
    assert docs[0].text == "Alpha first text"
    assert docs[0].metadata == {"title": "Alpha", "year": 2001}
    assert docs[1].metadata == {"year": 2002, "url": "http://b"}  # BEIR's nested metadata is flattened
    assert docs[1].line == 2 and docs[1].source.endswith("c.jsonl")


def test_jsonl_gz_csv_parquet_textdir_and_beir_read_the_same(tmp_path: Path) -> None:
    expected = [("a", "Alpha first text"), ("b", "second text")]
    plain = write_jsonl(tmp_path / "c.jsonl", ROWS)
    with gzip.open(tmp_path / "c.jsonl.gz", "wt") as handle:
        handle.write(plain.read_text())
    with (tmp_path / "c.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["_id", "title", "text", "year"])
        writer.writeheader()
        writer.writerows({k: v for k, v in row.items() if k != "metadata"} for row in ROWS)
    pq.write_table(
        pa.Table.from_pylist([{k: v for k, v in r.items() if k != "metadata"} for r in ROWS]), tmp_path / "c.parquet"
    )
    beir = tmp_path / "beir"
    beir.mkdir()
    write_jsonl(beir / "corpus.jsonl", ROWS)
    for name in ["c.jsonl", "c.jsonl.gz", "c.csv", "c.parquet", "beir"]:
        assert ids_and_texts(tmp_path / name) == expected, name

    texts = tmp_path / "texts"
    (texts / "sub").mkdir(parents=True)
    (texts / "one.txt").write_text("plain text file")
    (texts / "sub" / "two.md").write_text("# Markdown\nbody")
    (texts / "ignored.bin").write_bytes(b"\x00\x01")
    # A Markdown file's opening "# Heading" is its title: prepended like any title, and so not kept twice.
    assert ids_and_texts(texts) == [("one.txt", "plain text file"), ("sub/two.md", "Markdown body")]


def test_field_overrides(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"key": 7, "body": "hello", "head": "Hi", "text": "other"}])
    fields = corpus.FieldMap.from_options(id_field="key", text_field="body", title_field="head")
    (doc,) = corpus.load(path, fields)
    assert (doc.id, doc.text) == ("7", "Hi hello")
    assert doc.metadata == {"head": "Hi", "text": "other"}


def test_an_id_field_not_used_as_the_id_is_metadata(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "id": "legacy-7", "text": "t"}, {"id": "b", "text": "u"}])
    first, second = corpus.load(path)
    assert (first.id, first.metadata) == ("a", {"id": "legacy-7"})
    assert (second.id, second.metadata) == ("b", {})


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("{not json", None, "invalid JSON"),
        ('{"text": "no id"}', "_id/id", "missing id"),
        ('{"_id": "x"}', "text", "missing text"),
        ('{"_id": "x", "text": "   "}', "text", "empty text"),
        ('{"_id": "x", "text": 5}', "text", "must be a string"),
        ('{"_id": [1], "text": "t"}', "_id", "string or integer"),
        ("[1, 2]", None, "expected a JSON object"),
    ],
)
def test_bad_record_names_file_line_and_field(tmp_path: Path, line: str, field: str | None, reason: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "ok", "text": "fine"}\n' + line + "\n")
    with pytest.raises(BadRecordError) as info:
        list(corpus.load(path))
    error = info.value
    assert (error.source, error.line, error.field) == (str(path), 2, field)
    assert reason in str(error) and f"{path}:2" in str(error)


def test_skip_bad_counts_instead_of_stopping(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(
        b'{"_id": "1", "text": "a"}\n{bad\n{"_id": "1", "text": "dup"}\n\xff\xfe\n{"_id": "2", "text": "b"}\n'
    )
    report = corpus.LoadReport()
    docs = list(corpus.load(path, skip_bad=True, report=report))
    assert [d.id for d in docs] == ["1", "2"]
    assert report.skipped == 3 and report.read == 5
    assert any("duplicate id '1' (first at line 1)" in e for e in report.skipped_examples)
    assert any("UTF-8" in e for e in report.skipped_examples)


def test_nul_bytes_are_removed_from_text(tmp_path: Path) -> None:
    (doc,) = corpus.load(write_jsonl(tmp_path / "c.jsonl", [{"_id": "n", "text": "a\u0000b"}]))
    assert doc.text == "ab"


def test_unknown_and_missing_sources_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "c.xml").write_text("<x/>")
    with pytest.raises(CorpusError, match="unknown corpus format"):
        list(corpus.load(tmp_path / "c.xml"))
    with pytest.raises(CorpusError, match="no such file"):
        list(corpus.load(tmp_path / "missing.jsonl"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no .txt or .md"):
        list(corpus.load(tmp_path / "empty"))


def test_loading_is_lazy(tmp_path: Path) -> None:
    """The first document arrives before a later broken line is read: the file is streamed."""
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "1", "text": "a"}\n{broken\n')
    stream = corpus.load(path)
    assert next(stream).id == "1"
    with pytest.raises(BadRecordError):
        next(stream)


def test_estimate_count(tmp_path: Path, sample_dir: Path) -> None:
    assert corpus.estimate_count(sample_dir) == 300
    assert corpus.estimate_count(write_jsonl(tmp_path / "c.jsonl", ROWS)) == 2
    with (tmp_path / "c.csv").open("w") as handle:
        handle.write("_id,text\n1,a\n2,b\n3,c\n")
    assert corpus.estimate_count(tmp_path / "c.csv") == 3
    assert json.loads((sample_dir / "corpus.jsonl").open().readline())["_id"]
