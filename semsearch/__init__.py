"""semsearch: embedding and semantic search with BM25 fusion, filters, adaptation and more.

>>> import semsearch
>>> idx = semsearch.open("indexes/scifact")
>>> res = idx.search("query", k=10)

Importing the package is cheap; torch and the model load when an index is first searched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from semsearch.errors import SemsearchError
from semsearch.types import Backend, Hit, Mode, Pooling, SearchResult, Sense

if TYPE_CHECKING:
    from semsearch.engine import Index

__version__ = "0.1.0"

__all__ = ["Backend", "Hit", "Index", "Mode", "Pooling", "SearchResult", "SemsearchError", "Sense", "open"]


def open(directory: str | Path, backend: Backend | str | None = None) -> Index:  # noqa: A001 - the public name
    """Open an index directory for search; raises a clear error if it is missing or damaged."""
    from semsearch.engine import Index

    return Index.open(directory, backend)


def __getattr__(name: str) -> object:
    if name == "Index":
        from semsearch.engine import Index

        return Index
    raise AttributeError(f"module 'semsearch' has no attribute {name!r}")
