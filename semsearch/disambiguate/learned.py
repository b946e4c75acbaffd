"""The two small calibrated models the method decides with, and the features they read.

- **Same referent?** For two relevant documents: the overlap of their specific terms, the cosine of
  their mention vectors, whether either has too few specific terms for overlap to mean much, and the
  cosine of their best windows' stored vectors.
  A logistic regression turns them into the probability that both talk about one referent; documents
  are grouped by average linkage at probability ``link`` (:class:`Fitted`).
- **Ambiguous?** For a query whose documents fall into two or more labelled senses: how relevant the
  second sense's best document is, how far apart the two leading senses are (mean same-referent
  probability, mention cosine and term overlap of their leaders), and how many senses there are.

Both are fitted by ``benchmarks/disambiguation_fit.py`` on the RAMDocs dev questions only (its settings
chosen by 5-fold cross-validation, reported in benchmarks/RESULTS.md) and shipped as a few numbers in
:mod:`semsearch.disambiguate.fitted`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

PAIR_FEATURES = ("overlap", "mention_cosine", "few_terms", "window_cosine")
QUERY_FEATURES = ("second_relevance", "separation", "leader_cosine", "leader_overlap", "senses")


@dataclass(frozen=True)
class Logistic:
    """A fitted logistic regression: the probability is sigmoid(weights . features + bias)."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """Rows of features in ``self.features`` order -> probabilities."""
        z = np.asarray(rows, dtype=np.float64) @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def as_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "weights": list(self.weights), "bias": self.bias}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Logistic:
        return cls(tuple(data["features"]), tuple(float(w) for w in data["weights"]), float(data["bias"]))


@dataclass(frozen=True)
class Fitted:
    """Everything the contextual method decides with: two models and the relevance thresholds."""

    pair: Logistic
    query: Logistic
    relevant: float  # relevance a document needs to belong to a sense
    strong: float  # relevance a sense's best document needs
    link: float  # mean same-referent probability at which two groups merge

    @property
    def uses_mentions(self) -> bool:
        """Whether either model reads mention vectors (else the method needs no forward pass)."""
        pair = dict(zip(self.pair.features, self.pair.weights, strict=True)).get("mention_cosine", 0.0)
        query = dict(zip(self.query.features, self.query.weights, strict=True)).get("leader_cosine", 0.0)
        return pair != 0 or query != 0

    def as_dict(self) -> dict[str, Any]:
        return {"pair": self.pair.as_dict(), "query": self.query.as_dict(), "relevant": self.relevant,
                "strong": self.strong, "link": self.link}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fitted:
        return cls(Logistic.from_dict(data["pair"]), Logistic.from_dict(data["query"]), float(data["relevant"]),
                   float(data["strong"]), float(data["link"]))  # fmt: skip


def pair_rows(overlaps: np.ndarray, cosines: np.ndarray, term_counts: Sequence[int], min_terms: int,
              windows: np.ndarray) -> np.ndarray:  # fmt: skip
    """PAIR_FEATURES of every pair (i, j) of n documents, as an (n, n, 4) array."""
    counts = np.asarray(term_counts)
    few = ((counts[:, None] < min_terms) | (counts[None, :] < min_terms)).astype(np.float64)
    return np.stack([overlaps, cosines, few, windows], axis=-1)


@cache
def default_fitted() -> Fitted:
    """The shipped models (:mod:`semsearch.disambiguate.fitted`)."""
    from semsearch.disambiguate.fitted import FITTED

    return Fitted.from_dict(FITTED)
