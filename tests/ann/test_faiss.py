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


@pytest.mark.parametrize("dim", [32, 20])  # FAISS scans codes with integer SIMD where dim is a multiple of 16
def test_exact_search_through_the_int8_codes_returns_exactly_the_fp32_top_k(tmp_path: Path, dim: int) -> None:
    store, vectors = random_store(tmp_path / "store", 3000, dim=dim)
    backend = FaissBackend(store, tmp_path / "faiss")
    backend.sync()
    assert backend._codes is not None
    doc_ids = np.array([f"d{i}" for i in range(3000)], dtype=object)
    rng = np.random.default_rng(7)
    proved = 0
    for query in rng.normal(size=(20, dim)).astype(np.float32):
        query /= np.linalg.norm(query)
        proved += backend._codes.search(query, 10) is not None
        got, want = backend.search(query, 10), exact_search(vectors, doc_ids, query, 10)
        assert list(got.doc_ids) == list(want.doc_ids)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)
    assert proved == 20  # random vectors are far enough apart for the codes to prove the top 10
    zero = np.zeros(dim, dtype=np.float32)  # every score 0: the codes prove nothing, the exact index answers
    assert backend._codes.search(zero, 10) is None and len(backend.search(zero, 10)) == 10


def test_vectors_the_codes_cannot_tell_apart_fall_back_to_the_fp32_search(tmp_path: Path) -> None:
    """Thousands of vectors within the codes' rounding of one another: the candidates cannot prove the top k,
    so the fp32 vectors are searched whole, and the answer is still the exact one."""
    store, _ = random_store(tmp_path / "store", 2000, dim=16)
    rng = np.random.default_rng(3)
    base = rng.normal(size=16).astype(np.float32)
    close = base + rng.normal(scale=1e-5, size=(2000, 16)).astype(np.float32)
    close /= np.linalg.norm(close, axis=1, keepdims=True)
    rows = store.scan(["rowid"])
    backend = FaissBackend(store, tmp_path / "faiss")
    backend.sync()
    assert backend._codes is not None
    # the same vectors straight into the exact index the codes mirror
    backend.index = faiss.IndexIDMap2(faiss.IndexFlatIP(16))
    backend.index.add_with_ids(close, rows["rowid"].to_numpy())
    backend._codes = faiss_backend._Int8Scan.of(backend.index)
    query = base / np.linalg.norm(base)
    assert backend._codes.search(query, 10) is None
    got = backend.search(query, 10)
    doc_ids = np.array(store.scan(["doc_id"])["doc_id"].to_pylist(), dtype=object)
    want = exact_search(close, doc_ids, query, 10)
    # the scores differ by less than fp32 resolves, so ties may order differently: the scores are the top 10
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)
    position = {rowid: i for i, rowid in enumerate(rows["rowid"].to_numpy())}
    np.testing.assert_allclose(got.scores, close[[position[r] for r in got.ids]] @ query, atol=1e-6)
