"""The values disambiguation works with: its settings, the candidates and the senses it finds, and how
candidates score as relevant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from semsearch.errors import OptionError, SemsearchError


class SenseNotFoundError(SemsearchError):
    """``sense=`` names no sense of this query."""


class TermStatistics(Protocol):
    """Corpus-wide term counts: the lexical index provides them (:class:`semsearch.bm25.BM25`)."""

    @property
    def num_docs(self) -> int:
        """Documents in the corpus."""
        ...

    def normalize(self, words: Sequence[str]) -> list[str]:
        """Lower-cased words in the lexical index's own form (stemmed), so they can be looked up."""
        ...

    def document_frequencies(self, terms: Sequence[str]) -> list[int | None]:
        """How many documents contain each normalised term; None for a term the index does not keep
        (a stop word), which is never treated as specific."""
        ...


@dataclass(frozen=True)
class DisambiguationConfig:
    """The few settings of the method; benchmarks/disambiguation.py checks them on held-out halves."""

    candidates: int = 20  # top documents examined
    relevant: float = 1.3  # relevance (at most 2) a document needs to belong to a sense
    strong: float = 1.5  # relevance needed by one document of each of two senses to call a query ambiguous
    link: float = 0.4  # average overlap of specific terms at which documents share a sense
    specific_share: float = 0.015  # a term is specific when at most this share of documents has it
    min_terms: int = 5  # specific terms a document needs before its lack of overlap means anything
    # True: the contextual method (mention vectors and specific terms, decided by the fitted models of
    # semsearch/disambiguate/fitted.py, whose thresholds replace relevant/strong/link); False: terms alone.
    contextual: bool = True

    def __post_init__(self) -> None:
        if self.candidates < 2:
            raise OptionError("candidates", self.candidates, "disambiguation needs at least 2 candidates")
        for name in ("link", "specific_share"):
            if not 0 < getattr(self, name) <= 1:
                raise OptionError(name, getattr(self, name), "must lie in (0, 1]")
        if self.strong < self.relevant:
            raise OptionError("strong", self.strong, "must be at least the relevance of a sense's documents (relevant)")


@dataclass(frozen=True)
class Candidate:
    """One of the query's top documents, with the two scores relevance is made of."""

    text: str
    dense: float  # inner product of the query vector and the document's best chunk
    lexical: float  # BM25 score of the document for the query (0 when no query term occurs)
    vector: np.ndarray | None = field(default=None, compare=False)  # stored vector of that best chunk


@dataclass(frozen=True)
class SenseGroup:
    """A sense: its label and its candidates (positions in the candidate list: the leader, then best first)."""

    label: str
    members: tuple[int, ...]


@dataclass(frozen=True)
class Disambiguation:
    """The senses found (none unless at least two) and the diversified order of the candidates."""

    senses: tuple[SenseGroup, ...]
    order: tuple[int, ...]
    relevance: tuple[float, ...] = field(default=(), compare=False)
    reason: str = field(default="", compare=False)  # why there is one sense, when that is not the evidence

    @property
    def ambiguous(self) -> bool:
        return len(self.senses) >= 2


def relevance(dense: Sequence[float], lexical: Sequence[float]) -> np.ndarray:
    """Per candidate, in [0, 2] (dense part may dip below 0): median-to-best scaled dense score plus
    BM25 score over the best BM25 score. Both parts are relative to this query's own candidates,
    so one threshold serves every query and every corpus."""
    dense_arr = np.asarray(dense, dtype=np.float64)
    lexical_arr = np.asarray(lexical, dtype=np.float64)
    if dense_arr.size == 0:
        return dense_arr
    median = float(np.median(dense_arr))
    spread = float(dense_arr.max()) - median
    dense_part = (dense_arr - median) / spread if spread > 1e-9 else np.zeros_like(dense_arr)
    best_lexical = float(lexical_arr.max())
    lexical_part = lexical_arr / best_lexical if best_lexical > 0 else np.zeros_like(lexical_arr)
    return dense_part + lexical_part
