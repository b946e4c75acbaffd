"""Property-based tests: corpus loading and the filter parser never fail with anything but their own
errors, and whatever they accept is safe to use.

Corpus: random bytes, random JSON lines, random CSV (with cells that look like numbers and booleans,
so column types are inferred, or declared) and random notes with front matter (1,000 examples each). A load either yields
documents or raises :class:`BadRecordError` / :class:`CorpusError`; with ``skip_bad`` only a
:class:`CorpusError` (an unreadable stream) may stop it, and every document that comes out can be
stored (valid Unicode, a clean unique id, non-empty text without NUL).

Filters: random conditions from a grammar of SQL fragments, CONTAINS on a list field included (1,000
examples); each either raises a one-line :class:`FilterError` or renders SQL that LanceDB runs without
error on a real table.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import string
from pathlib import Path

import pytest
from helpers import random_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semsearch import corpus
from semsearch.errors import BadRecordError, CorpusError, FilterError
from semsearch.filters import parse
from semsearch.store import ChunkRows, Store
from semsearch.store.schema import filterable_kinds, metadata_json
from semsearch.types import Document

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_documents(path: Path, fields: corpus.FieldMap | None = None) -> None:
    """Load ``path`` strictly and with skip_bad; only the loader's own errors; usable documents out."""
    with contextlib.suppress(BadRecordError, CorpusError):
        for _ in corpus.load(path, fields):
            pass
    report = corpus.LoadReport()
    ids: set[str] = set()
    try:
        for doc in corpus.load(path, fields, skip_bad=True, report=report):
            assert doc.id and doc.id not in ids and len(doc.id) <= corpus.MAX_ID_LENGTH
            assert not any(ord(c) < 32 or ord(c) == 127 for c in doc.id)
            assert doc.text.strip() and "\x00" not in doc.text
            doc.id.encode("utf-8")
            doc.text.encode("utf-8")
            metadata_json(doc.metadata).encode("utf-8")
            ids.add(doc.id)
    except CorpusError:
        return
    assert report.read == len(ids) + report.skipped + report.empty


@FUZZ
@given(data=st.binary(max_size=3000))
def test_random_bytes_as_jsonl(workdir: Path, data: bytes) -> None:
    path = workdir / "bytes.jsonl"
    path.write_bytes(data)
    check_documents(path)


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)  # fmt: skip
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=4,
)  # fmt: skip
record = st.fixed_dictionaries(
    {},
    optional={
        "_id": st.one_of(st.text(max_size=12), st.integers(), json_scalars),
        "id": st.one_of(st.text(max_size=12), st.integers()),
        "text": st.one_of(st.text(max_size=60), json_scalars),
        "title": st.one_of(st.text(max_size=12), json_scalars),
        "metadata": json_values,
    },
)


@st.composite
def json_lines(draw: st.DrawFn) -> bytes:
    """Lines of JSON objects (with lone surrogates, NaN, ...), some cut short or spliced with raw bytes."""
    lines = []
    for obj in draw(st.lists(record, max_size=6)):
        line = json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
        mutation = draw(st.sampled_from(["none", "none", "cut", "bytes", "surrogate"]))
        if mutation == "cut":
            line = line[: draw(st.integers(0, len(line)))]
        elif mutation == "bytes":
            at = draw(st.integers(0, len(line)))
            line = line[:at] + draw(st.binary(min_size=1, max_size=4)) + line[at:]
        elif mutation == "surrogate" and line.endswith(b'"}'):
            line = line[:-2] + b'\\udc80"}'
        lines.append(line)
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n", b"\r\n"]))


@FUZZ
@given(data=json_lines())
def test_random_json_lines(workdir: Path, data: bytes) -> None:
    path = workdir / "lines.jsonl"
    path.write_bytes(data)
    check_documents(path)


@FUZZ
@given(data=json_lines(), cut=st.floats(0.0, 1.0))
def test_random_json_lines_gzipped_and_truncated(workdir: Path, data: bytes, cut: float) -> None:
    compressed = gzip.compress(data)
    path = workdir / "lines.jsonl.gz"
    path.write_bytes(compressed[: max(1, int(len(compressed) * cut))] if cut < 1.0 else compressed)
    check_documents(path)


typed_cells = st.sampled_from(
    [
        "2015",
        "-0",
        "3.5",
        "1e5",
        "1e999",
        "007",
        "+5",
        ".5",
        "true",
        "FALSE",
        "yes",
        " 12 ",
        "nan",
        "inf",
        "9" * 5000,
        "",
    ]
)
cell = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list(',"\n\r\x00 ')), max_size=20) | typed_cells


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    columns = draw(st.lists(st.sampled_from(["_id", "id", "text", "title", "year", "x", ""]), min_size=1, max_size=5))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for _ in range(draw(st.integers(0, 8))):
        writer.writerow(draw(st.lists(cell, min_size=0, max_size=len(columns) + 1)))
    data = buffer.getvalue().encode("utf-8")
    if draw(st.booleans()) and data:  # raw bytes spliced in anywhere: invalid UTF-8, stray quotes
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


