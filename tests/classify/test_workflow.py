"""Training and scoring from files, as the CLI runs them, in Python."""

from __future__ import annotations

from pathlib import Path

from classify.samples import dataset
from helpers import write_jsonl

from semsearch.classify import Classifier, LabelledFile, TrainOptions, evaluate, train


def test_train_holds_out_saves_and_evaluate_scores(tmp_path: Path, tiny_model: Path) -> None:
    texts, labels = dataset(10, seed=20)
    rows = [{"body": t, "y": y} for t, y in zip(texts, labels, strict=True)] + [{"body": "", "y": "a"}]
    data = LabelledFile(write_jsonl(tmp_path / "train.jsonl", rows), text_field="body", label_field="y", skip_bad=True)
    done = train(data, tmp_path / "clf", model=str(tiny_model), options=TrainOptions(progress=False), validation=0.2)
    assert (done.trained_on, done.skipped_bad, done.report["validation"]["examples"]) == (24, 1, 6)
    assert Classifier.load(tmp_path / "clf").fingerprint == done.classifier.fingerprint
    result = evaluate(tmp_path / "clf", data, plot=tmp_path / "cm.png", progress=False)
    assert result.examples == 30 and result.skipped_bad == 1 and result.plot == tmp_path / "cm.png"
    assert result.scores.labels == ("hockey", "medicine", "space") and result.scores.accuracy >= 0.9
    none_held = train(data, tmp_path / "all", model=str(tiny_model), options=TrainOptions(progress=False),
                      validation=0)  # fmt: skip
    assert none_held.trained_on == 30 and "validation" not in none_held.report
