"""Corpus to store: :func:`build_index` reads a source, encodes new and changed documents, commits them
in batches and refreshes the derived files; :mod:`.options` holds what it takes and reports."""

from typing import TYPE_CHECKING, Any

from semsearch.ingest.options import IndexOptions, IndexSummary

if TYPE_CHECKING:
    from semsearch.ingest.pipeline import build_index, refresh_derived

__all__ = ["IndexOptions", "IndexSummary", "build_index", "refresh_derived"]


def __getattr__(name: str) -> Any:
    if name in ("build_index", "refresh_derived"):  # the pipeline imports the encoder (torch): on first use
        from semsearch.ingest import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'semsearch.ingest' has no attribute {name!r}")
