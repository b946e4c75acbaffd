"""BM25 over whole documents: stemming and stop words, a filter mask, term statistics, and an index
that follows the store (rebuilt when the documents change, loaded when they do not)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import random_store

from semsearch.bm25 import BM25, tokenize

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
