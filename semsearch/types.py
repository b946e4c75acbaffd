"""Facts that flow between the stages: documents in, hits out.

These are frozen dataclasses so a stage can hand them on without defensive copies, and enums so
that options are checked once, where they enter, instead of compared as strings everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from semsearch.errors import OptionError

if TYPE_CHECKING:
    from semsearch.explain.types import Explanation

E = TypeVar("E", bound=StrEnum)


def choice(kind: type[E], value: object, option: str) -> E:
    """``value`` as a member of ``kind``, or an :class:`OptionError` for ``option`` listing the valid values."""
    try:
        return kind(value)  # type: ignore[arg-type]  # a wrong type is refused like a wrong value
    except ValueError:
        valid = ", ".join(repr(member.value) for member in kind)
        raise OptionError(option, value, f"expected one of {valid}") from None


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


class Precision(StrEnum):
    """Number format of the encoder's matrix work.

    An index records the precision its windows were encoded at, encodes its queries at the same one,
    and refuses updates at another (see :meth:`semsearch.manifest.Manifest.check_same_vectors`).
    """

    FP32 = "fp32"  # the reference
    BF16 = "bf16"  # torch autocast; close to fp32, fast only where the CPU has bf16 arithmetic
    INT8 = "int8"  # an NNCF static int8 model run by OpenVINO; close to fp32, not equal
    INT8_DYNAMIC = "int8-dynamic"  # int8 weights per channel, activations at run time (ONNX Runtime)
    FP16 = "fp16"  # torch on a CUDA GPU (the default there); on a CPU it runs, slowly, for queries


class Execution(StrEnum):
    """Where an indexing run encodes: in this process, or on a Ray cluster (:mod:`semsearch.ingest.distributed`)."""

    LOCAL = "local"
    RAY = "ray"


class Engine(StrEnum):
    """Which library runs the transformer (:mod:`semsearch.runtime`). Precision says what the vectors are;
    the engine only how fast they come: torch fp32 and OpenVINO fp32 give the same vectors."""

    TORCH = "torch"
    OPENVINO = "openvino"
    ONNXRUNTIME = "onnxruntime"


@dataclass(frozen=True)
class ModelIdentity:
    """Which weights made a vector: ``name`` is how the user named the model, ``path`` where it was."""

    name: str
    path: str
    sha256: str


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
    """A document in a result list. ``score`` is only comparable within one result list; its scale is
    the mode's: a cosine (dense), a BM25 score (bm25), a reciprocal-rank-fusion sum (hybrid)."""

    id: str
    score: float
    text: str
    metadata: dict[str, Any]
    label: str | None = None  # the index's classifier's label for the document, where it has one
    label_prob: float | None = None
    explanation: Explanation | None = None  # why it scored, when asked for (search(..., explain=True))

    def to_json(self) -> dict[str, Any]:
        data = {"id": self.id, "score": self.score, "text": self.text, "metadata": self.metadata}
        if self.label is not None:
            data |= {"label": self.label, "label_prob": self.label_prob}
        if self.explanation is not None:
            data["explanation"] = self.explanation.to_json()
        return data


@dataclass(frozen=True)
class Sense:
    """One meaning of an ambiguous query, with the hits that carry it."""

    label: str
    hits: list[Hit]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "hits": [h.id for h in self.hits]}


@dataclass(frozen=True)
class SearchResult:
    """What a search returns. ``ambiguous`` is None unless disambiguation was asked for.

    It reads like the list of its hits: ``len(result)``, ``result[0]``, ``for hit in result``.
    """

    query: str
    hits: list[Hit]
    ambiguous: bool | None = None
    senses: list[Sense] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the user should know about how it was answered

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __getitem__(self, position: int) -> Hit:
        return self.hits[position]

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "hits": [h.to_json() for h in self.hits],
            "ambiguous": self.ambiguous,
            "senses": [s.to_json() for s in self.senses],
            "notes": self.notes,
        }


@dataclass(frozen=True)
class FieldSummary:
    """A metadata field an index can filter on, and its kind (number, string or bool)."""

    name: str
    kind: str


@dataclass(frozen=True)
class IndexInfo:
    """What an index holds and how it was made (``Index.info()``, ``semsearch info``)."""

    path: str
    documents: int
    chunks: int
    fields: list[FieldSummary]
    model: ModelIdentity
    pooling: Pooling
    precision: Precision
    window: int
    overlap: int
    backend: Backend
    faiss_factory: str
    vector_index: str  # which vector search serves it, with its recall where approximate
    labels: list[str]  # the installed classifier's labels (empty without one)
    bytes_on_disk: int
    version: int  # the store version this handle reads
    query_engine: str = ""  # what encodes this index's queries on this machine
    plan: list[str] = field(default_factory=list)  # the runtime plan measured here for the model (lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "documents": self.documents,
            "chunks": self.chunks,
            "fields": [{"name": f.name, "kind": f.kind} for f in self.fields],
            "model": {"name": self.model.name, "path": self.model.path, "sha256": self.model.sha256},
            "pooling": str(self.pooling),
            "precision": str(self.precision),
            "window": self.window,
            "overlap": self.overlap,
            "backend": str(self.backend),
            "faiss_factory": self.faiss_factory,
            "vector_index": self.vector_index,
            "labels": self.labels,
            "bytes_on_disk": self.bytes_on_disk,
            "version": self.version,
            "query_engine": self.query_engine,
            "plan": self.plan,
        }
