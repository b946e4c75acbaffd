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


class FusionMethod(StrEnum):
    """How hybrid search fuses the dense and the BM25 ranking (:mod:`semsearch.ranking`)."""

    RRF = "rrf"  # reciprocal rank fusion: ranks only, no tuning (Cormack et al. 2009)
    CONVEX = "convex"  # a weighted sum of the two lists' normalised scores (Bruch et al. 2023)


class Normalisation(StrEnum):
    """How convex fusion puts a list's scores (cosines, unbounded BM25) on one scale before weighting them."""

    MINMAX = "minmax"  # (score - the list's lowest) / (its highest - its lowest): 1 for the best, 0 for the last
    ZSCORE = "zscore"  # (score - the list's mean) / its standard deviation


FEEDBACK_SUFFIX = "+feedback"


@dataclass(frozen=True)
class Fusion:
    """How hybrid search fuses the dense and the BM25 top lists.

    ``rrf`` (``Fusion()``, and what indexes made before fusion was a choice read as) uses ranks alone.
    ``convex`` (a new index's :data:`DEFAULT_FUSION`) scores a document ``alpha`` * its normalised dense
    score + (1 - ``alpha``) * its normalised BM25 score, so ``alpha`` 1 is the dense order and 0 the BM25
    order. With ``feedback`` the dense list is made again from the query vector moved towards the first
    fusion's top documents (pseudo-relevance feedback, :func:`semsearch.ranking.moved_query`), and fused with the
    same BM25 list. Written ``rrf``, ``convex`` (alpha 0.5, min-max), ``convex:0.4`` or ``convex:0.4:zscore``,
    each with ``+feedback`` where it has it (:meth:`parse`, the CLI's ``--fusion``).
    """

    method: FusionMethod = FusionMethod.RRF
    alpha: float = 0.5  # convex: the dense list's weight, 0 to 1
    normalisation: Normalisation = Normalisation.MINMAX  # convex: how each list's scores are scaled
    feedback: bool = False  # the dense list again from the query moved towards the first fusion's top

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", choice(FusionMethod, self.method, "fusion"))
        object.__setattr__(self, "normalisation", choice(Normalisation, self.normalisation, "fusion"))
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, int | float) or not 0.0 <= self.alpha <= 1.0:
            raise OptionError("fusion", self.alpha, "the convex weight alpha must be a number from 0 to 1")
        if not isinstance(self.feedback, bool):
            raise OptionError("fusion", self.feedback, "feedback must be True or False")

    @classmethod
    def parse(cls, value: object) -> Fusion:
        """``value`` as a Fusion: one already, or its text (``rrf``, ``convex``, ``convex:0.4[:zscore]``, each
        optionally ``+feedback``)."""
        if isinstance(value, Fusion):
            return value
        if not isinstance(value, str):
            raise OptionError("fusion", value, f"expected 'rrf' or 'convex[:ALPHA[:NORM]]', got {type(value).__name__}")
        text = value.strip().lower()
        feedback = text.endswith(FEEDBACK_SUFFIX)
        method, *rest = text.removesuffix(FEEDBACK_SUFFIX).split(":")
        if method == FusionMethod.RRF and not rest:
            return cls(feedback=feedback)
        if method != FusionMethod.CONVEX or len(rest) > 2:
            raise OptionError(
                "fusion",
                value,
                "expected 'rrf' or 'convex[:ALPHA[:NORM]]' and maybe '+feedback', e.g. convex:0.4:zscore",
            )
        try:
            alpha = float(rest[0]) if rest and rest[0] else 0.5
        except ValueError:
            raise OptionError("fusion", value, f"the weight {rest[0]!r} is not a number from 0 to 1") from None
        normalisation = choice(Normalisation, rest[1], "fusion") if len(rest) == 2 else Normalisation.MINMAX
        try:
            return cls(FusionMethod.CONVEX, alpha, normalisation, feedback)
        except OptionError as error:
            raise OptionError("fusion", value, error.reason) from None

    def __str__(self) -> str:
        fused = "rrf" if self.method is FusionMethod.RRF else f"convex:{self.alpha:g}:{self.normalisation}"
        return fused + (FEEDBACK_SUFFIX if self.feedback else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "method": str(self.method),
            "alpha": self.alpha,
            "normalisation": str(self.normalisation),
            "feedback": self.feedback,
        }

    @classmethod
    def from_json(cls, data: object) -> Fusion:
        """What a manifest recorded; RRF when it recorded nothing (indexes written before fusion was a choice)."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"fusion: expected an object, got {type(data).__name__}")
        return cls(
            FusionMethod(data.get("method", FusionMethod.RRF)),
            float(data.get("alpha", 0.5)),
            Normalisation(data.get("normalisation", Normalisation.MINMAX)),
            data.get("feedback", False),  # absent in indexes made before feedback was part of the fusion
        )


# How a new index fuses: complete convex fusion, half and half, min-max scaled, with feedback. Each was chosen on
# NFCorpus's train queries and checked on SciFact and NFCorpus test, where it gains on both (benchmarks/RESULTS.md).
DEFAULT_FUSION = Fusion(FusionMethod.CONVEX, 0.5, Normalisation.MINMAX, feedback=True)


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
    BF16 = "bf16"  # torch autocast or OpenVINO bf16; close to fp32, fast only where the CPU has bf16 arithmetic
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
    the mode's: a cosine (dense), a BM25 score (bm25), the fusion's score (hybrid: an RRF sum or a convex one)."""

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
    fusion: Fusion = field(default_factory=Fusion)  # how hybrid search fuses the dense and BM25 lists here
    fusion_evidence: dict[str, Any] | None = None  # why, when `semsearch tune` chose it (None: default or by hand)
    bm25: str = ""  # how BM25 scores the documents here: the title field, and how many times a title counts

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
            "fusion": str(self.fusion),
            "fusion_evidence": self.fusion_evidence,
            "bm25": self.bm25,
        }
