"""The classifier head: trained on labelled texts, it labels documents, and an index filters by its labels.

Importing this package is cheap; the heads (torch, scikit-learn) load on first use of a name below.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Classifier": "semsearch.classify.classifier",
    "ClassifierConfig": "semsearch.classify.classifier",
    "Encoded": "semsearch.classify.classifier",
    "Features": "semsearch.classify.classifier",
    "Hashing": "semsearch.classify.classifier",
    "LexicalFeatures": "semsearch.classify.classifier",
    "TrainOptions": "semsearch.classify.classifier",
    "Window": "semsearch.classify.classifier",
    "classification_scores": "semsearch.classify.classifier",
    "encode_texts": "semsearch.classify.classifier",
    "load_labelled": "semsearch.classify.classifier",
    "plot_confusion": "semsearch.classify.classifier",
    "pool_windows": "semsearch.classify.classifier",
    "saved_fingerprint": "semsearch.classify.classifier",
    "split_validation": "semsearch.classify.classifier",
    "CONFIG_FILE": "semsearch.classify.classifier",
    "WEIGHTS_FILE": "semsearch.classify.classifier",
    "Scores": "semsearch.classify.classifier",
    "LabelledFile": "semsearch.classify.workflow",
    "TrainReport": "semsearch.classify.workflow",
    "EvalResult": "semsearch.classify.workflow",
    "train": "semsearch.classify.workflow",
    "evaluate": "semsearch.classify.workflow",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'semsearch.classify' has no attribute {name!r}")
