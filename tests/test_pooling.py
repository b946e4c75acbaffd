"""Pooling: numpy arrays (the encoder) and torch tensors (fine-tuning) pool alike."""

from __future__ import annotations

import numpy as np
import torch

from semsearch.pooling import normalize, pool
from semsearch.types import Pooling


def test_numpy_mean_pooling_matches_torch_and_skips_padding() -> None:
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(4, 9, 6)).astype(np.float32)
    mask = np.ones((4, 9), dtype=np.int64)
    mask[1, 5:] = 0  # padding
    mask[3] = 0  # an empty window pools to zero, not NaN
    pooled = pool(hidden, mask.astype(np.float32), Pooling.MEAN)
    reference = pool(torch.from_numpy(hidden), torch.from_numpy(mask), Pooling.MEAN).numpy()
    assert pooled.dtype == np.float32
    np.testing.assert_allclose(pooled, reference, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled[1], hidden[1, :5].mean(0), rtol=1e-5, atol=1e-6)
    assert not pooled[3].any()
    assert np.allclose(np.linalg.norm(normalize(pooled[:3]), axis=1), 1.0)


def test_cls_pooling_takes_the_first_token() -> None:
    hidden = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    assert np.array_equal(pool(hidden, np.ones((2, 3), np.float32), Pooling.CLS), hidden[:, 0])
