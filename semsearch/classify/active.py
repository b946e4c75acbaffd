"""Which documents to have labelled next: those whose labels would teach the head most.

``semsearch classifier suggest`` and ``benchmarks/bootstrap.py`` both call :func:`suggest`, so what
the benchmark measures is what the command does.

- **With a classifier**: margin sampling (the documents whose two likeliest labels are closest under
  the head's probabilities), with a diversity term so that a batch is not near-copies of one hard
  post: among the ``10 n`` most uncertain documents, a greedy pick maximises
  ``uncertainty - diversity * (cosine to the closest document already in the batch)``, and a
  document closer than ``duplicate`` to one already picked is never taken.
- **Cold start** (no classifier yet): a diverse sample, k-means over the stored vectors with ``n``
  clusters and the document nearest each centre, so the first labels cover the collection's topics.

Pure functions of vectors and probabilities; the index and the classifier are read by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from semsearch.errors import ClassifierError, OptionError

if TYPE_CHECKING:
    from semsearch.classify.classifier import Classifier

COLD_START = "cold-start"
MARGIN = "margin"


@dataclass(frozen=True)
class SuggestOptions:
    """How a batch is chosen. Fixed before measuring (benchmarks/bootstrap.py)."""

    candidates: float = 10.0  # the batch is picked among this many times n most uncertain documents
    diversity: float = 0.5  # weight of the cosine to the batch's closest document, against uncertainty
    duplicate: float = 0.95  # a document at least this close to one picked is never picked with it
    seed: int = 0  # k-means' seed (cold start)


@dataclass(frozen=True)
class Suggestion:
    """The chosen documents (positions into the pool, best first) and why."""

    positions: np.ndarray
    strategy: str  # COLD_START or MARGIN
    uncertainty: np.ndarray | None  # 1 - (p1 - p2) of each chosen document (MARGIN only)
    predicted: np.ndarray | None  # the head's likeliest label number of each (MARGIN only)


def margin_uncertainty(proba: np.ndarray) -> np.ndarray:
    """1 minus the gap between the two likeliest labels: 1 when the head cannot choose, 0 when sure."""
    if proba.shape[1] < 2:
        return np.zeros(len(proba))
    top = np.sort(proba, axis=1)[:, -2:]
    return 1.0 - (top[:, 1] - top[:, 0])


def suggest(
    vectors: np.ndarray,
    n: int,
    proba: np.ndarray | None = None,
    exclude: Sequence[int] | np.ndarray = (),
    options: SuggestOptions | None = None,
) -> Suggestion:
    """``n`` positions of ``vectors`` (unit-length pooled vectors, one per document) to label next,
    never one of ``exclude`` (already labelled); ``proba`` (the head's, one row per document) switches
    from the cold-start sample to margin sampling."""
    options = options or SuggestOptions()
    vectors = np.asarray(vectors, dtype=np.float32)
    free = np.setdiff1d(np.arange(len(vectors)), np.asarray(exclude, dtype=np.int64))
    if n < 1:
        raise OptionError("n", n, "ask for at least one document")
    if n > len(free):
        already = len(vectors) - len(free)
        labelled = f", {already} of them labelled already" if already else ""
        raise OptionError(
            "n", n, f"the index holds {len(vectors)} documents{labelled}: at most {len(free)} can be suggested"
        )
    if proba is None:
        return Suggestion(free[cold_start(vectors[free], n, options.seed)], COLD_START, None, None)
    if len(proba) != len(vectors):
        raise ClassifierError(f"{len(proba)} rows of probabilities for {len(vectors)} documents")
    uncertainty = margin_uncertainty(np.asarray(proba, dtype=np.float64)[free])
    size = min(len(free), max(n, int(np.ceil(options.candidates * n))))
    pool = np.argsort(-uncertainty, kind="stable")[:size]
    chosen = diverse_pick(vectors[free[pool]], uncertainty[pool], n, options.diversity, options.duplicate)
    picked = pool[chosen]
    return Suggestion(free[picked], MARGIN, uncertainty[picked], np.asarray(proba)[free[picked]].argmax(axis=1))


def diverse_pick(vectors: np.ndarray, uncertainty: np.ndarray, n: int, weight: float, duplicate: float) -> np.ndarray:
    """Greedy: each step takes the candidate with the highest ``uncertainty - weight * closeness``,
    closeness being its cosine to the nearest already taken; near-copies (``>= duplicate``) last."""
    closest = np.full(len(vectors), -1.0)
    taken = np.zeros(len(vectors), dtype=bool)
    order: list[int] = []
    for _ in range(n):
        score = uncertainty - weight * np.maximum(closest, 0.0)
        score[closest >= duplicate] -= 10.0  # only when nothing else is left
        score[taken] = -np.inf
        best = int(np.argmax(score))
        order.append(best)
        taken[best] = True
        np.maximum(closest, vectors @ vectors[best], out=closest)
    return np.array(order, dtype=np.int64)


def cold_start(vectors: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A diverse sample: k-means with ``n`` centres, then the document nearest each (distinct)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if n >= len(vectors):
        return np.arange(len(vectors))
    if n <= 500:
        model = KMeans(n_clusters=n, n_init=1, random_state=seed).fit(vectors)
    else:  # many centres: mini-batches keep it to seconds
        model = MiniBatchKMeans(n_clusters=n, n_init=1, random_state=seed, batch_size=4096).fit(vectors)
    centres = model.cluster_centers_.astype(np.float32)
    distances = (vectors**2).sum(1)[:, None] - 2 * vectors @ centres.T  # + |c|^2, the same for every row
    picked: list[int] = []
    used = np.zeros(len(vectors), dtype=bool)
    for centre in np.argsort(np.bincount(model.labels_, minlength=n))[::-1]:  # the largest clusters first
        for row in np.argsort(distances[:, centre], kind="stable"):
            if not used[row]:
                used[row] = True
                picked.append(int(row))
                break
    return np.array(picked, dtype=np.int64)


def suggest_for(
    classifier: Classifier | None,
    vectors: np.ndarray,
    texts: Sequence[str] | None,
    n: int,
    exclude: Sequence[int] | np.ndarray = (),
    options: SuggestOptions | None = None,
) -> Suggestion:
    """:func:`suggest` with ``classifier``'s probabilities from the pooled ``vectors`` (and ``texts``,
    which a hybrid head reads too); a cold-start sample when ``classifier`` is None."""
    proba = None if classifier is None else classifier.proba_from_vectors(vectors, texts)
    return suggest(vectors, n, proba, exclude, options)
