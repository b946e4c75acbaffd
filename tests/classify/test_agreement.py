"""The agreement report against the labeller: per class, and each disagreement with examples."""

from __future__ import annotations

import pytest

from semsearch.classify.agreement import agreement_report
from semsearch.errors import ClassifierError


def test_report_counts_agreement_per_class_and_shows_confident_disagreements_first() -> None:
    labeller = ["a", "a", "a", "a", "b", "b", "c", "c"]
    predicted = ["a", "a", "b", "b", "b", "b", "c", "a"]
    probability = [0.9, 0.8, 0.55, 0.97, 0.9, 0.9, 0.9, 0.6]
    texts = [f"text {i}" for i in range(8)]
    report = agreement_report(labeller, predicted, probability, texts, ["a", "b", "c"])
    assert report.examples == 8 and report.agreement == pytest.approx(5 / 8)
    assert -1 <= report.kappa < report.agreement
    by_label = {row.label: row for row in report.per_class}
    assert by_label["a"].support == 4 and by_label["a"].agreement == pytest.approx(0.5)
    assert by_label["a"].confused_with == (("b", 2),)
    assert by_label["b"].precision == pytest.approx(0.5) and by_label["b"].agreement == 1.0
    first = report.disagreements[0]
    assert (first.labeller, first.classifier, first.count) == ("a", "b", 2)
    assert [e.position for e in first.examples] == [3, 2]  # the most confident first: check it first
    assert report.disagreements[1].labeller == "c" and report.to_json()["disagreements"][0]["count"] == 2


def test_report_refuses_mismatched_inputs() -> None:
    with pytest.raises(ClassifierError, match="differ in length"):
        agreement_report(["a"], ["a", "b"], [1.0], ["t"])
    with pytest.raises(ClassifierError, match="no held-out labels"):
        agreement_report([], [], [], [])
