"""The speed work: length batching, the int8 encoder and its cache, precision in the manifest,
the automatic FAISS index choice with its recall, and the lean query path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import random_store, write_jsonl

from semsearch.ann import exact_search
from semsearch.ann import faiss as faiss_backend
from semsearch.ann.faiss import FaissBackend, choose_factory
from semsearch.encoder import Encoder, length_batches
from semsearch.errors import IncompatibleEncoderError
from semsearch.ingest import IndexOptions, build_index
from semsearch.manifest import MANIFEST, Manifest
from semsearch.types import Precision

TEXTS = ["The cat sat on the mat.", "Quantum chromodynamics describes the strong force.", "short"]


def test_length_batches_cover_everything_longest_first_within_the_token_budget() -> None:
    lengths = [5, 200, 17, 256, 3, 90, 90, 12] * 5
    batches = length_batches(lengths, max_tokens=512, max_windows=6)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        widths = [lengths[i] for i in batch]
        assert widths == sorted(widths, reverse=True)
        assert len(batch) <= 6
        assert len(batch) == 1 or len(batch) * widths[0] <= 512
    assert max(len(b) for b in batches) == 6  # short windows share a batch
    firsts = [lengths[b[0]] for b in batches]
    assert firsts == sorted(firsts, reverse=True)


@pytest.fixture(scope="module")
def int8_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("int8-cache")


def test_int8_tiny_model_is_cached_by_weights_and_close_to_fp32(
    tiny_model: Path, int8_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEMSEARCH_CACHE", str(int8_cache))
    int8 = Encoder(str(tiny_model), precision=Precision.INT8)
    fp32 = Encoder(str(tiny_model), precision=Precision.FP32)
    built = list((int8_cache / "int8").iterdir())
    assert len(built) == 1 and built[0].name.startswith(int8.identity.sha256[:32])
    assert (built[0] / "model.xml").is_file()
    assert not [p for p in (int8_cache / "int8").iterdir() if p.name.startswith(".")]  # no temporary left
    got, want = int8.encode(TEXTS), fp32.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * want).sum(1).min() > 0.9
    stamp = (built[0] / "model.bin").stat().st_mtime_ns
    again = Encoder(str(tiny_model), precision=Precision.INT8)  # from the cache: not rebuilt
    assert (built[0] / "model.bin").stat().st_mtime_ns == stamp
    np.testing.assert_allclose(again.encode(TEXTS), got, atol=1e-6)
    assert sys.modules.get("openvino_telemetry", None) is None  # OpenVINO's usage telemetry stays off


def test_an_interrupted_quantization_is_not_trusted(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path))
    sha = Encoder(str(tiny_model), precision=Precision.FP32).identity.sha256
    leftover = tmp_path / "int8" / f".{sha[:32]}-crashed"
    leftover.mkdir(parents=True)
    (leftover / "model.xml").write_text("<half written")
    encoder = Encoder(str(tiny_model), precision=Precision.INT8)
    assert encoder.encode(["hello"]).shape == (1, 32)
    finished = [p for p in (tmp_path / "int8").iterdir() if not p.name.startswith(".")]
    assert len(finished) == 1 and (finished[0] / "model.xml").read_text().startswith("<?xml")


def test_default_precision_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from semsearch import runtime
    from semsearch.runtime import cpu, openvino_runtime

    monkeypatch.setattr(cpu, "has_fast_int8", lambda: True)
    assert runtime.best_precision() is (Precision.INT8 if openvino_runtime.available() else Precision.FP32)
    monkeypatch.setattr(cpu, "has_fast_int8", lambda: False)
    assert runtime.best_precision() is Precision.FP32


def test_default_model_int8_vectors_match_fp32() -> None:
    got = Encoder(precision=Precision.INT8, threads=1).encode(TEXTS)
    want = Encoder(precision=Precision.FP32, threads=1).encode(TEXTS)
    assert (got * want).sum(1).min() > 0.98


def test_precision_is_recorded_kept_on_update_and_never_mixed(tmp_path: Path, tiny_model: Path) -> None:
    rows = [{"_id": f"d{i}", "text": f"document {i} about topic {i % 3}"} for i in range(12)]
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    fp32 = IndexOptions(model=str(tiny_model), precision=Precision.FP32, progress=False)
    build_index(source, tmp_path / "idx", fp32)
    assert Manifest.load(tmp_path / "idx").precision is Precision.FP32
    rows.append({"_id": "new", "text": "an added document"})
    write_jsonl(source, rows)
    with pytest.raises(IncompatibleEncoderError, match="precision fp32"):
        build_index(source, tmp_path / "idx", IndexOptions(model=str(tiny_model), precision=Precision.INT8))
    summary = build_index(source, tmp_path / "idx", IndexOptions(model=str(tiny_model), progress=False))
    assert summary.added == 1 and Manifest.load(tmp_path / "idx").precision is Precision.FP32


def test_manifests_written_before_precision_was_recorded_read_as_fp32(tmp_path: Path, tiny_model: Path) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "alpha"}])
    build_index(source, tmp_path / "idx", IndexOptions(model=str(tiny_model), precision=Precision.FP32, progress=False))
    data = json.loads((tmp_path / "idx" / MANIFEST).read_text())
    del data["precision"]
    (tmp_path / "idx" / MANIFEST).write_text(json.dumps(data))
    assert Manifest.load(tmp_path / "idx").precision is Precision.FP32


def test_auto_factory_is_exact_while_small_and_hnsw_with_measured_recall_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert choose_factory(10_000) == "Flat" and choose_factory(10_000_000) == "HNSW32,Flat"
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


def test_the_query_encoder_loads_once_per_process(sample_index: Path) -> None:
    import semsearch

    first, second = semsearch.open(sample_index), semsearch.open(sample_index)
    assert first.encoder is second.encoder
    assert first.encoder.precision is first.manifest.precision
