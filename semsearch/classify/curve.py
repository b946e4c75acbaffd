"""How accuracy grows with the number of labels, and how many labels a target agreement needs.

Cross-validated: the labelled texts are cut into ``folds`` stratified folds; for each fold and each
size ``m``, a head is trained on the first ``m`` of a seeded shuffle of the other folds and scored
on the held-out fold. Each size's figure is the mean over folds with a 95% t-interval. An inverse
power law ``accuracy(m) = a - b * m ** -c`` (the usual shape of learning curves; ``a`` is where it
levels off) is fitted to the means, weighted by their spread, and solved for the target. The
estimate is an extrapolation from labels chosen as the file's were (at random, or by ``suggest``,
which learns faster): trust it near the sizes measured, less far beyond them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semsearch.classify.encoding import Encoded
from semsearch.classify.metrics import classification_scores, save_figure
from semsearch.errors import ClassifierError, OptionError

FitHead = Callable[[Encoded, list[str]], Callable[[Encoded], list[str]]]  # trains, returns a predictor


@dataclass(frozen=True)
class CurvePoint:
    size: int  # labels trained on
    accuracy: float  # mean over folds
    accuracy_interval: tuple[float, float]  # 95% t-interval of that mean
    macro_f1: float
    macro_f1_interval: tuple[float, float]
    folds: int


@dataclass(frozen=True)
class PowerLaw:
    """``accuracy(m) = plateau - scale * m ** -rate``."""

    plateau: float
    scale: float
    rate: float

    def at(self, size: float) -> float:
        return float(self.plateau - self.scale * size**-self.rate)

    def labels_for(self, target: float) -> float | None:
        """Labels at which the curve reaches ``target``; None when it levels off below it."""
        if target >= self.plateau:
            return None
        return float((self.scale / (self.plateau - target)) ** (1.0 / self.rate))


@dataclass(frozen=True)
class Curve:
    points: tuple[CurvePoint, ...]
    fit: PowerLaw | None  # None with fewer than three sizes
    target: float
    labels_for_target: int | None  # None: not reached by the fitted curve (or no fit)
    labelled: int  # labels in the file

    def to_json(self) -> dict[str, object]:
        return {
            "labelled": self.labelled,
            "points": [
                {
                    "size": p.size, "accuracy": round(p.accuracy, 4),
                    "accuracy_interval": [round(v, 4) for v in p.accuracy_interval],
                    "macro_f1": round(p.macro_f1, 4), "macro_f1_interval": [round(v, 4) for v in p.macro_f1_interval],
                    "folds": p.folds,
                }
                for p in self.points
            ],
            "fit": None if self.fit is None else {
                "plateau": round(self.fit.plateau, 4), "scale": round(self.fit.scale, 4),
                "rate": round(self.fit.rate, 4),
            },
            "target": self.target,
            "labels_for_target": self.labels_for_target,
        }  # fmt: skip


def default_sizes(largest: int, smallest: int = 100) -> list[int]:
    """Doubling sizes from ``smallest`` up to ``largest`` (which is always included)."""
    sizes, size = [], smallest
    while size < largest:
        sizes.append(size)
        size *= 2
    return [*sizes, largest]


def learning_curve(
    encoded: Encoded,
    labels: Sequence[str],
    fit: FitHead,
    *,
    sizes: Sequence[int] | None = None,
    folds: int = 3,
    target: float = 0.95,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Curve:
    """The learning curve of the head ``fit`` trains, on ``encoded`` texts and their ``labels``."""
    from sklearn.model_selection import StratifiedKFold

    labels = [str(label) for label in labels]
    if folds < 2:
        raise OptionError("folds", folds, "needs at least 2")
    if not 0 < target < 1:
        raise OptionError("target", target, "must be between 0 and 1 (an accuracy)")
    names, counts = np.unique(labels, return_counts=True)
    if len(names) < 2:
        raise ClassifierError(f"a learning curve needs at least two distinct labels, got {list(names)}")
    rare = [str(name) for name, count in zip(names, counts, strict=True) if count < folds]
    if rare:
        raise ClassifierError(
            f"label(s) {', '.join(map(repr, rare[:5]))} have fewer than {folds} examples: each of the {folds} "
            "folds needs one to score; add examples of them, or fewer folds"
        )
    largest = len(labels) - int(np.ceil(len(labels) / folds))  # the smallest training part of any fold
    sizes = sorted({int(s) for s in sizes}) if sizes else default_sizes(largest, min(100, largest))
    if sizes[0] < 2 or sizes[-1] > largest:
        raise OptionError("sizes", sizes, f"must lie between 2 and {largest} ({folds} folds of {len(labels)} labels)")
    rng = np.random.default_rng(seed)
    accuracy = np.zeros((len(sizes), folds))
    macro_f1 = np.zeros((len(sizes), folds))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        order = rng.permutation(train)
        held = encoded.subset(test)
        truth = [labels[i] for i in test]
        for row, size in enumerate(sizes):
            chosen = order[:size]
            chosen_labels = [labels[i] for i in chosen]
            if len(set(chosen_labels)) < 2:
                chosen = order[: size + 1]  # never a single label: the head cannot train on it
            predict = fit(encoded.subset(chosen), [labels[i] for i in chosen])
            scores = classification_scores(truth, predict(held), list(names))
            accuracy[row, fold], macro_f1[row, fold] = scores.accuracy, scores.macro_f1
            if progress is not None:
                progress(f"fold {fold + 1}/{folds}, {size} labels: accuracy {scores.accuracy:.4f}")
    points = tuple(
        CurvePoint(
            size,
            float(accuracy[r].mean()),
            interval(accuracy[r]),
            float(macro_f1[r].mean()),
            interval(macro_f1[r]),
            folds,
        )
        for r, size in enumerate(sizes)
    )
    law = fit_power_law(points)
    reach = law.labels_for(target) if law is not None else None
    return Curve(points, law, target, None if reach is None else int(np.ceil(reach)), len(labels))


def interval(values: np.ndarray) -> tuple[float, float]:
    """The 95% t-interval of the mean of ``values``."""
    from scipy import stats

    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, mean
    half = float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values)))
    return mean - half, mean + half


def fit_power_law(points: Sequence[CurvePoint]) -> PowerLaw | None:
    """Least squares of ``a - b m^-c`` through the points' mean accuracies (a <= 1, b, c > 0)."""
    if len(points) < 3:
        return None
    from scipy.optimize import curve_fit

    sizes = np.array([p.size for p in points], dtype=np.float64)
    means = np.array([p.accuracy for p in points])
    spread = np.array([max(1e-3, (p.accuracy_interval[1] - p.accuracy_interval[0]) / 4) for p in points])

    def law(m: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
        return a - b * m**-c

    import warnings

    from scipy.optimize import OptimizeWarning

    try:
        with warnings.catch_warnings():  # few points: the covariance is not needed, only the fit
            warnings.simplefilter("ignore", OptimizeWarning)
            (a, b, c), _ = curve_fit(
                law, sizes, means, p0=(min(1.0, means[-1] + 0.02), 1.0, 0.5), sigma=spread,
                bounds=([0.0, 0.0, 1e-3], [1.0, 1e4, 3.0]), maxfev=20000,
            )  # fmt: skip
    except (RuntimeError, ValueError):
        return None
    return PowerLaw(float(a), float(b), float(c))


def plot_curve(curve: Curve, path: str | Path, title: str = "") -> Path:
    """Write accuracy and macro-F1 against labels (log scale, 95% intervals) and the fitted law as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = np.array([p.size for p in curve.points], dtype=np.float64)
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    for name, mean, low_high in (
        ("accuracy", [p.accuracy for p in curve.points], [p.accuracy_interval for p in curve.points]),
        ("macro-F1", [p.macro_f1 for p in curve.points], [p.macro_f1_interval for p in curve.points]),
    ):
        low, high = zip(*low_high, strict=True)
        axes.plot(sizes, mean, marker="o", label=name)
        axes.fill_between(sizes, low, high, alpha=0.2)
    if curve.fit is not None:
        reach = curve.labels_for_target or 0
        span = np.geomspace(sizes[0], max(sizes[-1], min(reach, 20 * sizes[-1])), 100)
        axes.plot(span, [curve.fit.at(m) for m in span], linestyle="--", color="grey", label="fitted accuracy")
    axes.axhline(curve.target, color="red", linewidth=0.8, label=f"target {curve.target}")
    axes.set_xscale("log")
    axes.set_xlabel("labels")
    axes.set_ylabel("score on held-out folds")
    axes.set_title(title or "learning curve")
    axes.legend(loc="lower right")
    return save_figure(figure, path)
