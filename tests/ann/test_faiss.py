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
