"""The classifier head: trained on labelled texts, it labels documents, and an index filters by its labels.

Importing this package is cheap; the heads (torch, scikit-learn) load on first use of a name below.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Classifier": "classifier",
    "SuggestOptions": "active",
    "Suggestion": "active",
    "suggest": "active",
    "suggest_for": "active",
    "AgreementReport": "agreement",
    "agreement_report": "agreement",
    "Curve": "curve",
    "learning_curve": "curve",
    "plot_curve": "curve",
    "FeatureCache": "featurecache",
    "IndexPool": "pool",
    "read_pool": "pool",
    "Encoded": "encoding",
    "encode_texts": "encoding",
    "pool_windows": "encoding",
    "LexicalFeatures": "lexical",
    "Features": "options",
    "Hashing": "options",
    "TrainOptions": "options",
    "Window": "options",
    "WindowPooling": "options",
    "CONFIG_FILE": "persistence",
    "WEIGHTS_FILE": "persistence",
    "ClassifierConfig": "persistence",
    "saved_fingerprint": "persistence",
    "load_labelled": "data",
    "split_validation": "data",
    "Scores": "metrics",
    "classification_scores": "metrics",
    "plot_confusion": "metrics",
    "EvalResult": "workflow",
    "LabelledFile": "workflow",
    "TrainReport": "workflow",
    "evaluate": "workflow",
    "agreement": "workflow",
    "curve": "workflow",
    "suggest_from_index": "workflow",
    "train": "workflow",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'semsearch.classify' has no attribute {name!r}")
