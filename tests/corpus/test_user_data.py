"""The data a new user has: CSV/TSV with typed columns, fields named differently, folders of notes
(front matter, headings, empty and hidden files), one text file, standard input, a glob."""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import write_jsonl

from semsearch import corpus
from semsearch.errors import BadRecordError, CorpusError, OptionError
from semsearch.store.schema import filterable_kinds

PAPERS = [
    {"id": "p1", "title": "Alpha", "abstract": "first abstract", "year": 2015, "score": 3.5, "open_access": True,
     "journal": "Cell", "zip": "02139"},
    {"id": "p2", "title": "Beta", "abstract": "second abstract", "year": None, "score": 2.0, "open_access": False,
     "journal": None, "zip": "10001"},
    {"id": "p3", "title": None, "abstract": "third abstract", "year": 2023, "score": None, "open_access": None,
     "journal": "Nature", "zip": "94305"},
]  # fmt: skip
PAPER_FIELDS = corpus.FieldMap.from_options(text_field="abstract")


def write_csv(
    path: Path, rows: list[dict], delimiter: str = ",", cells: dict[tuple[int, str], str] | None = None
) -> Path:
    """``rows`` as CSV, None as an empty cell, booleans as true/false in varied case; ``cells`` overrides."""

    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "TRUE" if value else "false"
        return str(value)

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(list(rows[0]))
        for number, row in enumerate(rows):
            writer.writerow([(cells or {}).get((number, k), cell(v)) for k, v in row.items()])
    return path


def test_csv_columns_are_typed_like_parquet(tmp_path: Path) -> None:
    write_csv(tmp_path / "papers.csv", PAPERS, cells={(1, "score"): "2"})  # an int among floats: the column is float
    pq.write_table(pa.Table.from_pylist(PAPERS), tmp_path / "papers.parquet")
    from_csv = list(corpus.load(tmp_path / "papers.csv", PAPER_FIELDS))
    from_parquet = list(corpus.load(tmp_path / "papers.parquet", PAPER_FIELDS))
    assert [d.metadata for d in from_csv] == [d.metadata for d in from_parquet]
    assert [(d.id, d.text) for d in from_csv] == [(d.id, d.text) for d in from_parquet]
    first, second, _ = from_csv
    assert first.metadata["year"] == 2015 and isinstance(first.metadata["year"], int)
    assert isinstance(second.metadata["score"], float) and first.metadata["open_access"] is True
    assert first.metadata["zip"] == "02139"  # a leading zero is not a number: zip codes stay text
    assert second.metadata["year"] is None and second.metadata["journal"] is None  # empty cells: null, as Parquet
    assert filterable_kinds(from_csv) == filterable_kinds(from_parquet)
    assert {k: v.value for k, v in filterable_kinds(from_csv).items()} == {
        "title": "string", "year": "number", "score": "number", "open_access": "bool", "journal": "string",
        "zip": "string",
    }  # fmt: skip


def test_csv_types_hold_for_the_whole_file(tmp_path: Path) -> None:
    """One cell that is no number makes the whole column text, even far down the file."""
    rows = [{"id": str(i), "text": f"row {i}", "year": 2000 + i, "flag": "true"} for i in range(50)]
    rows[-1]["year"] = "unknown"
    rows[-1]["flag"] = "maybe"
    docs = list(corpus.load(write_csv(tmp_path / "c.csv", rows)))
    assert {type(d.metadata["year"]) for d in docs} == {str} and docs[0].metadata["year"] == "2000"
    assert {d.metadata["flag"] for d in docs} == {"true", "maybe"}


def test_csv_id_text_and_title_stay_as_written(tmp_path: Path) -> None:
    rows = [{"id": "007", "title": "1984", "text": "42"}, {"id": "1.0", "title": "2001", "text": "7"}]
    docs = list(corpus.load(write_csv(tmp_path / "c.csv", rows)))
    assert [(d.id, d.text, d.metadata["title"]) for d in docs] == [
        ("007", "1984 42", "1984"),
        ("1.0", "2001 7", "2001"),
    ]


