"""The hybrid head's word features: hashed sublinear TF-IDF, as scikit-learn computes it, kept small."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch.classify import Hashing, LexicalFeatures
from semsearch.errors import ClassifierError

TEXTS = ["the rocket reached orbit", "the rocket and the rocket again", "a doctor saw the patient", "Orbit, orbit!"]


def test_features_are_scikit_learns_sublinear_tfidf_on_the_kept_columns() -> None:
    from sklearn.feature_extraction.text import TfidfTransformer

    hashing = Hashing()
    counts = hashing.counts(TEXTS)
    assert counts.shape == (4, hashing.n_features)
    lexical = LexicalFeatures.learn(hashing, counts, min_df=2)
    assert np.all(np.diff(lexical.columns) > 0) and len(lexical.columns) == 4  # the, rocket, orbit, "the rocket"
    reference = TfidfTransformer(sublinear_tf=True).fit_transform(counts[:, lexical.columns])
    np.testing.assert_allclose(lexical.of_counts(counts).toarray(), reference.toarray(), rtol=1e-6)
    np.testing.assert_allclose(lexical.transform(TEXTS).toarray(), reference.toarray(), rtol=1e-6)


def test_the_settings_are_the_columns() -> None:
    lower, cased = Hashing().counts(["Orbit"]), Hashing(lowercase=False).counts(["Orbit"])
    assert lower.indices.tolist() == Hashing().counts(["orbit"]).indices.tolist() != cased.indices.tolist()
    assert Hashing(ngram_max=1).counts(["one two"]).nnz == 2 and Hashing().counts(["one two"]).nnz == 3


def test_tensors_round_trip_and_refuse_what_does_not_fit() -> None:
    hashing = Hashing(n_features=2**10)
    lexical = LexicalFeatures.learn(hashing, hashing.counts(TEXTS), min_df=1)
    again = LexicalFeatures.from_tensors(hashing, lexical.tensors())
    np.testing.assert_array_equal(again.columns, lexical.columns)
    np.testing.assert_array_equal(again.idf, lexical.idf)
    assert set(lexical.tensors()) == {"lexical.columns", "lexical.idf"}
    with pytest.raises(ValueError, match="do not fit the hashing settings"):
        LexicalFeatures.from_tensors(Hashing(n_features=4), lexical.tensors())
    with pytest.raises(ClassifierError, match="lower min_df"):
        LexicalFeatures.learn(hashing, hashing.counts(TEXTS), min_df=5)
