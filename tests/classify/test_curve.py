"""The learning curve: cross-validated points with intervals, and the fitted law solved for a target."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from semsearch.classify.curve import CurvePoint, PowerLaw, default_sizes, fit_power_law, learning_curve
from semsearch.classify.encoding import Encoded
from semsearch.errors import ClassifierError, OptionError


def encoded_blobs(per: int, seed: int = 0, noise: float = 1.2) -> tuple[Encoded, list[str]]:
    """Three overlapping Gaussian classes: more labels help a nearest-centroid head, up to a point."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 8))
    y = np.repeat(np.arange(3), per)
    vectors = (centres[y] + noise * rng.normal(size=(len(y), 8))).astype(np.float32)
    order = rng.permutation(len(y))
    encoded = Encoded(doc_index=np.arange(len(y)), vectors=vectors[order], count=len(y))
    return encoded, [f"c{label}" for label in y[order]]


def nearest_centroid(part: Encoded, labels: list[str]) -> Callable[[Encoded], list[str]]:
    names = sorted(set(labels))
    means = np.stack([part.vectors[[i for i, y in enumerate(labels) if y == n]].mean(0) for n in names])

    def predict(held: Encoded) -> list[str]:
        distance = ((held.vectors[:, None, :] - means[None]) ** 2).sum(-1)
        return [names[i] for i in distance.argmin(1)]

    return predict


def test_curve_points_rise_with_labels_and_carry_intervals() -> None:
    encoded, labels = encoded_blobs(200)
    curve = learning_curve(encoded, labels, nearest_centroid, sizes=[6, 24, 96, 384], folds=3, target=0.5)
    assert [p.size for p in curve.points] == [6, 24, 96, 384] and curve.labelled == 600
    for point in curve.points:
        low, high = point.accuracy_interval
        assert low <= point.accuracy <= high and point.folds == 3
    assert curve.points[-1].accuracy > curve.points[0].accuracy
    assert curve.fit is not None and curve.fit.plateau <= 1.0
    assert curve.labels_for_target is not None and curve.labels_for_target < 384  # 0.5 is reached early
    again = learning_curve(encoded, labels, nearest_centroid, sizes=[6, 24, 96, 384], folds=3, target=0.5)
    assert again.to_json() == curve.to_json()  # seeded: the same curve


def test_power_law_fit_recovers_a_known_curve_and_solves_for_a_target() -> None:
    truth = PowerLaw(0.9, 2.0, 0.5)
    points = [CurvePoint(m, truth.at(m), (truth.at(m) - 0.01, truth.at(m) + 0.01), 0.0, (0, 0), 3)
              for m in (50, 100, 200, 400, 800)]  # fmt: skip
    law = fit_power_law(points)
    assert law is not None and law.plateau == pytest.approx(0.9, abs=1e-3) and law.rate == pytest.approx(0.5, abs=1e-2)
    reach = law.labels_for(0.85)
    assert reach is not None and law.at(reach) == pytest.approx(0.85, abs=1e-6)
    assert law.labels_for(0.95) is None  # above the plateau: never
    assert fit_power_law(points[:2]) is None


def test_default_sizes_double_up_to_all() -> None:
    assert default_sizes(1333) == [100, 200, 400, 800, 1333]


def test_bad_curves_are_refused_clearly() -> None:
    encoded, labels = encoded_blobs(10)
    with pytest.raises(ClassifierError, match=r"label\(s\) 'rare' have fewer than 3 examples"):
        learning_curve(encoded, [*labels[:-1], "rare"], nearest_centroid, folds=3)
    with pytest.raises(OptionError, match="sizes"):
        learning_curve(encoded, labels, nearest_centroid, sizes=[5, 500])
    with pytest.raises(OptionError, match="target"):
        learning_curve(encoded, labels, nearest_centroid, target=1.5)