def test_declared_types_override_inference(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "t", "code": "10", "year": "2015", "ok": "yes"},
            {"id": "b", "text": "u", "code": "20", "year": "0099", "ok": "no"}]  # fmt: skip
    fields = corpus.FieldMap.from_options(types={"code": "string", "year": "number", "ok": "bool"})
    assert fields.types == (("code", "string"), ("year", "number"), ("ok", "bool"))
    first, second = corpus.load(write_csv(tmp_path / "c.csv", rows), fields)
    assert first.metadata == {"code": "10", "year": 2015, "ok": True}
    assert second.metadata == {"code": "20", "year": 99, "ok": False}

    rows[1]["year"] = "soon"
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(BadRecordError) as info:
        list(corpus.load(path, fields))
    assert (info.value.source, info.value.line, info.value.field) == (str(path), 3, "year")
    assert "expected a number" in info.value.message and "'soon'" in info.value.message
    report = corpus.LoadReport()
    assert [d.id for d in corpus.load(path, fields, skip_bad=True, report=report)] == ["a"] and report.skipped == 1


def test_a_declared_string_turns_json_and_parquet_numbers_into_text(tmp_path: Path) -> None:
    rows = [{"_id": "a", "text": "t", "code": 7, "year": 2015, "metadata": {"zip": 2139}}]
    fields = corpus.FieldMap.from_options(types={"code": "string", "zip": "string", "year": "number"})
    (doc,) = corpus.load(write_jsonl(tmp_path / "c.jsonl", rows), fields)
    assert doc.metadata == {"code": "7", "year": 2015, "zip": "2139"}
    pq.write_table(pa.Table.from_pylist([{"_id": "a", "text": "t", "code": 7, "year": 2015}]), tmp_path / "c.parquet")
    (doc,) = corpus.load(tmp_path / "c.parquet", fields)
    assert doc.metadata == {"code": "7", "year": 2015}
    (doc,) = corpus.load([{"id": "m", "text": "t", "code": 1.5}], fields)
    assert doc.metadata == {"code": "1.5"}


def test_an_unknown_type_is_an_option_error_naming_that_field_alone() -> None:
    with pytest.raises(OptionError) as error:
        corpus.FieldMap.from_options(types={"zip": "string", "year": "date"})
    assert (
        error.value.value == {"year": "date"} and error.value.reason == "a field's type is 'number', 'string' or 'bool'"
    )
    from semsearch.cli.common import render

    assert render(error.value) == "--type year=date: a field's type is 'number', 'string' or 'bool'"  # the flag


def test_tsv_and_tsv_gz_read_like_csv(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "first, with a comma", "year": 2001}, {"id": "b", "text": "second", "year": 2002}]
    for name in ["c.tsv", "c.tsv.gz"]:
        docs = list(corpus.load(write_csv(tmp_path / name, rows, delimiter="\t")))
        assert [(d.id, d.text, d.metadata) for d in docs] == [
            ("a", "first, with a comma", {"year": 2001}), ("b", "second", {"year": 2002})
        ], name  # fmt: skip
    assert corpus.estimate_count(tmp_path / "c.tsv") == 2


def test_estimate_count_counts_csv_rows_not_lines(tmp_path: Path) -> None:
    rows = [{"id": str(i), "text": "a cell\nover\nfour lines" if i % 2 else "one line"} for i in range(10)]
    path = write_csv(tmp_path / "c.csv", rows)
    assert path.read_text().count("\n") > 20
    assert corpus.estimate_count(path) == 10 == len(list(corpus.load(path)))


