"""Choosing a frozen head's settings by cross-validation on its training texts, and calibrating it.

Stratified 3-fold CV with a fixed seed throughout, so the same texts always give the same head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def cv_split(y: np.ndarray) -> Any:
    """Stratified 3-fold CV with a fixed seed (fewer folds for a class with fewer than 3 examples), or
    None when some class has a single example and cannot be folded at all."""
    from sklearn.model_selection import StratifiedKFold

    folds = min(3, int(np.bincount(y).min()))
    return StratifiedKFold(folds, shuffle=True, random_state=0) if folds >= 2 else None


def choose_c(
    estimator: Any, parameter: str, grid: Sequence[float], x: Any, y: np.ndarray
) -> tuple[float, float | None]:
    """The inverse L2 strength with the best 3-fold CV accuracy (stratified, fixed seed), and that
    accuracy; with a single value (or too few examples per class to fold) that value and None."""
    from sklearn.model_selection import cross_val_score

    split = cv_split(y)
    if len(grid) == 1 or split is None:
        return float(grid[0]), None
    scores = [float(np.mean(cross_val_score(estimator.set_params(**{parameter: c}), x, y, cv=split))) for c in grid]
    best = int(np.argmax(scores))  # the first (strongest regularisation) among equals
    return float(grid[best]), scores[best]


def two_columns_if_binary(margins: np.ndarray) -> np.ndarray:
    """A binary SVM's one margin z as the logits (-z/2, z/2), as a binary head's two rows of weights give them."""
    return np.column_stack([-margins / 2, margins / 2]) if margins.ndim == 1 else margins


def temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature t under which out-of-fold ``logits`` give the truth the highest likelihood:
    one number that turns SVM margins into calibrated probabilities without changing any argmax."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        return float(-log_softmax(np.exp(log_t) * logits, axis=1)[rows, y].mean())

    return float(np.exp(minimize_scalar(loss, bounds=(-5.0, 5.0), method="bounded").x))
