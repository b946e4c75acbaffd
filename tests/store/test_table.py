"""The store table on its own: writes are whole commits, a reader keeps its version, metadata columns
and label columns are added as schema-only commits, text is checked against its hash."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import random_store

from semsearch.errors import IndexDamagedError, IndexNotFoundError
from semsearch.filters import Kind
from semsearch.store import ChunkRows, DocLabel, Store
from semsearch.store.held import HeldDocuments
from semsearch.store.schema import LABEL_FIELD, PROB_FIELD, filterable_kinds, kind_of
from semsearch.types import Document


def rows(docs: list[Document], chunks: int, first_rowid: int, dim: int = 16, labels=None) -> ChunkRows:
    vectors = np.eye(dim, dtype=np.float32)[np.arange(len(docs) * chunks) % dim]
    return ChunkRows(
        docs=docs,
        doc_index=[i for i in range(len(docs)) for _ in range(chunks)],
        numbers=[c for _ in docs for c in range(chunks)],
        spans=[(0, 1)] * (len(docs) * chunks),
        rowids=list(range(first_rowid, first_rowid + len(docs) * chunks)),
        vectors=vectors,
        labels=labels,
    )


def test_a_document_that_gets_shorter_loses_its_extra_chunks_in_the_same_commit(tmp_path: Path) -> None:
    store = Store.create(tmp_path, 16)
    store.write(rows([Document("a", "three chunks")], 3, 0))
    before = store.version
    store.write(rows([Document("a", "one chunk now")], 1, 3))
    assert store.version == before + 1 and store.count_chunks() == 1 and store.count_docs() == 1
    assert store.documents(["a"])["a"].text == "one chunk now"


def test_a_reader_keeps_the_version_it_opened(tmp_path: Path) -> None:
    writer, _ = random_store(tmp_path, 5)
    reader = Store.open(tmp_path)
    writer.delete(["d0", "d1"])
    assert reader.count_docs() == 5 and not reader.is_latest()
    assert Store.open(tmp_path).count_docs() == 3 and Store.open(tmp_path).is_latest()


@pytest.mark.parametrize("hold", [False, True])  # taken from the table, or from the documents held in memory
def test_documents_come_back_as_their_own_texts_whatever_the_order_asked(tmp_path: Path, hold: bool) -> None:
    """The fetch reads no doc_id column: it relies on a take returning rows in the order asked, across
    commits (fragments), with absent and repeated ids in the request."""
    store = Store.create(tmp_path, 16)
    store.write(rows([Document(f"a{i}", f"text of a{i}", {"n": i}) for i in range(6)], 2, 0))
    store.write(rows([Document(f"b{i}", f"text of b{i}", {"n": 10 + i}) for i in range(5)], 1, 12))
    store.write(rows([Document("a3", "text of a3, updated", {"n": 3})], 3, 17))  # a3 moves to the last fragment
    asked = ["b4", "a5", "nope", "a3", "a0", "b1", "a5", "b0"]
    assert store.documents(asked, hold=hold) == store.documents(asked)  # the first fetch takes from the table
    found = store.documents(asked, hold=hold)  # the second reads them all, if it may hold them
    assert (store._holder.held is not None) == hold
    assert list(found) == ["b4", "a5", "a3", "a0", "b1", "b0"]
    assert all(found[d].text.startswith(f"text of {d}") for d in found)
    assert found["a3"].text == "text of a3, updated" and found["b4"].metadata == {"n": 14}


def test_present_documents_and_hashes(tmp_path: Path) -> None:
    store, _ = random_store(tmp_path, 4)
    assert store.present(["d1", "d3", "nope"]) == {"d1", "d3"}
    hashes = store.doc_hashes()
    assert set(hashes) == {"d0", "d1", "d2", "d3"} and all(len(t) == len(d) == 64 for t, d in hashes.values())
    assert store.max_rowid() == 3


def test_metadata_fields_become_typed_columns(tmp_path: Path) -> None:
    store, _ = random_store(tmp_path, 3)
    fields = store.fields()
    assert fields["group"].kind is Kind.NUMBER and fields["even"].kind is Kind.BOOL
    assert fields["name"].kind is Kind.STRING and fields["id"].column == "doc_id"
    assert kind_of(True) is Kind.BOOL and kind_of(3) is Kind.NUMBER and kind_of([1]) is None
    docs = [Document("x", "t", {"a": 1, "b": "s", "bad name": 2, "l": [1]})]
    assert filterable_kinds(docs) == {"a": Kind.NUMBER, "b": Kind.STRING}


def test_held_documents_follow_the_version_and_carry_labels(tmp_path: Path) -> None:
    store = Store.create(tmp_path, 16)
    store.ensure_label_columns()
    docs = [Document("a", "x", {"n": 1}), Document("b", "y")]
    store.write(rows(docs, 1, 0, labels=[DocLabel("pos", 0.9, "fp1"), DocLabel("neg", 0.6, "fp1")]))
    taken = store.documents(["b", "a"], hold=True)
    assert store._holder.held is None  # a version's first fetch takes from the table: one search does not read them all
    held = store.documents(["b", "a"], hold=True)
    assert store.holds_documents and held == taken
    assert held["a"].label == "pos" and held["b"].label_prob == pytest.approx(0.6) and held["a"].metadata == {"n": 1}
    store.write(rows([Document("a", "x, changed")], 1, 2, labels=[DocLabel("neg", 0.7, "fp1")]))
    assert store.documents(["a"], hold=True)["a"].text == "x, changed"  # a new version: taken, then held again
    again = store.documents(["a"], hold=True)["a"]
    assert again.text == "x, changed" and again.label == "neg"
    assert store._holder.held.version == store.version
    store.release()
    assert store._holder.held is None and store.documents(["a"], hold=True)["a"].text == "x, changed"


def test_documents_past_the_budget_are_not_held(tmp_path: Path) -> None:
    store, _ = random_store(tmp_path, 40)
    columns = ["text", "metadata", "text_hash"]
    small = HeldDocuments.read(store.dataset, store.version, columns, budget=100)
    assert small.rows is None
    whole = HeldDocuments.read(store.dataset, store.version, columns)
    assert whole.rows is not None and len(whole.rows) == 40 and whole.columns == tuple(columns)
    taken = store.documents(["d7", "d3"])
    assert [whole.rows[doc][0] for doc in ("d7", "d3")] == [taken["d7"].text, taken["d3"].text]


def test_a_held_text_that_does_not_match_its_hash_is_damage(tmp_path: Path) -> None:
    store, _ = random_store(tmp_path, 5)
    store.documents(["d2"], hold=True)
    assert store._holder.documents(store.dataset, store.version, ["text", "metadata", "text_hash"]) is not None
    held = store._holder.held
    assert held is not None and held.rows is not None
    damaged = dict(held.rows)
    damaged["d2"] = ("not what was hashed", *damaged["d2"][1:])
    store._holder.held = replace(held, rows=damaged)
    with pytest.raises(IndexDamagedError, match="does not match its hash"):
        store.documents(["d2"], hold=True)


def test_label_columns_are_reserved_and_stamped(tmp_path: Path) -> None:
    store = Store.create(tmp_path, 16)
    store.ensure_label_columns()
    docs = [Document("a", "x"), Document("b", "y")]
    labels = [DocLabel("pos", 0.9, "fp1"), DocLabel("neg", 0.6, "fp1")]
    store.write(rows(docs, 1, 0, labels=labels))
    assert {LABEL_FIELD, PROB_FIELD} <= set(store.fields())
    assert store.docs_not_labelled_by("fp1") == [] and sorted(store.docs_not_labelled_by("other")) == ["a", "b"]


def test_opening_a_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="no store at"):
        Store.open(tmp_path / "nothing")
