"""The FAISS backend: exact while small, HNSW with a measured recall above; an explicit factory wins."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest
from helpers import random_store

from semsearch.ann import exact_search
from semsearch.ann import faiss as faiss_backend
from semsearch.ann.faiss import FaissBackend, choose_factory
from semsearch.store import ChunkRows
from semsearch.types import Document


def test_auto_factory_is_exact_while_small_and_hnsw_with_measured_recall_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert choose_factory(10_000) == "Flat" and choose_factory(10_000_000) == "HNSW32,Flat"
    assert choose_factory(200_000_000) == "IVF65536,PQ48"  # past what HNSW can hold in RAM: compressed
    store, vectors = random_store(tmp_path / "store", 400)
    small = FaissBackend(store, tmp_path / "faiss")
    small.sync()
    assert small.factory == "Flat" and "exact" in small.describe()

    monkeypatch.setattr(faiss_backend, "EXACT_LIMIT", 100)  # the store has outgrown exact search
    grown = FaissBackend(store, tmp_path / "faiss")
    grown.sync()
    assert grown.factory == "HNSW32,Flat" and grown.report is not None
    assert grown.report.sample == 200 and grown.report.recall_at_10 >= 0.9
    assert "recall@10" in grown.describe()
    assert [p.name for p in sorted((tmp_path / "faiss").iterdir())] == [grown.path.name, grown.checksum_path.name]
    doc_ids = np.array([f"d{i}" for i in range(400)], dtype=object)
    query = vectors[7]
    assert grown.search(query, 10).doc_ids[0] == exact_search(vectors, doc_ids, query, 10).doc_ids[0]

    reopened = FaissBackend(store, tmp_path / "faiss")  # loads the file and its report, builds nothing
    reopened.sync()
    assert reopened.report == grown.report


def test_an_explicit_factory_overrides_auto(tmp_path: Path) -> None:
    store, _ = random_store(tmp_path / "store", 300)
    index = FaissBackend(store, tmp_path / "faiss", factory="HNSW16,Flat")
    index.sync()
    assert index.factory == "HNSW16,Flat" and index.report is not None and index.report.sample > 0


def test_past_hnsw_the_auto_index_is_ivf_pq_with_its_recall_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = random_store(tmp_path / "store", 3000)
    monkeypatch.setattr(faiss_backend, "EXACT_LIMIT", 100)
    monkeypatch.setattr(faiss_backend, "HNSW_LIMIT", 1000)
    backend = FaissBackend(store, tmp_path / "faiss")
    backend.sync()
    assert backend.factory == "IVF256,PQ2" and backend.report is not None
    assert backend.report.sample == 200 and 0.0 < backend.report.recall_at_10 <= 1.0
    inner = faiss.downcast_index(backend.index.index)
    assert inner.nprobe == 32  # saved with the index, so a reader searches 32 lists too
    assert "IVF256,PQ2" in backend.describe()


def test_an_exact_index_searches_through_its_int8_codes_from_its_second_search(tmp_path: Path) -> None:
    """The first search (a command's) makes no codes; from the second the codes answer, exactly as fp32 search."""
    store, vectors = random_store(tmp_path / "store", 3000, dim=32)
    backend = FaissBackend(store, tmp_path / "faiss")
    backend.sync()
    doc_ids = np.array([f"d{i}" for i in range(3000)], dtype=object)
    queries = np.random.default_rng(7).normal(size=(20, 32)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    results = []
    for number, query in enumerate(queries):
        got, want = backend.search(query, 10), exact_search(vectors, doc_ids, query, 10)
        results.append(got)
        assert (backend._codes is None) == (number == 0)
        assert list(got.doc_ids) == list(want.doc_ids)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)
        assert list(got.ids) == [int(doc[1:]) for doc in got.doc_ids]  # each vector's own rowid
    for number in (0, 5):  # through the codes now, for the first search too: the very same bits
        again = backend.search(queries[number], 200 if number else 10)
        np.testing.assert_array_equal(again.scores[:10], results[number].scores)
        assert list(again.ids[:10]) == list(results[number].ids)
    zero = np.zeros(32, dtype=np.float32)  # every score 0: the codes prove nothing, every vector is scored
    assert list(backend.search(zero, 3).doc_ids) == ["d0", "d1", "d2"]  # ties in the order the vectors were added
    new = ChunkRows([Document("new", "a new document")], [0], [0], [(0, 1)], [3000], queries[:1], None)
    store.write(new)  # a new version: its first search again makes no codes
    backend.sync()
    backend.search(queries[0], 10)
    assert backend._codes is None


def test_without_an_exact_integer_product_the_fp32_vectors_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, vectors = random_store(tmp_path / "store", 500, dim=16)
    monkeypatch.setattr(faiss_backend.Int8Scan, "of", classmethod(lambda cls, full, owner=None: None))
    backend = FaissBackend(store, tmp_path / "faiss")
    backend.sync()
    doc_ids = np.array([f"d{i}" for i in range(500)], dtype=object)
    for query in vectors[:3]:
        assert list(backend.search(query, 5).doc_ids) == list(exact_search(vectors, doc_ids, query, 5).doc_ids)
    assert backend._codes is None
