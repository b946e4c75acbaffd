"""How well a classifier labels held-out texts: accuracy, macro-F1, per-class scores, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Scores:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows: truth)."""

    labels: tuple[str, ...]
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]

    def summary(self) -> dict[str, float]:
        return {"accuracy": round(self.accuracy, 4), "macro_f1": round(self.macro_f1, 4)}

    def to_json(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": self.per_class,
            "labels": list(self.labels),
            "confusion_matrix": self.confusion,
        }


def classification_scores(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> Scores:
    """Scores of ``predicted`` against ``truth``; ``labels`` fixes the order (unseen ones are added)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    truth = [str(t) for t in truth]
    order = tuple(labels) + tuple(sorted(set(truth) - set(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=list(order), zero_division=0
    )
    present = [i for i, label in enumerate(order) if label in set(truth)]
    return Scores(
        labels=order,
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(
            f1_score(truth, predicted, labels=[order[i] for i in present], average="macro", zero_division=0)
        ),
        per_class={
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(order)
        },
        confusion=confusion_matrix(truth, predicted, labels=list(order)).tolist(),
    )


def plot_confusion(scores: Scores, path: str | Path, title: str = "") -> Path:
    """Write the confusion matrix (rows: true label, columns: predicted) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.array(scores.confusion)
    size = max(5.0, 0.45 * len(scores.labels) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(scores.labels)), scores.labels, rotation=90, fontsize=8)
    axes.set_yticks(range(len(scores.labels)), scores.labels, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title or f"accuracy {scores.accuracy:.3f}, macro-F1 {scores.macro_f1:.3f}")
    threshold = matrix.max() / 2 if matrix.size else 0
    if len(scores.labels) <= 30:
        for (row, column), value in np.ndenumerate(matrix):
            if value:
                color = "white" if value > threshold else "black"
                axes.text(column, row, str(value), ha="center", va="center", fontsize=6, color=color)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    return save_figure(figure, path)


def save_figure(figure: Any, path: str | Path) -> Path:
    """Lay ``figure`` out, write it to ``path`` as a PNG (folders made as needed) and free it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
