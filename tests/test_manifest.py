"""The manifest: how an index's vectors were made, written twice, read without loading a model; precision
recorded, kept on update, never mixed; old manifests read as fp32."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import write_jsonl

from semsearch.errors import IncompatibleEncoderError, IndexDamagedError, IndexNotFoundError
from semsearch.ingest import IndexOptions, build_index
from semsearch.manifest import BACKUP, MANIFEST, Manifest
from semsearch.types import DEFAULT_FUSION, Backend, Fusion, ModelIdentity, Pooling, Precision


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


def manifest(**changes: object) -> Manifest:
    base = Manifest(
        model=ModelIdentity("default", "/models/x", "ab" * 32), pooling=Pooling.MEAN, dim=384, max_length=128,
        overlap=32, backend=Backend.FAISS, faiss_factory="auto",
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_manifest_round_trips_and_keeps_a_backup(tmp_path: Path) -> None:
    written = manifest(precision=Precision.INT8)
    written.save(tmp_path)
    (tmp_path / "store").mkdir()
    assert Manifest.load(tmp_path) == written
    assert json.loads((tmp_path / BACKUP).read_text()) == json.loads((tmp_path / MANIFEST).read_text())
    assert written.model_spec == "default" and manifest(model=ModelIdentity("m", "/p", "0")).model_spec == "/p"


def test_vectors_made_differently_are_refused(tmp_path: Path) -> None:
    mine = manifest()
    mine.check_same_vectors(manifest(backend=Backend.LANCEDB, faiss_factory="Flat"))  # search settings may differ
    for change in ({"pooling": Pooling.CLS}, {"max_length": 64}, {"overlap": 16}, {"precision": Precision.BF16},
                   {"model": ModelIdentity("other", "/o", "cd" * 32)}):  # fmt: skip
        with pytest.raises(IncompatibleEncoderError):
            mine.check_same_vectors(manifest(**change))


def test_missing_and_foreign_directories_are_told_apart(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="no index at"):
        Manifest.load(tmp_path / "nothing")
    with pytest.raises(IndexNotFoundError, match="not a semsearch index"):
        Manifest.load(tmp_path)
    (tmp_path / "store").mkdir()
    with pytest.raises(IndexDamagedError, match="interrupted"):
        Manifest.load(tmp_path)


def test_fusion_is_recorded_with_its_evidence_and_old_manifests_read_as_rrf(tmp_path: Path, tiny_model: Path) -> None:
    """A new index gets the default fusion; a manifest written before fusion was a choice reads as RRF."""
    source = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "alpha"}])
    build_index(source, tmp_path / "idx", IndexOptions(model=str(tiny_model), progress=False))
    manifest = Manifest.load(tmp_path / "idx")
    assert manifest.fusion == DEFAULT_FUSION and manifest.fusion_evidence is None
    chosen = manifest.with_fusion(Fusion.parse("convex:0.4:zscore"), {"reason": "held-out pseudo-queries"})
    chosen.save(tmp_path / "idx")
    again = Manifest.load(tmp_path / "idx")
    assert again.fusion == Fusion.parse("convex:0.4:zscore") and again.fusion_evidence == {
        "reason": "held-out pseudo-queries"
    }
    data = json.loads((tmp_path / "idx" / MANIFEST).read_text())
    assert data["fusion"] == {"method": "convex", "alpha": 0.4, "normalisation": "zscore", "feedback": False}
    summary = build_index(source, tmp_path / "idx", IndexOptions(progress=False))  # an update keeps it
    assert summary.unchanged == 1 and Manifest.load(tmp_path / "idx").fusion == Fusion.parse("convex:0.4:zscore")
    data["fusion"] = {"method": "convex", "alpha": 0.5, "normalisation": "minmax"}  # before feedback was recorded
    (tmp_path / "idx" / MANIFEST).write_text(json.dumps(data))
    assert Manifest.load(tmp_path / "idx").fusion == Fusion.parse("convex:0.5") != DEFAULT_FUSION
    del data["fusion"], data["fusion_evidence"]
    (tmp_path / "idx" / MANIFEST).write_text(json.dumps(data))
    assert Manifest.load(tmp_path / "idx").fusion == Fusion()
    data["fusion"] = {"method": "convex", "alpha": 7}
    (tmp_path / "idx" / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(IndexDamagedError, match="fusion"):
        Manifest.read(tmp_path / "idx" / MANIFEST)


def test_the_title_field_is_recorded_and_weighs_in_bm25(tmp_path: Path, tiny_model: Path) -> None:
    """An index read with another title field keeps it, and its BM25 counts those titles (semsearch.bm25)."""
    from semsearch import Index
    from semsearch.corpus import FieldMap
    from semsearch.types import Mode

    rows = [  # the body match first: a tie would rank it first
        {"_id": "in-body", "headline": "Hadron structure", "text": "and quark flavour"},
        {"_id": "in-title", "headline": "Quark colour", "text": "and charge flavour"},
    ]
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    options = IndexOptions(model=str(tiny_model), fields=FieldMap(title_field="headline"), progress=False)
    build_index(source, tmp_path / "idx", options)
    assert Manifest.load(tmp_path / "idx").title_field == "headline"
    with Index.open(tmp_path / "idx") as index:
        assert [hit.id for hit in index.search("quark", mode=Mode.BM25).hits] == ["in-title", "in-body"]
    assert replace(Manifest.load(tmp_path / "idx"), fields=None).title_field == "title"  # an index from before
