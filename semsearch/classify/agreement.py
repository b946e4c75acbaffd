"""How far the classifier agrees with the labeller on held-out labels: per class, and where they differ.

The labeller's label is not taken as the truth: where the classifier disagrees with high confidence,
the label is as likely to be the mistake (an outside labeller makes some). So the examples of each
disagreement come most confident first, which is the order in which to check them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semsearch.classify.metrics import classification_scores
from semsearch.errors import ClassifierError

SNIPPET = 200  # characters of each example's text


@dataclass(frozen=True)
class Example:
    position: int  # in the labelled file
    text: str  # its first SNIPPET characters
    probability: float  # the classifier's probability of its own label


@dataclass(frozen=True)
class ClassAgreement:
    label: str
    support: int  # held-out texts the labeller gave this label
    agreement: float  # share of them the classifier labels so too (the labeller's recall)
    precision: float  # share of the classifier's texts of this label that the labeller labelled so
    f1: float
    confused_with: tuple[tuple[str, int], ...]  # the classifier's other labels for them, most frequent first


@dataclass(frozen=True)
class Disagreement:
    labeller: str
    classifier: str
    count: int
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class AgreementReport:
    examples: int
    agreement: float  # share of texts where both give the same label (accuracy against the labeller)
    kappa: float  # Cohen's kappa: agreement beyond what the two label frequencies give by chance
    macro_f1: float
    per_class: tuple[ClassAgreement, ...]
    disagreements: tuple[Disagreement, ...]  # most frequent pairs first

    def to_json(self) -> dict[str, object]:
        return {
            "examples": self.examples,
            "agreement": round(self.agreement, 4),
            "kappa": round(self.kappa, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_class": [
                {
                    "label": c.label,
                    "support": c.support,
                    "agreement": round(c.agreement, 4),
                    "precision": round(c.precision, 4),
                    "f1": round(c.f1, 4),
                    "confused_with": [{"label": label, "count": n} for label, n in c.confused_with],
                }
                for c in self.per_class
            ],
            "disagreements": [
                {
                    "labeller": d.labeller,
                    "classifier": d.classifier,
                    "count": d.count,
                    "examples": [
                        {"position": e.position, "text": e.text, "probability": round(e.probability, 4)}
                        for e in d.examples
                    ],
                }
                for d in self.disagreements
            ],
        }


def agreement_report(
    labeller: Sequence[str],
    predicted: Sequence[str],
    probability: Sequence[float] | np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str] = (),
    pairs: int = 10,
    examples: int = 3,
) -> AgreementReport:
    """Compare the labeller's labels with the classifier's ``predicted`` ones (and its ``probability``
    of each) on the same ``texts``; ``labels`` fixes the order of classes (the others are added)."""
    from sklearn.metrics import cohen_kappa_score

    if not (len(labeller) == len(predicted) == len(probability) == len(texts)):
        raise ClassifierError("labels, predictions, probabilities and texts differ in length")
    if not labeller:
        raise ClassifierError("no held-out labels to compare with")
    labeller, predicted = [str(x) for x in labeller], [str(x) for x in predicted]
    scores = classification_scores(labeller, predicted, list(labels))
    wrong: dict[tuple[str, str], list[int]] = {}
    for i, (said, got) in enumerate(zip(labeller, predicted, strict=True)):
        if said != got:
            wrong.setdefault((said, got), []).append(i)
    per_class = []
    for label in scores.labels:
        row = scores.per_class[label]
        if row["support"] == 0:
            continue
        confused = Counter({got: len(rows) for (said, got), rows in wrong.items() if said == label})
        per_class.append(
            ClassAgreement(
                label, int(row["support"]), row["recall"], row["precision"], row["f1"], tuple(confused.most_common(3))
            )
        )
    ranked = sorted(wrong.items(), key=lambda item: (-len(item[1]), item[0]))[:pairs]
    disagreements = tuple(
        Disagreement(
            said,
            got,
            len(rows),
            tuple(
                Example(i, texts[i][:SNIPPET], float(probability[i]))
                for i in sorted(rows, key=lambda i: -float(probability[i]))[:examples]
            ),
        )
        for (said, got), rows in ranked
    )
    kappa = float(cohen_kappa_score(labeller, predicted)) if len(set(labeller) | set(predicted)) > 1 else 1.0
    return AgreementReport(len(labeller), scores.accuracy, kappa, scores.macro_f1, tuple(per_class), disagreements)
