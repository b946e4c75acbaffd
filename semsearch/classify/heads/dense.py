"""The dense head: multinomial logistic regression on the frozen encoder's standardised pooled vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from semsearch.classify.encoding import Encoded
from semsearch.classify.heads.base import FrozenHead, two_rows_if_binary
from semsearch.classify.heads.cv import choose_c
from semsearch.classify.options import HeadKind, TrainOptions


class DenseHead(FrozenHead):
    """Reads the pooled vector only; C (the inverse L2 strength) by 3-fold CV over ``TrainOptions.c_grid``."""

    kind = HeadKind.DENSE

    def fit(self, encoded: Encoded, y: np.ndarray, options: TrainOptions, report: dict[str, Any]) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        features = encoded.pooled(self.window)
        # Standardised features: the C grid then means the same for any encoder, whatever its vectors' spread.
        base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        c, cv_accuracy = choose_c(base, "logisticregression__C", options.c_grid, features, y)
        model = base.set_params(logisticregression__C=c).fit(features, y)
        report["c"] = c
        if cv_accuracy is not None:
            report["cv_accuracy"] = round(cv_accuracy, 4)
        scaler, regression = model[0], model[-1]
        # Fold the scaler into the linear map: W (x - mu) / sigma + b = (W / sigma) x + (b - W mu / sigma),
        # so the saved head is a plain linear map on the vectors an index stores.
        weight = regression.coef_ / scaler.scale_
        bias = regression.intercept_ - weight @ scaler.mean_
        weight, bias = two_rows_if_binary(weight, bias)
        self.weight, self.bias = weight.astype(np.float32), bias.astype(np.float32)
