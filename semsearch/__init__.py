"""semsearch: embedding and semantic search with BM25 fusion, filters, a classifier, adaptation and more.

>>> import semsearch
>>> idx = semsearch.index([{"id": "a", "text": "vitamin D and infection"}], "indexes/notes")
>>> idx.search("vitamin", k=10).hits
>>> idx.add([{"id": "b", "text": "another note"}]); idx.delete(["a"])
>>> semsearch.open("indexes/scifact").search("query", k=10, mode="hybrid", where="year >= 2015")

Importing the package is cheap: every name below is imported on first use, and torch loads only
when something needs the model (a dense or hybrid query, indexing, training).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from semsearch.errors import (
    AdaptError,
    BadRecordError,
    ClassifierError,
    CorpusError,
    DocumentNotFoundError,
    EvaluationError,
    FilterError,
    IncompatibleEncoderError,
    IndexDamagedError,
    IndexFormatError,
    IndexLockedError,
    IndexNotFoundError,
    ModelError,
    OptionError,
    SemsearchError,
)
from semsearch.types import Backend, Fusion, Hit, Mode, Pooling, Precision, SearchResult, Sense

if TYPE_CHECKING:
    from semsearch.classify import Classifier, TrainOptions
    from semsearch.evaluation import EvalReport
    from semsearch.facade.api import adapt, evaluate, index, open, repair  # noqa: A004 - the public name
    from semsearch.facade.index import Index
    from semsearch.ingest import IndexOptions, IndexSummary

__version__ = "0.1.0"

# name -> module that defines it, imported when the name is first used
_LAZY = {
    "open": "semsearch.facade.api",
    "index": "semsearch.facade.api",
    "evaluate": "semsearch.facade.api",
    "adapt": "semsearch.facade.api",
    "repair": "semsearch.facade.api",
    "Index": "semsearch.facade.index",
    "IndexOptions": "semsearch.ingest",
    "IndexSummary": "semsearch.ingest",
    "Classifier": "semsearch.classify",
    "TrainOptions": "semsearch.classify",
    "EvalReport": "semsearch.evaluation",
}

# The errors (every one a SemsearchError) are here too; semsearch.errors says when each is raised.
__all__ = [
    "AdaptError", "Backend", "BadRecordError", "Classifier", "ClassifierError", "CorpusError",
    "DocumentNotFoundError", "EvalReport", "EvaluationError", "FilterError", "Fusion", "Hit",
    "IncompatibleEncoderError", "Index", "IndexDamagedError", "IndexFormatError", "IndexLockedError",
    "IndexNotFoundError", "IndexOptions", "IndexSummary", "Mode", "ModelError", "OptionError", "Pooling", "Precision",
    "SearchResult", "SemsearchError", "Sense", "TrainOptions", "adapt", "evaluate", "index", "open", "repair"
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'semsearch' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (and ``__version__``), not what this module imports to define them."""
    return sorted({*__all__, "__version__"})
