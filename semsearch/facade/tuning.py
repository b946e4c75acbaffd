"""An index's own fusion of hybrid search: recorded in its manifest, and chosen without labels on
pseudo-queries from a sample of its documents (:mod:`semsearch.adaptation.fusion`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from semsearch import location
from semsearch.manifest import Manifest
from semsearch.store.lock import writer_lock
from semsearch.types import Document, Fusion

if TYPE_CHECKING:
    from semsearch.adaptation.fusion import FusionChoice
    from semsearch.facade.index import Index


def record_fusion(directory: Path, fusion: Fusion, evidence: dict[str, Any] | None, lock_timeout: float) -> Manifest:
    """Write ``fusion`` and its ``evidence`` into the manifest of the index at ``directory``, under the writer
    lock; the manifest as it now stands."""
    with writer_lock(directory, lock_timeout) as still_held:
        location.pull(directory)  # an index on object storage: the newest manifest (no-op for a folder)
        manifest = Manifest.load(directory).with_fusion(fusion, evidence)
        still_held()
        manifest.save(directory)
    return Manifest.load(directory)


def choose_fusion(index: Index) -> FusionChoice:
    """The fusion that ranks best the pseudo-queries of a sample of ``index``'s own documents (RRF unless a
    convex fusion beats it there)."""
    from semsearch.adaptation.fusion import choose_for_sample, sample_of
    from semsearch.adaptation.texts import to_passage

    doc_ids = index.store.scan(["doc_id"], "chunk = 0")["doc_id"].to_pylist()
    sample = sample_of(doc_ids)
    stored = index.store.documents(sample)
    title_field = index.manifest.title_field
    passages = [
        to_passage(Document(id=doc_id, text=stored[doc_id].text, metadata=stored[doc_id].metadata), title_field)
        for doc_id in sample
        if doc_id in stored
    ]
    return choose_for_sample(index.encoder, passages, index.manifest.max_length, index.manifest.overlap)
