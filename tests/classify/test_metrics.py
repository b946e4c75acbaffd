"""Scores of predicted labels against the truth, and the confusion matrix as a picture."""

from __future__ import annotations

from pathlib import Path

import pytest

from semsearch.classify import classification_scores, plot_confusion


def test_scores_follow_the_given_label_order_and_add_unseen_truths() -> None:
    truth = ["a", "a", "b", "c"]
    predicted = ["a", "b", "b", "b"]
    scores = classification_scores(truth, predicted, ["b", "a"])
    assert scores.labels == ("b", "a", "c")
    assert scores.accuracy == pytest.approx(0.5)
    assert scores.confusion == [[1, 0, 0], [1, 1, 0], [1, 0, 0]]  # rows: truth b, a, c
    assert scores.per_class["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert scores.per_class["c"]["support"] == 1 and scores.per_class["c"]["f1"] == 0.0
    assert scores.macro_f1 == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)
    assert scores.summary() == {"accuracy": 0.5, "macro_f1": round(scores.macro_f1, 4)}
    assert set(scores.to_json()) == {"accuracy", "macro_f1", "per_class", "labels", "confusion_matrix"}


def test_a_label_never_true_does_not_count_in_macro_f1() -> None:
    scores = classification_scores(["a", "a"], ["a", "a"], ["a", "b"])
    assert scores.macro_f1 == 1.0 and scores.per_class["b"]["support"] == 0


def test_the_confusion_matrix_is_written_as_a_png(tmp_path: Path) -> None:
    scores = classification_scores(["a", "b", "b"], ["a", "b", "a"], ["a", "b"])
    written = plot_confusion(scores, tmp_path / "deep" / "cm.png", title="test")
    assert written == tmp_path / "deep" / "cm.png" and written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
