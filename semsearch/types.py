"""Facts that flow between the stages: documents in, hits out.

These are frozen dataclasses so a stage can hand them on without defensive copies, and enums so
that options are checked once, where they enter, instead of compared as strings everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Pooling(StrEnum):
    """How token vectors become one sentence vector."""

    MEAN = "mean"  # masked mean of the last layer: what all-MiniLM-L6-v2 was trained with
    CLS = "cls"  # the [CLS] token's last-layer vector


class Mode(StrEnum):
    """Which retriever answers a query."""

    DENSE = "dense"
    BM25 = "bm25"
    HYBRID = "hybrid"


class Backend(StrEnum):
    """Which library holds the vectors for nearest-neighbour search."""

    FAISS = "faiss"
    LANCEDB = "lancedb"


@dataclass(frozen=True)
class Document:
    """One record of a corpus, with where it came from so errors can point at it."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    line: int = 0


@dataclass(frozen=True)
class Hit:
    """A document in a result list. ``score`` is only comparable within one result list."""

    id: str
    score: float
    text: str
    metadata: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "score": self.score, "text": self.text, "metadata": self.metadata}


@dataclass(frozen=True)
class Sense:
    """One meaning of an ambiguous query, with the hits that carry it."""

    label: str
    hits: list[Hit]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "hits": [h.id for h in self.hits]}


@dataclass(frozen=True)
class SearchResult:
    """What a search returns. ``ambiguous`` is None unless disambiguation was asked for."""

    query: str
    hits: list[Hit]
    ambiguous: bool | None = None
    senses: list[Sense] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "hits": [h.to_json() for h in self.hits],
            "ambiguous": self.ambiguous,
            "senses": [s.to_json() for s in self.senses],
        }
