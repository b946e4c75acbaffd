"""What the :class:`~semsearch.classify.Classifier` asks of a head: fit, probabilities, tensors to save.

A head is told nothing of files or encoders' identities (the classifier keeps those): it learns from
an :class:`~semsearch.classify.encoding.Encoded` and label numbers, gives class probabilities for
another, and hands over the tensors ``head.safetensors`` holds. Each head also has a ``restore``
class method that rebuilds it from those tensors and the saved config.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from semsearch.classify.encoding import Encoded
from semsearch.classify.options import HeadKind, TrainOptions, WindowPooling
from semsearch.classify.persistence import ClassifierConfig


class Head(ABC):
    """A trainable map from encoded texts to class probabilities."""

    kind: ClassVar[HeadKind]

    @abstractmethod
    def fit(self, encoded: Encoded, y: np.ndarray, options: TrainOptions, report: dict[str, Any]) -> None:
        """Learn from ``encoded`` and label numbers ``y`` (0 to k-1, each present); note what it chose in ``report``."""

    @abstractmethod
    def proba(self, encoded: Encoded) -> np.ndarray:
        """Class probabilities (float64), one row per text, one column per label number."""

    @abstractmethod
    def tensors(self) -> dict[str, np.ndarray]:
        """What ``head.safetensors`` holds for this head (C-ordered, as safetensors writes memory as it lies)."""


class FrozenHead(Head):
    """A linear head on the frozen encoder's pooled vectors, which an index stores: it can label an
    index from them (:meth:`proba_from_vectors`) without encoding anything again."""

    def __init__(self, window: WindowPooling, weight: np.ndarray | None = None, bias: np.ndarray | None = None):
        self.window = window  # how a text's window vectors become the one vector the head reads
        self.weight = weight  # (classes, dim), float32
        self.bias = bias  # (classes,), float32

    @classmethod
    def restore(cls, tensors: dict[str, np.ndarray], config: ClassifierConfig, where: Path) -> FrozenHead:
        return cls(config.window, tensors["weight"], tensors["bias"])

    def proba(self, encoded: Encoded) -> np.ndarray:
        return self.proba_from_vectors(encoded.pooled(self.window), encoded.texts)

    def proba_from_vectors(self, vectors: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """Probabilities from pooled, normalised vectors (and the texts they were made from, for a head of words)."""
        return softmax(self.logits(vectors, texts))

    def logits(self, vectors: np.ndarray, texts: Sequence[str] | None) -> np.ndarray:
        assert self.weight is not None and self.bias is not None, "fit or restore the head first"
        return vectors.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias

    def tensors(self) -> dict[str, np.ndarray]:
        assert self.weight is not None and self.bias is not None, "fit or restore the head first"
        return {
            "weight": np.ascontiguousarray(self.weight, dtype=np.float32),
            "bias": np.ascontiguousarray(self.bias, dtype=np.float32),
        }


def two_rows_if_binary(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A binary linear model has one logit z; softmax over (-z/2, z/2) is the same sigmoid(z)."""
    if weight.shape[0] == 1:
        return np.vstack([-weight / 2, weight / 2]), np.concatenate([-bias / 2, bias / 2])
    return weight, bias


def softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)
