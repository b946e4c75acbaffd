"""One suite for every vector backend, checked against exact numpy search (as txtai's ann tests do)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import random_store

from semsearch.ann import exact_search, open_backend
from semsearch.ann.faiss import FaissBackend
from semsearch.filters import parse
from semsearch.ranking import best_per_document, top_documents
from semsearch.types import Backend

DOCS = 600


@pytest.fixture(params=[Backend.FAISS, Backend.LANCEDB], ids=lambda b: b.value)
def backend(request: pytest.FixtureRequest, tmp_path: Path):
    store, vectors = random_store(tmp_path / "store", DOCS, chunks_per_doc=2)
    index = open_backend(request.param, store, tmp_path)
    index.sync()
    doc_ids = np.array([f"d{i}" for i in range(DOCS) for _ in range(2)], dtype=object)
    return index, vectors, doc_ids, store


def queries(dim: int = 16, n: int = 10) -> np.ndarray:
    q = np.random.default_rng(1).normal(size=(n, dim)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_unfiltered_search_equals_exact_search(backend) -> None:
    index, vectors, doc_ids, _ = backend
    for query in queries():
        got = index.search(query, 20)
        want = exact_search(vectors, doc_ids, query, 20)
        assert list(got.doc_ids) == list(want.doc_ids)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)


@pytest.mark.parametrize("condition", [None, "group = 3"])
def test_each_match_names_its_chunk_and_its_stored_vector(backend, condition: str | None) -> None:
    """A match's id is its store rowid: the vector the backend (or the store) gives for it scores the match's
    score, and is the stored vector of that chunk; asking in any order gives them in that order."""
    index, _, _, store = backend
    where = parse(condition, store.fields()) if condition else None
    rows = store.scan(["rowid", "vector"])
    stored = dict(zip(rows["rowid"].to_pylist(), rows["vector"].to_pylist(), strict=True))
    for query in queries(n=3):
        got = index.search(query, 12, where)
        vectors = index.vectors(got.ids[::-1])[::-1]
        np.testing.assert_allclose(vectors @ query, got.scores, atol=1e-5)
        np.testing.assert_allclose(vectors, np.array([stored[int(i)] for i in got.ids]), atol=1e-6)
        np.testing.assert_allclose(store.vectors_of(got.ids), vectors, atol=1e-6)
    assert index.vectors(np.array([], dtype=np.int64)).shape == (0, 16)


@pytest.mark.parametrize("condition", ["group = 3", "even AND group < 10", "name IN ('n1', 'n2')", "id = 'd5'"])
def test_filtered_search_equals_exact_search_on_the_matching_subset(backend, condition: str) -> None:
    index, vectors, doc_ids, store = backend
    where = parse(condition, store.fields())
    keep = np.isin(doc_ids, store.scan(["doc_id"], where.sql)["doc_id"].to_pylist())
    for query in queries():
        got = index.search(query, 10, where)
        want = exact_search(vectors[keep], doc_ids[keep], query, 10)
        assert list(got.doc_ids) == list(want.doc_ids)


def test_a_filter_matching_3_percent_still_returns_k_documents(backend) -> None:
    index, _, _, store = backend
    where = parse("group = 7", store.fields())  # 1 in 33 documents: about 3%
    matching = {f"d{i}" for i in range(DOCS) if i % 33 == 7}
    k = 10
    for query in queries():
        ranked = top_documents(lambda limit, q=query: index.search(q, limit, where), k)
        assert len(ranked) == k
        assert {d for d, _ in ranked} <= matching


def test_documents_come_back_once_with_their_best_chunk(backend) -> None:
    index, vectors, doc_ids, _ = backend
    query = queries()[0]
    ranked = top_documents(lambda limit: index.search(query, limit), 15)
    want = best_per_document(exact_search(vectors, doc_ids, query, len(vectors)))[:15]
    assert [d for d, _ in ranked] == [d for d, _ in want]


def test_faiss_file_is_rebuilt_when_missing_stale_or_damaged(tmp_path: Path) -> None:
    store, _vectors = random_store(tmp_path / "store", 50)
    index = FaissBackend(store, tmp_path / "faiss")
    index.sync()
    assert index.path.is_file()
    query = queries()[0]
    expected = list(index.search(query, 5).doc_ids)

    index.path.write_bytes(b"garbage")  # damaged
    fresh = FaissBackend(store, tmp_path / "faiss")
    fresh.sync()
    assert list(fresh.search(query, 5).doc_ids) == expected

    store.delete([expected[0]])  # stale: the store changed after the file was written
    fresh = FaissBackend(store, tmp_path / "faiss")
    fresh.sync()
    assert expected[0] not in list(fresh.search(query, 5).doc_ids)
    assert fresh.index.ntotal == 49


def test_faiss_factory_strings_hnsw(tmp_path: Path) -> None:
    store, vectors = random_store(tmp_path / "store", 300)
    index = FaissBackend(store, tmp_path / "faiss", factory="HNSW16,Flat")
    index.sync()
    assert "HNSW16" in index.path.name
    doc_ids = np.array([f"d{i}" for i in range(300)], dtype=object)
    recall = np.mean(
        [
            len(set(index.search(q, 10).doc_ids) & set(exact_search(vectors, doc_ids, q, 10).doc_ids)) / 10
            for q in queries()
        ]
    )
    assert recall >= 0.9
