"""An index's documents as the pool :func:`semsearch.classify.active.suggest` chooses from: each one's
pooled vector (made from the vectors the index stores, so nothing is encoded) and its stored text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semsearch.classify.classifier import Classifier
from semsearch.classify.encoding import pool_windows
from semsearch.classify.options import WindowPooling
from semsearch.errors import ClassifierError
from semsearch.manifest import STORE_DIR, Manifest
from semsearch.store import Store


@dataclass(frozen=True)
class IndexPool:
    """Documents of an index: ids, one pooled unit vector each (as the head reads them), texts."""

    directory: Path
    ids: list[str]
    vectors: np.ndarray
    texts: list[str]


def read_pool(directory: str | Path, classifier: Classifier | None = None) -> IndexPool:
    """The documents of the index at ``directory``, pooled as ``classifier`` reads them (first window
    when None). Refused when the classifier cannot read the index's vectors: another encoder, a
    fine-tuned head, or windows cut otherwise than its training texts."""
    directory = Path(directory)
    manifest = Manifest.load(directory)
    window = WindowPooling.FIRST
    if classifier is not None:
        config = classifier.config
        if config is None:
            raise ClassifierError("the classifier is not trained")
        config.encoder.check_matches(manifest.model, manifest.pooling, f"the index at {directory}")
        if not classifier.uses_vectors:
            raise ClassifierError(
                "a fine-tuned classifier cannot score an index from its stored vectors; suggest with a frozen "
                "(dense or hybrid) classifier, or with none for a cold-start sample"
            )
        if not classifier.reads_vectors_cut_as(manifest.max_length, manifest.overlap):
            raise ClassifierError(
                f"the index at {directory} holds vectors of {manifest.max_length}-token windows (overlap "
                f"{manifest.overlap}), but the classifier was trained on {classifier.trained_window}-token ones "
                f"(overlap {config.encoder.overlap}): it has no vectors it can read; train it on windows cut as "
                "the index cuts them, or index again"
            )
        window = config.window
    store = Store.open(directory / STORE_DIR)
    where = "chunk = 0" if window is WindowPooling.FIRST else None
    table = store.scan(["doc_id", "chunk", "vector", "text"], where)
    if table.num_rows == 0:
        raise ClassifierError(f"the index at {directory} holds no documents")
    doc_ids = table["doc_id"].to_pylist()
    chunk = np.asarray(table["chunk"].to_numpy(zero_copy_only=False))
    vectors = np.asarray(table["vector"].combine_chunks().values.to_numpy(), dtype=np.float32).reshape(
        table.num_rows, store.dim
    )
    firsts = np.flatnonzero(chunk == 0)
    firsts = firsts[np.argsort([doc_ids[i] for i in firsts], kind="stable")]  # a fixed order: by id
    ids = [doc_ids[i] for i in firsts]
    position = {doc_id: p for p, doc_id in enumerate(ids)}
    doc_index = np.array([position[d] for d in doc_ids], dtype=np.int64)
    texts = table["text"].to_pylist()
    pooled = pool_windows(doc_index, vectors, len(ids), window, chunk)
    return IndexPool(directory, ids, pooled, [texts[i] or "" for i in firsts])
