"""From a transformer's token vectors to one unit vector per window: the pooling every part shares.

Written with operations numpy arrays and torch tensors share, so the encoder pools its arrays and the
classifier's fine-tuning pools its tensors (with gradients) by the same code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np

from semsearch.types import Pooling

if TYPE_CHECKING:
    import torch

Array = TypeVar("Array", np.ndarray, "torch.Tensor")


def pool(hidden: Array, mask: Array, pooling: Pooling) -> Array:
    """One vector per window from its token vectors, padding excluded (not normalised)."""
    if pooling is Pooling.CLS:
        return hidden[:, 0]
    if isinstance(hidden, np.ndarray):
        # one matrix product per window: no windows x tokens x dim temporary (several times faster, and this
        # runs on the thread that feeds the runtime while an index is built)
        rows = np.asarray(mask, dtype=hidden.dtype)[:, None, :]
        total = rows.sum(2)
        return (rows @ hidden)[:, 0] / (total + (total == 0))
    weights = mask[..., None] * 1.0
    counts = weights.sum(1)
    return (hidden * weights).sum(1) / (counts + (counts == 0))


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero), as float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
