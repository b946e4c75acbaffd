"""What to label next: margin sampling with a diversity term, and the cold-start sample."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.classify.active import COLD_START, MARGIN, SuggestOptions, margin_uncertainty, suggest
from semsearch.errors import OptionError


def blobs(per: int, centres: int, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in ``centres`` tight clusters; (vectors, cluster of each)."""
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, dim))
    cluster = np.repeat(np.arange(centres), per)
    vectors = middle[cluster] + 0.05 * rng.normal(size=(len(cluster), dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), cluster


def test_margin_uncertainty_is_one_when_undecided_and_zero_when_sure() -> None:
    proba = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.6, 0.3, 0.1]])
    assert margin_uncertainty(proba) == pytest.approx([1.0, 0.0, 0.7])


def test_cold_start_covers_every_cluster_once() -> None:
    vectors, cluster = blobs(30, 6)
    chosen = suggest(vectors, 6, options=SuggestOptions(seed=1))
    assert chosen.strategy == COLD_START and chosen.uncertainty is None
    assert sorted(cluster[chosen.positions]) == list(range(6))
    again = suggest(vectors, 6, options=SuggestOptions(seed=1))
    assert np.array_equal(chosen.positions, again.positions)  # the same seed, the same batch


def test_margin_sampling_takes_the_undecided_but_not_near_copies() -> None:
    vectors, cluster = blobs(20, 5)
    proba = np.tile([0.98, 0.01, 0.01], (len(vectors), 1))
    proba[cluster == 0] = [0.34, 0.33, 0.33]  # the head cannot choose in cluster 0 ...
    proba[cluster == 1] = [0.45, 0.44, 0.11]  # ... nor, a little less, in cluster 1
    without = suggest(vectors, 4, proba, options=SuggestOptions(diversity=0.0, duplicate=1.1))
    assert set(cluster[without.positions]) == {0}  # pure uncertainty: four near-copies from one cluster
    chosen = suggest(vectors, 4, proba)
    assert chosen.strategy == MARGIN and set(cluster[chosen.positions]) == {0, 1}
    assert chosen.uncertainty is not None and chosen.predicted is not None and (chosen.uncertainty > 0.9).all()


def test_labelled_documents_are_never_suggested_again() -> None:
    vectors, _ = blobs(10, 3)
    proba = np.full((len(vectors), 2), 0.5)
    chosen = suggest(vectors, 10, proba, exclude=np.arange(15))
    assert len(set(chosen.positions.tolist())) == 10 and chosen.positions.min() >= 15


def test_n_larger_than_the_pool_is_refused_clearly() -> None:
    vectors, _ = blobs(5, 2)
    with pytest.raises(OptionError, match="holds 10 documents: at most 10 can be suggested"):
        suggest(vectors, 11)
    with pytest.raises(OptionError, match="4 of them labelled already: at most 6"):
        suggest(vectors, 7, exclude=[0, 1, 2, 3])
    with pytest.raises(OptionError, match="at least one"):
        suggest(vectors, 0)
