"""BM25 over whole documents: stemming and stop words, a filter mask, term statistics, and an index
that follows the store (rebuilt when the documents change, loaded when they do not)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import random_store

from semsearch.bm25 import BM25, TITLE_WEIGHT, lexical_text, tokenize
from semsearch.store import ChunkRows, Store
from semsearch.types import Document

TEXTS = ["Running dogs chase cats", "A cat and a cat", "Quantum chromodynamics of quarks"]


def test_tokens_are_stemmed_and_stop_words_dropped() -> None:
    assert tokenize(["The dogs are running"]) == [["dog", "run"]]


def test_top_scores_only_matching_documents_and_respects_the_mask() -> None:
    index = BM25.build(["a", "b", "c"], TEXTS)
    top = index.top("cat", 10)
    assert [doc for doc, _ in top] == ["b", "a"]  # twice the term in a shorter document scores higher
    assert all(score > 0 for _, score in top) and "c" not in dict(top)
    assert [doc for doc, _ in index.top("cat", 10, index.mask(["a"]))] == ["a"]
    assert index.top("the of", 10) == []  # stop words only: nothing to match, no crash
    assert np.all(index.scores("the") == 0)


def test_document_frequencies_come_from_the_index() -> None:
    index = BM25.build(["a", "b", "c"], TEXTS)
    assert index.document_frequencies(index.normalize(["cats", "quarks", "the"])) == [2, 1, None]
    assert index.num_docs == 3


def test_the_saved_index_follows_the_store(tmp_path: Path) -> None:
    store, _ = random_store(tmp_path / "store", 6)
    first = BM25.for_store(store, tmp_path / "bm25")
    assert sorted(first.doc_ids) == [f"d{i}" for i in range(6)]
    state = (tmp_path / "bm25" / "state.json").read_text()
    assert BM25.for_store(store, tmp_path / "bm25").doc_ids == first.doc_ids  # loaded, not rebuilt
    assert (tmp_path / "bm25" / "state.json").read_text() == state
    store.delete(["d0"])
    again = BM25.for_store(store, tmp_path / "bm25")
    assert "d0" not in again.doc_ids and (tmp_path / "bm25" / "state.json").read_text() != state


def test_a_title_counts_title_weight_times() -> None:
    assert lexical_text("Cats. They purr.", "Cats.") == " ".join(["Cats."] * (TITLE_WEIGHT - 1) + ["Cats. They purr."])
    assert lexical_text("no title here", None) == lexical_text("no title here", "  ") == "no title here"
    assert lexical_text("a number title", 1984) == "a number title"  # only a string is a title


def _titled_store(path: Path, title_field: str) -> Store:
    """Two documents of the same length that mention "quark" once: in the title of one, the body of the other."""
    store = Store.create(path, 4)
    documents = [  # the body match first: a tie would rank it first
        Document(id="in-body", text="Hadron structure and quark flavour", metadata={title_field: "Hadron structure"}),
        Document(id="in-title", text="Quark colour and charge flavour", metadata={title_field: "Quark colour"}),
    ]
    store.write(ChunkRows(docs=documents, doc_index=[0, 1], numbers=[0, 0], spans=[(0, 1)] * 2, rowids=[0, 1],
                          vectors=np.eye(4, dtype=np.float32)[:2]))  # fmt: skip
    return store


def test_the_store_index_weights_titles_from_the_named_field(tmp_path: Path) -> None:
    store = _titled_store(tmp_path / "store", "headline")
    plain = BM25.for_store(store, tmp_path / "bm25")  # the default field, "title", is not there
    assert plain.scores("quark")[plain.position["in-title"]] == plain.scores("quark")[plain.position["in-body"]]
    titled = BM25.for_store(store, tmp_path / "bm25", "headline")  # another field: rebuilt, not loaded
    assert [doc for doc, _ in titled.top("quark", 2)] == ["in-title", "in-body"]
    state = (tmp_path / "bm25" / "state.json").read_text()
    again = BM25.for_store(store, tmp_path / "bm25", "headline")  # the same field: loaded
    assert (tmp_path / "bm25" / "state.json").read_text() == state
    assert np.array_equal(again.scores("quark"), titled.scores("quark"))
