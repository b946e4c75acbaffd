"""What a hybrid head learns of a text's words: sublinear TF-IDF over hashed word n-grams."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from semsearch.classify.options import Hashing
from semsearch.classify.persistence import LEXICAL_PREFIX
from semsearch.errors import ClassifierError


@dataclass(frozen=True)
class LexicalFeatures:
    """Sublinear TF-IDF over hashed columns, L2-normalised; what a hybrid head learns of the words.

    Only the columns seen in at least ``min_df`` training texts are kept (``columns``, with their
    smoothed IDF): the rest would get no weight anyway, and dropping them keeps the head small.
    """

    hashing: Hashing
    columns: np.ndarray  # sorted hashed column numbers (int64)
    idf: np.ndarray  # float32, one per kept column

    @classmethod
    def learn(cls, hashing: Hashing, counts: sparse.csr_matrix, min_df: int) -> LexicalFeatures:
        """The IDF of ``counts`` (the training texts' :meth:`Hashing.counts`), as scikit-learn smooths it."""
        texts = counts.shape[0]
        df = np.bincount(counts.indices, minlength=hashing.n_features)  # each row holds a column once
        columns = np.flatnonzero(df >= min_df)
        if not len(columns):
            raise ClassifierError(f"no word occurs in {min_df} or more training texts; lower min_df")
        idf = np.log((1.0 + texts) / (1.0 + df[columns])) + 1.0
        return cls(hashing, columns.astype(np.int64), idf.astype(np.float32))

    def of_counts(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """Features from :meth:`Hashing.counts`: kept columns, 1 + log(tf) times IDF, unit length."""
        from sklearn.preprocessing import normalize

        kept = sparse.csr_matrix(counts[:, self.columns])
        kept.data = (1.0 + np.log(kept.data)) * self.idf[kept.indices].astype(np.float64)
        return sparse.csr_matrix(normalize(kept, norm="l2", copy=False))

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self.of_counts(self.hashing.counts(texts))

    def tensors(self) -> dict[str, np.ndarray]:
        return {LEXICAL_PREFIX + "columns": self.columns, LEXICAL_PREFIX + "idf": self.idf}

    @classmethod
    def from_tensors(cls, hashing: Hashing, tensors: dict[str, np.ndarray]) -> LexicalFeatures:
        columns, idf = tensors[LEXICAL_PREFIX + "columns"], tensors[LEXICAL_PREFIX + "idf"]
        in_range = not len(columns) or 0 <= columns.min() <= columns.max() < hashing.n_features
        if columns.ndim != 1 or columns.shape != idf.shape or not in_range:
            raise ValueError("lexical columns and IDF do not fit the hashing settings")
        return cls(hashing, columns.astype(np.int64), idf.astype(np.float32))