DECLARED = corpus.FieldMap.from_options(types={"year": "number", "x": "bool", "title": "string"})


@FUZZ
@given(data=csv_files(), declared=st.booleans())
def test_random_csv(workdir: Path, data: bytes, declared: bool) -> None:
    path = workdir / "rows.csv"
    path.write_bytes(data)
    check_documents(path, DECLARED if declared else None)


yaml_lines = st.sampled_from(
    ["title: T", "title: 1984", "title: [a]", "tags: [a, b]", "date: 2024-03-01", "date: 2024-13-45", "x: .nan",
     "- a list", "a: {b: [1, 2]}", "? [a, b]\n: c", "key: 'unclosed", "*alias", "&a x: 1", "!!binary aGk=", "\t", ""]
)  # fmt: skip
body = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list("#-\n\r \x00")), max_size=40)


@st.composite
def notes(draw: st.DrawFn) -> bytes:
    """A Markdown note: maybe front matter (closed or not) of YAML lines or random text, then a body."""
    text = ""
    if draw(st.booleans()):
        lines = draw(st.lists(yaml_lines | body, max_size=4))
        text = "---\n" + "\n".join(lines) + ("\n---\n" if draw(st.booleans()) else "\n")
    text += draw(st.sampled_from(["", "# ", "#\t", "  # "])) + draw(body)
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()) and data:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


@FUZZ
@given(data=notes())
def test_random_notes(workdir: Path, data: bytes) -> None:
    path = workdir / "note.md"
    path.write_bytes(data)
    check_documents(path)


# --- filters: accepted conditions must run on a real LanceDB table ------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """40 documents with ``group``, ``even`` and ``name``, and ``tags``: a list of strings, empty, or missing."""
    store, vectors = random_store(tmp_path_factory.mktemp("fuzz-store"), docs=40)
    docs = []
    for i in range(40):
        metadata = {"group": i % 33, "even": i % 2 == 0, "name": f"n{i % 5}"}
        if i % 5:
            metadata["tags"] = [f"t{t}" for t in range(i % 4)] + (["it's"] if i % 3 == 0 else [])
        docs.append(Document(id=f"d{i}", text=f"document {i}", metadata=metadata))
    store.ensure_fields(filterable_kinds(docs))
    store.write(ChunkRows(docs, list(range(40)), [0] * 40, [(0, 1)] * 40, list(range(40)), vectors))
    return store


names = st.sampled_from(
    ["group", "even", "name", "id", "tags", "unknown", "chunk", "doc_id", "m_group", "`group`", '"name"', '"tags"']
)
literals = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(alphabet=string.printable + "éß\u2028\x00", max_size=8).map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.sampled_from(["TRUE", "FALSE", "NULL", "-1", "1e308", "1e400", "0x10", "'", "''", "\"x\"", "-'a'"]),
)  # fmt: skip
operators = st.sampled_from(
    ["=", "!=", "<>", "<", "<=", ">", ">=", "==", "LIKE", "ILIKE", "IS", "IS NOT", "+", "||", "CONTAINS", "NOT CONTAINS"]
)  # fmt: skip


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.integers(0, 9 if depth < 3 else 5))
    if kind <= 2:
        return f"{draw(names | literals)} {draw(operators)} {draw(names | literals)}"
    if kind == 3:
        values = ", ".join(draw(st.lists(literals, max_size=4)))
        return f"{draw(names)} {draw(st.sampled_from(['IN', 'NOT IN']))} ({values})"
    if kind == 4:
        return f"{draw(names)} BETWEEN {draw(literals)} AND {draw(literals)}"
    if kind == 5:
        extra = ["lower(name) = 'x'", "1=1; DROP TABLE chunks", "-- x", "/*", "tags CONTAINS 't1'", "(", ")"]
        return draw(names | literals | st.sampled_from(extra))
    left, right = draw(conditions(depth + 1)), draw(conditions(depth + 1))
    if kind == 6:
        return f"NOT ({left})"
    if kind == 7:
        return f"({left})"
    return f"{left} {draw(st.sampled_from(['AND', 'OR', 'and', 'Or']))} {right}"


@FUZZ
@given(condition=conditions())
def test_random_filters_are_refused_or_run_on_lancedb(store: Store, condition: str) -> None:
    try:
        checked = parse(condition, store.fields())
    except FilterError as error:  # in our words, on one line
        assert "\n" not in str(error) and "\x1b" not in str(error) and "Unexpected token" not in str(error)
        return
    count = store.count_chunks(checked)  # LanceDB must accept every condition the parser lets through
    assert 0 <= count <= 40
    scanned = store.scan(["doc_id"], checked.sql).num_rows
    assert scanned == count


@pytest.mark.parametrize("condition", ["group = 1e400", "group < -1e999", "group IN (1, 1e400)"])
def test_numbers_out_of_range_are_refused_not_rendered_as_inf(store: Store, condition: str) -> None:
    """Found by the fuzz test above: 1e400 used to render as ``inf``, which LanceDB read as a column name."""
    with pytest.raises(FilterError, match="out of range"):
        parse(condition, store.fields())
