"""Metadata that holds lists of strings becomes a ``list<string>`` column, filtered with ``CONTAINS``.

Every condition here runs on a real Lance dataset: a scan (what the FAISS backend filters with) and the
store's own filtered vector search (the ``lancedb`` backend), both checked against exact search.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from semsearch.ann import exact_search, open_backend
from semsearch.errors import FilterError
from semsearch.filters import Kind, parse
from semsearch.store import ChunkRows, Store
from semsearch.store.schema import ARROW_KIND, KIND_OF_ARROW, filterable_kinds, kind_of
from semsearch.types import Backend, Document

DIM = 16
TAGS = [["diet", "vitamin D"], ["diet"], [], ["it's", "vitamin D"], None]  # None: the document has no tags


def documents(count: int) -> list[Document]:
    docs = []
    for i in range(count):
        metadata: dict = {"name": f"N{i % 5}" if i % 2 else f"n{i % 5}", "scores": [i, i + 1]}
        tags = TAGS[i % len(TAGS)]
        if tags is not None:
            metadata["tags"] = tags
        docs.append(Document(id=f"d{i}", text=f"document {i}", metadata=metadata))
    return docs


def write(store: Store, docs: list[Document], first_rowid: int = 0, *, add_fields: bool = True) -> np.ndarray:
    vectors = np.random.default_rng(first_rowid).normal(size=(len(docs), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    if add_fields:
        store.ensure_fields(filterable_kinds(docs))
    store.write(
        ChunkRows(
            docs=docs,
            doc_index=list(range(len(docs))),
            numbers=[0] * len(docs),
            spans=[(0, 1)] * len(docs),
            rowids=list(range(first_rowid, first_rowid + len(docs))),
            vectors=vectors,
        )
    )
    return vectors


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.create(tmp_path / "store", DIM)
    write(store, documents(50))
    return store


def matching(store: Store, condition: str) -> set[str]:
    checked = parse(condition, store.fields())
    found = set(store.scan(["doc_id"], checked.sql)["doc_id"].to_pylist())
    assert store.count_chunks(checked) == len(found)
    return found


def expected(condition) -> set[str]:
    return {d.id for d in documents(50) if condition(d.metadata.get("tags"))}


def test_lists_of_strings_have_their_own_kind_and_arrow_type() -> None:
    assert kind_of(["diet", "vitamin D"]) is Kind.STRING_LIST and kind_of([]) is Kind.STRING_LIST
    assert kind_of([1, 2]) is None and kind_of(["a", 1]) is None and kind_of([["a"]]) is None
    assert ARROW_KIND[Kind.STRING_LIST] == pa.list_(pa.string())
    assert KIND_OF_ARROW[str(pa.list_(pa.string()))] is Kind.STRING_LIST
    # an empty list fits a list of strings but does not decide a field's kind on its own
    docs = [Document("a", "t", {"tags": [], "refs": []}), Document("b", "t", {"tags": ["x"], "refs": [1]})]
    assert filterable_kinds(docs) == {"tags": Kind.STRING_LIST}


def test_a_list_field_is_a_list_column(store: Store) -> None:
    fields = store.fields()
    assert fields["tags"].kind is Kind.STRING_LIST and fields["tags"].column == "m_tags"
    assert "scores" not in fields  # a list of numbers cannot be filtered
    assert store.schema.field("m_tags").type == pa.list_(pa.string())
    values = dict(zip(*store.scan(["doc_id", "m_tags"]).to_pydict().values(), strict=True))
    assert values["d0"] == ["diet", "vitamin D"] and values["d2"] == [] and values["d4"] is None


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ("tags CONTAINS 'diet'", lambda t: bool(t) and "diet" in t),
        ("tags CONTAINS 'vitamin D'", lambda t: bool(t) and "vitamin D" in t),
        ("tags contains 'it''s'", lambda t: bool(t) and "it's" in t),
        ("tags CONTAINS 'vitamin'", lambda t: False),  # a whole item, not a substring
        ("tags CONTAINS 'Diet'", lambda t: False),  # case matters
        ("NOT (tags CONTAINS 'diet')", lambda t: not t or "diet" not in t),  # without tags: does not contain
        ("tags NOT CONTAINS 'diet'", lambda t: not t or "diet" not in t),
        ("tags CONTAINS 'diet' AND NOT tags CONTAINS 'vitamin D'", lambda t: t == ["diet"]),
        ("tags CONTAINS 'diet' OR tags CONTAINS 'it''s'", lambda t: bool(t) and bool({"diet", "it's"} & set(t))),
        ("tags IS NULL", lambda t: t is None),
        ("tags IS NOT NULL", lambda t: t is not None),
    ],
)
def test_contains_runs_on_the_store(store: Store, condition: str, holds) -> None:
    assert matching(store, condition) == expected(holds)


def test_ilike_is_case_insensitive_on_the_store(store: Store) -> None:
    assert matching(store, "name ILIKE 'n1%'") == {f"d{i}" for i in range(50) if i % 5 == 1}
    assert matching(store, "name LIKE 'n1%'") == {f"d{i}" for i in range(50) if i % 5 == 1 and i % 2 == 0}
    assert matching(store, "NOT name ILIKE 'N_'") == set()


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("tags = 'diet'", "'tags' holds lists: test it with tags CONTAINS 'value'"),
        ("tags IN ('diet')", "'tags' holds lists"),
        ("tags LIKE 'd%'", "'tags' holds lists"),
        ("tags", "'tags' holds lists"),
        ("tags CONTAINS 3", "CONTAINS needs a string in single quotes"),
        ('tags CONTAINS "diet"', "strings take single quotes: tags CONTAINS 'diet'"),
        ("name CONTAINS 'x'", "CONTAINS tests lists of strings, and 'name' holds string values"),
        ("scores CONTAINS '1'", "unknown field 'scores'.*lists of strings can be filtered"),
    ],
)
def test_other_uses_of_a_list_field_say_how_to_test_it(store: Store, condition: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse(condition, store.fields())


@pytest.mark.parametrize("backend_kind", [Backend.FAISS, Backend.LANCEDB], ids=lambda b: b.value)
@pytest.mark.parametrize("condition", ["tags CONTAINS 'diet'", "NOT (tags CONTAINS 'vitamin D') AND name ILIKE 'n%'"])
def test_backends_filter_on_lists_as_exact_search_does(tmp_path: Path, backend_kind: Backend, condition: str) -> None:
    store = Store.create(tmp_path / "store", DIM)
    docs = documents(300)
    vectors = write(store, docs)
    doc_ids = np.array([d.id for d in docs], dtype=object)
    index = open_backend(backend_kind, store, tmp_path)
    index.sync()
    where = parse(condition, store.fields())
    keep = np.isin(doc_ids, store.scan(["doc_id"], where.sql)["doc_id"].to_pylist())
    assert 0 < keep.sum() < len(docs)
    for query in vectors[:5]:
        got = index.search(query, 10, where)
        want = exact_search(vectors[keep], doc_ids[keep], query, 10)
        assert list(got.doc_ids) == list(want.doc_ids)


def test_an_index_written_before_lists_were_filterable_gets_the_column_for_new_documents(tmp_path: Path) -> None:
    """Older documents keep no list column value (as in an index made before lists were filterable) until
    they are written again: only documents an indexing run writes fill the new column."""
    store = Store.create(tmp_path / "store", DIM)
    store.ensure_fields({"name": Kind.STRING})  # as before: the list field made no column
    write(store, documents(5), add_fields=False)
    assert "tags" not in store.fields()
    write(store, [Document("new", "text", {"tags": ["diet"]})], first_rowid=5)
    assert store.fields()["tags"].kind is Kind.STRING_LIST
    assert matching(store, "tags CONTAINS 'diet'") == {"new"}