def test_a_missing_id_or_text_column_is_a_corpus_error_that_says_how_to_map_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "papers.csv", [{"doi": "10.1/x", "abstract": "a", "year": 2001}])
    with pytest.raises(CorpusError) as info:
        list(corpus.load(path, skip_bad=True))  # not a bad record: every record lacks it
    error = info.value
    assert not isinstance(error, BadRecordError)
    assert (
        error.message
        == f"{path}: no id field (_id or id) and no text field (text): the records have columns doi, abstract, year"
    )
    assert error.hint is not None and error.hint.option == "id_field" and "id_field=" in str(error)

    with pytest.raises(CorpusError) as info:
        list(corpus.load(path, corpus.FieldMap.from_options(id_field="doi")))
    assert info.value.message.startswith(f"{path}: no text field (text): the records have columns doi, abstract, year")
    assert info.value.hint is not None and info.value.hint.option == "text_field"
    (doc,) = corpus.load(path, corpus.FieldMap.from_options(id_field="doi", text_field="abstract"))
    assert (doc.id, doc.text) == ("10.1/x", "a")

    jsonl = write_jsonl(tmp_path / "c.jsonl", [{"key": "1", "body": "x"}])
    with pytest.raises(
        CorpusError,
        match=r"c.jsonl: no id field \(_id or id\) and no text field \(text\): the records have fields key, body;",
    ):
        list(corpus.load(jsonl))
    with pytest.raises(CorpusError, match=r"documents given: no text field \(text\)"):
        list(corpus.load([{"id": "1", "body": "x"}]))


def test_one_record_without_its_id_stays_a_bad_record(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [{"id": "1", "text": "a"}, {"id": "", "text": "b"}, {"id": "3", "text": ""}])
    report = corpus.LoadReport()
    assert [d.id for d in corpus.load(path, skip_bad=True, report=report)] == ["1"]
    assert report.skipped == 2 and "c.csv:3: field '_id/id': missing id" in report.skipped_examples[0]
    first = write_jsonl(tmp_path / "c.jsonl", [{"_id": None, "text": "a"}, {"_id": "2", "text": "b"}])
    with pytest.raises(BadRecordError, match="missing id"):  # the field is there, its value is not
        list(corpus.load(first))


def test_json_errors_say_at_column_once(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"_id": "x", "text": "a\x00b"}\n')
    with pytest.raises(BadRecordError) as info:
        list(corpus.load(path))
    assert "at at" not in info.value.message
    assert "invalid JSON: Invalid control character at column 24" in info.value.message


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "projects").mkdir(parents=True)
    (root / ".obsidian").mkdir()
    (root / ".obsidian" / "workspace.md").write_text("editor state")
    (root / ".hidden.md").write_text("a hidden note")
    (root / "plain.txt").write_text("just some text")
    (root / "empty.md").write_text("")
    (root / "blank.txt").write_text("  \n\n\t")
    (root / "heading.md").write_text("\n# Garden plans #\nTomatoes by the fence.\n")
    (root / "projects" / "fm.md").write_text(
        "---\ntitle: Roof repair\ntags: [house, urgent]\ndate: 2024-03-01\npath: ignored\n---\n"
        "# Not the title\nCall the roofer.\n"
    )
    return root


def test_a_folder_of_notes(notes: Path) -> None:
    report = corpus.LoadReport()
    docs = {d.id: d for d in corpus.load(notes, report=report)}
    assert sorted(docs) == ["heading.md", "plain.txt", "projects/fm.md"]  # hidden ones are skipped
    assert (report.read, report.empty, report.skipped) == (5, 2, 0)  # empty files are counted, not bad
    assert docs["heading.md"].text == "Garden plans Tomatoes by the fence."  # the heading once, as the title
    assert docs["heading.md"].metadata == {"path": "heading.md", "title": "Garden plans"}
    fm = docs["projects/fm.md"]
    assert fm.text == "Roof repair # Not the title\nCall the roofer."
    assert fm.metadata == {"title": "Roof repair", "tags": ["house", "urgent"], "date": "2024-03-01",
                           "path": "projects/fm.md"}  # fmt: skip
    assert docs["plain.txt"].metadata == {"path": "plain.txt"}
    assert fm.source == str(notes / "projects" / "fm.md")
    assert corpus.estimate_count(notes) == 5


