"""Predicted labels in an index: which classifier labels it, and the label of each document.

``semsearch index ... --classifier DIR`` copies the classifier into the index (``<index>/classifier``),
so later runs without the option keep labelling new and changed documents with the same one. Every
stored label is stamped with the fingerprint of the classifier that made it; after the documents of a
run are written, any document whose stamp differs (labelled by a previous classifier, or indexed
before there was one) is relabelled. So giving a *different* classifier relabels the whole index, and
an interrupted run leaves stamps that the next run completes. A frozen head labels from the vectors
the index computes anyway (no extra encoding), a hybrid frozen head from those vectors and the words of
the document's stored text (hashed, not encoded); a fine-tuned one runs its own top layers on the text.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from semsearch.chunking import ChunkConfig
from semsearch.classify.encoding import pool_windows
from semsearch.classify.persistence import saved_fingerprint
from semsearch.encoder import Encoder
from semsearch.manifest import CLASSIFIER_DIR
from semsearch.store import ChunkRows, DocLabel

if TYPE_CHECKING:  # a classifier's heads import torch: an index without one never loads it
    from semsearch.classify.classifier import Classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexLabeller:
    """The classifier of an index, ready to label batches of chunk rows."""

    classifier: Classifier
    fingerprint: str
    from_vectors: bool  # the index's own vectors are the ones the head reads (see Classifier.reads_vectors_cut_as)

    def cutting_as(self, cut: ChunkConfig) -> IndexLabeller:
        """This labeller for an index that cuts documents as ``cut``: it reads the index's vectors when
        the head was trained on vectors cut the same way, otherwise encodes each document its own way
        (as ``Classifier.predict`` does), at the cost of that encoding."""
        from_vectors = self.classifier.reads_vectors_cut_as(cut.max_length, cut.overlap)
        if self.classifier.uses_vectors and not from_vectors:
            log.info(
                "the classifier was trained on %d-token windows, the index cuts %d-token ones: "
                "labelling encodes each document the classifier's way",
                self.classifier.trained_window,
                cut.max_length,
            )
        return replace(self, from_vectors=from_vectors)

    def label(self, rows: ChunkRows) -> ChunkRows:
        """``rows`` with each document's predicted label and probability."""
        if not rows.docs:
            return rows
        clf = self.classifier
        if self.from_vectors:
            assert clf.config is not None
            features = pool_windows(rows.doc_index, rows.vectors, len(rows.docs), clf.config.window, rows.numbers)
            proba = clf.proba_from_vectors(features, [doc.text for doc in rows.docs])  # a hybrid head reads words
        else:
            proba = clf.predict_proba([doc.text for doc in rows.docs])
        best = proba.argmax(axis=1)
        names = clf.classes_
        verdicts = [DocLabel(str(names[b]), float(proba[i, b]), self.fingerprint) for i, b in enumerate(best)]
        return replace(rows, labels=verdicts)


def open_labeller(directory: Path, encoder: Encoder, classifier_dir: Path | None) -> IndexLabeller | None:
    """The index's labeller: ``classifier_dir`` (refused unless trained on the index's encoder), else
    the classifier an earlier run installed in the index, else None (an index without labels).

    It encodes each document the classifier's way until :meth:`IndexLabeller.cutting_as` says the
    index's own vectors will do.
    """
    installed = directory / CLASSIFIER_DIR
    if classifier_dir is None and not installed.is_dir():
        return None
    from semsearch.classify.classifier import Classifier

    classifier = Classifier.load(classifier_dir if classifier_dir is not None else installed)
    classifier.use_encoder(encoder, f"the index at {directory}")
    classifier.options = replace(classifier.options, progress=False)  # the indexing bar is enough
    return IndexLabeller(classifier, classifier.fingerprint, from_vectors=False)


def install_if_new(labeller: IndexLabeller, directory: Path) -> None:
    """Make ``labeller``'s classifier the index's own (a no-op when it already is)."""
    if saved_fingerprint(directory / CLASSIFIER_DIR) != labeller.fingerprint:
        install(labeller.classifier, directory)


def install(classifier: Classifier, directory: Path) -> None:
    """Copy ``classifier`` into the index, replacing the previous one as a whole."""
    target = directory / CLASSIFIER_DIR
    staging = directory / f".{CLASSIFIER_DIR}.new"
    retired = directory / f".{CLASSIFIER_DIR}.old"
    for leftover in (staging, retired):
        shutil.rmtree(leftover, ignore_errors=True)
    classifier.save(staging)
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
    log.info("installed classifier %s in %s", classifier.fingerprint, target)


__all__ = ["IndexLabeller", "install", "install_if_new", "open_labeller"]
