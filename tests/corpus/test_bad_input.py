"""Bad input: every case of issue 4 has a defined behaviour, an error naming file, line and field,
or (with --skip-bad) a skip that is counted; nothing is dropped silently.

The README's "Reliability" section lists the same cases; keep the two in step.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from reliability_kit import CHILD_ENV, ROOT

import semsearch
from semsearch import corpus
from semsearch.errors import BadRecordError, CorpusError
from semsearch.ingest import IndexOptions, build_index

GOOD_1 = b'{"_id": "one", "text": "first good record"}'
GOOD_3 = b'{"_id": "three", "text": "third good record"}'

# (case, the bad line 2, the field named, words the reason must contain)
BAD_LINES = [
    ("invalid JSON", b'{"_id": "x", "text": "unterminated', None, "invalid JSON"),
    ("missing id", b'{"text": "no id here"}', "_id/id", "missing id"),
    ("missing text", b'{"_id": "x", "title": "only a title field"}', "text", "missing text"),
    ("empty text", b'{"_id": "x", "text": "   "}', "text", "empty text"),
    ("text of NULs only", b'{"_id": "x", "text": "\\u0000\\u0000"}', "text", "empty text"),
    ("text not a string", b'{"_id": "x", "text": ["a", "b"]}', "text", "must be a string"),
    (
        "non-UTF-8 bytes",
        b'{"_id": "x", "text": "caf\xe9 au lait"}',
        None,
        "not valid UTF-8 (byte 0xe9 at byte column 26)",
    ),
    ("raw NUL byte in a string", b'{"_id": "x", "text": "a\x00b"}', None, "invalid JSON: Invalid control character"),
    ("NUL in the id", b'{"_id": "a\\u0000b", "text": "t"}', "_id", "control character"),
    ("newline in the id", b'{"_id": "a\\nb", "text": "t"}', "_id", "control character"),
    ("over-long id", b'{"_id": "' + b"x" * 1025 + b'", "text": "t"}', "_id", "longer than 1024"),
    ("id not a scalar", b'{"_id": {"a": 1}, "text": "t"}', "_id", "string or integer"),
    ("lone surrogate in text", b'{"_id": "x", "text": "bad \\ud800 char"}', "text", "unpaired surrogate (\\ud800)"),
    ("lone surrogate in metadata", b'{"_id": "x", "text": "t", "k": "\\udfff"}', "metadata", "unpaired surrogate"),
    ("NaN", b'{"_id": "x", "text": "t", "score": NaN}', None, "NaN is not a JSON value"),
    ("Infinity", b'{"_id": "x", "text": "t", "score": -Infinity}', None, "-Infinity is not a JSON value"),
    ("number out of range", b'{"_id": "x", "text": "t", "score": 1e999}', None, "out of range"),
    ("integer with 5000 digits", b'{"_id": "x", "text": "t", "n": ' + b"9" * 5000 + b"}", None, "digits"),
    ("nesting 100,000 deep", b'{"_id": "x", "text": "t", "m": ' + b"[" * 100_000 + b"}", None, "nested too deeply"),
    ("not an object", b"[1, 2, 3]", None, "expected a JSON object"),
]


@pytest.mark.parametrize(("case", "line", "field", "reason"), BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_bad_jsonl_line_is_named_or_skipped_and_counted(
    tmp_path: Path, case: str, line: bytes, field: str | None, reason: str
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(GOOD_1 + b"\n" + line + b"\n" + GOOD_3 + b"\n")
    with pytest.raises(BadRecordError) as info:
        list(corpus.load(path))
    error = info.value
    assert (error.source, error.line, error.field) == (str(path), 2, field)
    assert reason in str(error) and str(error).startswith(f"{path}:2: ") and "skip_bad=True" in str(error)
    assert "\n" not in str(error)

    report = corpus.LoadReport()
    assert [d.id for d in corpus.load(path, skip_bad=True, report=report)] == ["one", "three"]
    assert (report.read, report.skipped) == (3, 1)
    assert report.skipped_examples[0].startswith(f"{path}:2: ") and "skip_bad" not in report.skipped_examples[0]


def test_duplicate_ids_keep_the_first_and_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(
        GOOD_1
        + b'\n{"_id": "one", "text": "again"}\n'
        + GOOD_3
        + b'\n{"id": 7, "text": "x"}\n{"_id": "7", "text": "y"}\n'
    )
    with pytest.raises(BadRecordError, match=r"c.jsonl:2: field 'id': duplicate id 'one' \(first at line 1\)"):
        list(corpus.load(path))
    report = corpus.LoadReport()
    docs = list(corpus.load(path, skip_bad=True, report=report))
    assert [(d.id, d.text) for d in docs] == [("one", "first good record"), ("three", "third good record"), ("7", "x")]
    assert report.skipped == 2 and "duplicate id '7' (first at line 4)" in report.skipped_examples[1]


def test_nul_characters_are_removed_from_text_everywhere(tmp_path: Path) -> None:
    """NUL written as a JSON escape, a raw byte in a CSV cell or in a .txt file: removed, record kept."""
    (doc,) = corpus.load(_write(tmp_path / "c.jsonl", b'{"_id": "n", "title": "T\\u0000", "text": "a\\u0000b"}\n'))
    assert doc.text == "T ab"
    (doc,) = corpus.load(_write(tmp_path / "c.csv", b"_id,text\nn,a\x00b\n"))
    assert doc.text == "ab"
    (tmp_path / "texts").mkdir()
    _write(tmp_path / "texts" / "f.txt", b"a\x00b")
    (doc,) = corpus.load(tmp_path / "texts")
    assert doc.text == "ab"


def test_non_utf8_in_csv_is_one_bad_row_and_in_a_text_file_one_bad_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.csv", b"_id,text\n1,fine\n2,caf\xe9\n3,also fine\n")
    with pytest.raises(BadRecordError, match=r"c.csv:3: not valid UTF-8"):
        list(corpus.load(path))
    report = corpus.LoadReport()
    assert [d.id for d in corpus.load(path, skip_bad=True, report=report)] == ["1", "3"]
    assert report.skipped == 1

    bad_header = _write(tmp_path / "h.csv", b"_id,t\xffext\n1,a\n")
    with pytest.raises(CorpusError, match=r"h.csv:1: the header is not valid UTF-8"):
        list(corpus.load(bad_header, skip_bad=True))

    texts = tmp_path / "texts"
    texts.mkdir()
    _write(texts / "a.txt", b"good")
    _write(texts / "b.txt", b"\xff\xfe bad")
    report = corpus.LoadReport()
    assert [d.id for d in corpus.load(texts, skip_bad=True, report=report)] == ["a.txt"]
    assert report.skipped == 1 and "b.txt:1: not valid UTF-8" in report.skipped_examples[0]


def test_a_json_line_cut_short_names_the_column_where_it_ends(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jsonl", GOOD_1 + b'\n{"_id": "2", "text": "second"\n' + GOOD_3 + b"\n")
    report = corpus.LoadReport()
    assert [d.id for d in corpus.load(path, skip_bad=True, report=report)] == ["one", "three"]
    assert report.skipped_examples == [f"{path}:2: invalid JSON: Expecting ',' delimiter at column 30"]


def test_csv_rows_whose_cells_do_not_line_up_are_bad_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.csv", b"id,text,year\n1,fine,2020\n2,short\n3,long,2021,extra\n4,also fine,\n")
    with pytest.raises(BadRecordError, match=r"c.csv:3: fewer cells than columns \(2 for 3\)"):
        list(corpus.load(path))
    report = corpus.LoadReport()
    docs = list(corpus.load(path, skip_bad=True, report=report))
    assert [d.id for d in docs] == ["1", "4"] and docs[1].metadata == {"year": None}  # an empty cell is a value
    assert report.skipped == 2 and "c.csv:4: more cells than columns (4 for 3)" in report.skipped_examples[1]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (b'2,"a quote never closed,2021', "a quoted cell that starts in this record is never closed"),
        (b'2,"quoted" then text,2021', "text follows a closing quote"),
    ],
)
def test_a_csv_quote_that_would_swallow_rows_stops_the_run_at_its_line(tmp_path: Path, row: bytes, reason: str) -> None:
    """Read leniently, an open quote makes one cell of every row after it: the rows would vanish uncounted."""
    path = _write(tmp_path / "c.csv", b"id,text,year\n1,fine,2020\n" + row + b"\n3,third,2022\n4,fourth,2023\n")
    with pytest.raises(CorpusError, match=rf"c.csv:3: malformed CSV: {re.escape(reason)}"):
        list(corpus.load(path, skip_bad=True))
    multiline = _write(tmp_path / "m.csv", b'id,text\n1,"a cell\nover two lines"\n2,next\n')
    assert [d.text for d in corpus.load(multiline)] == ["a cell\nover two lines", "next"]  # a closed quote is fine


def test_byte_order_mark_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jsonl", b"\xef\xbb\xbf" + GOOD_1 + b"\r\n\r\n" + GOOD_3 + b"\r\n")
    assert [d.id for d in corpus.load(path)] == ["one", "three"]


def test_truncated_gzip_and_damaged_parquet_are_corpus_errors(tmp_path: Path) -> None:
    rows = b"".join(b'{"_id": "%d", "text": "record %d"}\n' % (i, i) for i in range(5000))
    whole = gzip.compress(rows)
    path = _write(tmp_path / "c.jsonl.gz", whole[: len(whole) // 2])
    with pytest.raises(CorpusError, match=r"c.jsonl.gz: cannot be read past line \d+ \(EOFError"):
        list(corpus.load(path, skip_bad=True))  # a broken stream cannot be skipped past

    table = pa.table({"_id": [str(i) for i in range(5000)], "text": [f"record {i}" for i in range(5000)]})
    pq.write_table(table, tmp_path / "c.parquet", row_group_size=1000)
    data = bytearray((tmp_path / "c.parquet").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 2000] = b"\x00" * 2000
    damaged = _write(tmp_path / "d.parquet", bytes(data))
    with pytest.raises(CorpusError, match=r"d.parquet"):
        list(corpus.load(damaged))
    _write(tmp_path / "e.parquet", b"PAR1 not really")
    with pytest.raises(CorpusError, match=r"e.parquet: not a readable Parquet file"):
        list(corpus.load(tmp_path / "e.parquet"))


def test_delete_missing_refuses_to_empty_the_index_when_the_source_yields_nothing(
    tmp_path: Path, tiny_model: Path
) -> None:
    options = IndexOptions(model=str(tiny_model), progress=False)
    source = _write(tmp_path / "c.jsonl", GOOD_1 + b"\n" + GOOD_3 + b"\n")
    build_index(source, tmp_path / "idx", options)
    _write(source, b"{broken\n")
    with pytest.raises(CorpusError, match="refusing to delete all 2 documents"):
        build_index(
            source, tmp_path / "idx", IndexOptions(**{**options.__dict__, "delete_missing": True, "skip_bad": True})
        )
    assert len(semsearch.open(tmp_path / "idx")) == 2


def test_a_5mb_document_is_indexed_whole_in_windows(tmp_path: Path, tiny_model: Path) -> None:
    # Long words that are one token each keep the encoding cheap: about 390,000 tokens, 4,000 windows.
    words = ["international", "development", "information", "government", "environment", "performance",
             "relationship", "understanding", "organization", "communication", "administration", "construction",
             "particularly", "professional", "independence", "significant", "championship", "entertainment"]  # fmt: skip
    body = " ".join(words[i % len(words)] for i in range(390_000))
    text = body + " quetzalcoatl"
    assert len(text.encode()) > 5_000_000
    source = tmp_path / "c.jsonl"
    source.write_text(
        json.dumps({"_id": "big", "text": text}) + "\n" + json.dumps({"_id": "small", "text": "hay"}) + "\n"
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = build_index(source, tmp_path / "idx", IndexOptions(model=str(tiny_model), progress=False))
    finally:
        torch.set_num_threads(threads)
    assert summary.docs == 2 and summary.chunks > 3_000  # 128-token windows, 32 shared by neighbours
    index = semsearch.open(tmp_path / "idx")
    hit = index.search("quetzalcoatl", k=1, mode="bm25").hits[0]
    assert hit.id == "big" and hit.text == text  # stored whole, found by its last word
    spans = index.store.scan(["start", "end"], "doc_id = 'big'")
    assert max(spans["end"].to_pylist()) == len(text)  # the windows reach the end of the text


@pytest.mark.slow
def test_a_million_line_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    """1M records through the loader: memory grows with the number of ids (duplicate check), not text."""
    path = tmp_path / "big.jsonl"
    text = "x" * 400
    with path.open("w") as handle:
        for i in range(1_000_000):
            handle.write(f'{{"_id": "d{i}", "text": "{text} {i}"}}\n' if i != 999_998 else "{broken\n")
    size = path.stat().st_size
    tracemalloc.start()
    report = corpus.LoadReport()
    count = sum(1 for _ in corpus.load(path, skip_bad=True, report=report))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"1M-line file: {size / 1e6:.0f} MB, {count} documents, peak traced memory {peak / 1e6:.0f} MB")
    assert (count, report.read, report.skipped) == (999_999, 1_000_000, 1)
    assert "big.jsonl:999999: invalid JSON" in report.skipped_examples[0]
    assert peak < 200e6 and peak < size / 2


# `python -m semsearch`, saying its own peak RSS on exit. Not RUSAGE_CHILDREN: a child's maxrss counts the
# parent's pages it held between fork and exec, so after a test that grew this process it measured that test.
PEAK_REPORTED = (
    "import atexit, re, runpy, sys\n"
    "atexit.register(lambda: print('peak RSS', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1],"
    " 'kB', file=sys.stderr))\n"
    "runpy.run_module('semsearch', run_name='__main__')\n"
)


@pytest.mark.slow
def test_a_million_line_file_with_mostly_bad_lines_indexes_what_is_good(tmp_path: Path, tiny_model: Path) -> None:
    """The CLI over 1M lines, 998,000 of them bad in 4 ways: every bad one counted, peak RSS bounded."""
    path = tmp_path / "big.jsonl"
    bad = [b"{broken", b'{"_id": "", "text": "no id"}', b'{"_id": "e", "text": ""}', b"\xff\xfe"]
    with path.open("wb") as handle:
        for i in range(1_000_000):
            handle.write((b'{"_id": "g%d", "text": "good record %d"}' % (i, i)) if i % 500 == 0 else bad[i % 4])
            handle.write(b"\n")
    command = [sys.executable, "-c", PEAK_REPORTED, "index", str(path), "--index", str(tmp_path / "idx"),
               "--model", str(tiny_model), "--skip-bad"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=CHILD_ENV, capture_output=True, text=True, timeout=900)
    peak_mb = int(re.findall(r"peak RSS (\d+) kB", result.stderr)[-1]) / 1024
    print(f"1M lines, 998,000 bad: peak RSS {peak_mb:.0f} MB")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2000 documents" in result.stdout and "998000 bad records skipped" in result.stdout
    assert result.stderr.count("skipped: ") == 5  # a few examples, not a million lines
    assert peak_mb < 2000


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