def test_bad_front_matter_is_a_bad_record_naming_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "a.md").write_text("---\ntitle: ok\nlist: [unclosed\n---\nbody\n")
    (root / "b.md").write_text("---\n- just\n- a list\n---\nbody\n")
    (root / "c.md").write_text("---\nnot closed, so no front matter\n")
    report = corpus.LoadReport()
    docs = list(corpus.load(root, skip_bad=True, report=report))
    assert [d.id for d in docs] == ["c.md"] and docs[0].text.startswith("---")
    assert report.skipped == 2
    assert report.skipped_examples[0].startswith(f"{root / 'a.md'}:4: invalid YAML front matter")
    assert report.skipped_examples[1].startswith(f"{root / 'b.md'}:2: the front matter is not a mapping")
    with pytest.raises(BadRecordError, match=r"a.md:4: invalid YAML"):
        list(corpus.load(root))


def test_a_glob_chooses_the_files(notes: Path) -> None:
    assert [d.id for d in corpus.load(notes, glob="**/*.md")] == ["heading.md", "projects/fm.md"]
    assert [d.id for d in corpus.load(notes, glob="projects/*")] == ["projects/fm.md"]
    assert corpus.count(notes, glob="*.txt") == 2
    assert [line for _, line, _ in corpus.raw_records(notes, glob="*.txt")] == [1]  # the empty one is left out
    with pytest.raises(CorpusError, match=r"no files match '\*\*/\*.rst'"):
        list(corpus.load(notes, glob="**/*.rst"))
    with pytest.raises(OptionError, match="glob"):
        list(corpus.load(notes / "plain.txt", glob="*.txt"))


def test_a_single_text_or_markdown_file(notes: Path) -> None:
    (doc,) = corpus.load(notes / "projects" / "fm.md")
    assert (doc.id, doc.metadata["path"], doc.metadata["tags"]) == ("fm.md", "fm.md", ["house", "urgent"])
    (doc,) = corpus.load(notes / "plain.txt")
    assert (doc.id, doc.text) == ("plain.txt", "just some text")
    assert corpus.estimate_count(notes / "plain.txt") == 1
    report = corpus.LoadReport()
    assert list(corpus.load(notes / "empty.md", report=report)) == [] and report.empty == 1


def test_dash_reads_jsonl_from_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b'{"_id": "1", "text": "from a pipe"}\n{broken\n'))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert corpus.count("-") is None
    report = corpus.LoadReport()
    assert [(d.id, d.text) for d in corpus.load("-", skip_bad=True, report=report)] == [("1", "from a pipe")]
    assert report.skipped == 1 and report.skipped_examples[0].startswith("<stdin>:2: invalid JSON")


def test_typed_csv_streams_in_bounded_memory(tmp_path: Path) -> None:
    """The first pass (column types) and the second both stream: memory does not grow with the file."""
    import tracemalloc

    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write("id,text,year,score\n")
        for i in range(20_000):
            handle.write(f"d{i},{'word ' * 200}{i},{2000 + i % 20},{i / 3:.2f}\n")
    tracemalloc.start()
    docs = 0
    for doc in corpus.load(path):
        docs += 1
        assert isinstance(doc.metadata["year"], int) and isinstance(doc.metadata["score"], float)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert docs == 20_000 and peak < path.stat().st_size / 4  # about 20 MB of file, about 2 MB at the peak


def test_a_title_field_that_is_also_the_text_field_is_read_once() -> None:
    (doc,) = corpus.load([{"id": "a", "title": "Only a title"}], corpus.FieldMap.from_options(text_field="title"))
    assert doc.text == "Only a title" and doc.metadata == {}
