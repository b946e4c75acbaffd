"""The hybrid head: a linear SVM on the frozen encoder's pooled vector beside hashed TF-IDF of the words.

The classifier analogue of hybrid search (dense + lexical). Exact words (names, addresses, jargon,
anything past the encoder's window) decide many labels, and the pooled vector alone misses them.
The hashing is stateless, so only the IDF of the columns seen in training is learned and saved;
labelling an index still encodes nothing extra (vectors from the index, words from its stored text).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from semsearch.classify.encoding import Encoded
from semsearch.classify.heads.base import FrozenHead, two_rows_if_binary
from semsearch.classify.heads.cv import cv_split, temperature, two_columns_if_binary
from semsearch.classify.lexical import LexicalFeatures
from semsearch.classify.options import HeadKind, TrainOptions, WindowPooling
from semsearch.classify.persistence import LEXICAL_PREFIX, ClassifierConfig
from semsearch.errors import ClassifierError

log = logging.getLogger(__name__)


class HybridHead(FrozenHead):
    """Logits = W [pooled vector] + V [TF-IDF of the whole text] + b, with the SVM's temperature folded in."""

    kind = HeadKind.HYBRID

    def __init__(
        self,
        window: WindowPooling,
        weight: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        lexical: LexicalFeatures | None = None,
        lexical_weight: np.ndarray | None = None,
    ) -> None:
        super().__init__(window, weight, bias)
        self.lexical = lexical  # the word features ...
        self.lexical_weight = lexical_weight  # ... and their weights, (classes, kept columns)

    def fit(self, encoded: Encoded, y: np.ndarray, options: TrainOptions, report: dict[str, Any]) -> None:
        """C and the pooled vector's weight w by 3-fold CV on the training texts, then one softmax
        temperature fitted on the out-of-fold margins, which makes them probabilities.

        Why an SVM and not logistic regression: on 20 Newsgroups (a hold-out inside the training part)
        it was as accurate or better and much faster to fit over so many sparse columns, which is what
        makes a CV grid affordable (benchmarks/RESULTS.md, classifier). The temperature changes no
        argmax. Both parts have unit length, so w says how much the encoder's view counts against the
        words'. The IDF is learned from every training text (it uses no label, so the folds share it).
        """
        if encoded.texts is None:
            raise ClassifierError("a hybrid head reads the texts too: give texts, or an Encoded that keeps them")
        dense = encoded.pooled(self.window)
        counts = options.hashing.counts(encoded.texts)
        lexical = LexicalFeatures.learn(options.hashing, counts, options.min_df)
        words = lexical.of_counts(counts)
        del counts
        c, scale, cv_accuracy, out_of_fold = search(dense, words, y, options)
        fitted = temperature(out_of_fold, y) if out_of_fold is not None else 1.0
        model = svm(c).fit(hstack(dense, scale, words), y)
        weight, bias = two_rows_if_binary(model.coef_, model.intercept_)
        weight, bias, dim = weight * fitted, bias * fitted, dense.shape[1]
        self.weight = (weight[:, :dim] * scale).astype(np.float32)  # w folded in: applies to the raw vectors
        self.lexical_weight = weight[:, dim:].astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.lexical = lexical
        report.update(
            c=c, dense_weight=scale, temperature=round(fitted, 4), lexical_columns=len(lexical.columns),
            min_df=options.min_df,
        )  # fmt: skip
        if cv_accuracy is not None:
            report["cv_accuracy"] = round(cv_accuracy, 4)

    def logits(self, vectors: np.ndarray, texts: Sequence[str] | None) -> np.ndarray:
        """The whole texts' words count, not only a window's."""
        assert self.lexical is not None and self.lexical_weight is not None, "fit or restore the head first"
        logits = super().logits(vectors, texts)
        if texts is None or len(texts) != len(vectors):
            raise ClassifierError("a hybrid classifier needs each text beside its vector")
        logits += self.lexical.transform(texts) @ self.lexical_weight.T.astype(np.float64)
        return logits

    def tensors(self) -> dict[str, np.ndarray]:
        assert self.lexical is not None and self.lexical_weight is not None, "fit or restore the head first"
        return {
            **super().tensors(),
            **self.lexical.tensors(),
            LEXICAL_PREFIX + "weight": np.ascontiguousarray(self.lexical_weight, dtype=np.float32),
        }

    @classmethod
    def restore(cls, tensors: dict[str, np.ndarray], config: ClassifierConfig, where: Path) -> HybridHead:
        assert config.lexical is not None
        try:
            lexical = LexicalFeatures.from_tensors(config.lexical, tensors)
            lexical_weight = tensors[LEXICAL_PREFIX + "weight"]
        except (KeyError, ValueError) as exc:
            raise ClassifierError(f"{where}: lexical features are damaged ({exc}); train again") from exc
        if lexical_weight.shape != (len(config.labels), len(lexical.columns)):
            raise ClassifierError(f"{where}: lexical weights do not fit the labels and columns")
        return cls(config.window, tensors["weight"], tensors["bias"], lexical, lexical_weight)


def search(
    dense: np.ndarray, words: sparse.csr_matrix, y: np.ndarray, options: TrainOptions
) -> tuple[float, float, float | None, np.ndarray | None]:
    """(C, dense weight, CV accuracy, out-of-fold logits) of the best grid point by stratified 3-fold
    CV (fixed seed; the first among equals); with too few examples per class, the first of each grid."""
    from sklearn.model_selection import cross_val_predict

    split = cv_split(y)
    if split is None:
        return float(options.hybrid_c_grid[0]), float(options.dense_weights[0]), None, None
    best: tuple[float, float, float, np.ndarray] | None = None
    for scale in options.dense_weights:
        features = hstack(dense, scale, words)
        for c in options.hybrid_c_grid:
            margins = cross_val_predict(svm(c), features, y, cv=split, method="decision_function")
            logits = two_columns_if_binary(margins)
            accuracy = float(np.mean(logits.argmax(axis=1) == y))
            log.info("hybrid head: dense weight %g, C %g: CV accuracy %.4f", scale, c, accuracy)
            if best is None or accuracy > best[2]:
                best = (float(c), float(scale), accuracy, logits)
    assert best is not None
    return best


def svm(c: float) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, random_state=0)


def hstack(dense: np.ndarray, scale: float, words: sparse.csr_matrix) -> sparse.csr_matrix:
    """The head's input: the scaled pooled vectors beside the word features."""
    return sparse.csr_matrix(sparse.hstack([sparse.csr_matrix(dense.astype(np.float64) * scale), words]))
