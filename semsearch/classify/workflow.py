"""The classifier's two jobs from files, as ``semsearch classifier train`` and ``eval`` run them:
train on a labelled file with a held-out check, and score a saved classifier on a labelled file."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from semsearch.classify.classifier import Classifier
from semsearch.classify.data import load_labelled, split_validation
from semsearch.classify.metrics import Scores, classification_scores, plot_confusion
from semsearch.classify.options import TrainOptions
from semsearch.models import DEFAULT_MODEL
from semsearch.types import Pooling


@dataclass(frozen=True)
class LabelledFile:
    """Where labelled examples are: a corpus file of any format, and which fields hold what."""

    path: Path
    text_field: str = "text"
    label_field: str = "label"
    title_field: str = "title"  # prepended to the text when present, as when indexing
    skip_bad: bool = False


@dataclass(frozen=True)
class TrainReport:
    out: Path
    classifier: Classifier
    trained_on: int
    skipped_bad: int
    skipped_examples: tuple[str, ...]
    report: dict[str, Any]  # the training report saved in classifier.json, with "validation" when held out


def train(data: LabelledFile, out: str | Path, model: str = DEFAULT_MODEL, pooling: Pooling = Pooling.MEAN,
          options: TrainOptions | None = None, validation: float = 0.1) -> TrainReport:  # fmt: skip
    """Train a classifier on ``data``, holding out a stratified ``validation`` share, and save it to ``out``."""
    options = options or TrainOptions()
    examples = load_labelled(data.path, data.text_field, data.label_field, data.title_field, skip_bad=data.skip_bad)
    train_rows, val_rows = split_validation(examples.labels, validation)
    held_out = (
        ([examples.texts[i] for i in val_rows], [examples.labels[i] for i in val_rows]) if len(val_rows) else None
    )
    trained = Classifier(model, Pooling(pooling), options).fit(
        [examples.texts[i] for i in train_rows], [examples.labels[i] for i in train_rows], validation=held_out
    )
    trained.save(out)
    assert trained.config is not None
    return TrainReport(
        out=Path(out),
        classifier=trained,
        trained_on=len(train_rows),
        skipped_bad=examples.skipped,
        skipped_examples=examples.skipped_examples,
        report=dict(trained.config.training),
    )


@dataclass(frozen=True)
class EvalResult:
    scores: Scores
    examples: int
    skipped_bad: int
    skipped_examples: tuple[str, ...]
    plot: Path | None  # the confusion-matrix PNG, when one was asked for


def evaluate(directory: str | Path, data: LabelledFile, plot: str | Path | None = None,
             progress: bool = True) -> EvalResult:  # fmt: skip
    """Score the classifier saved in ``directory`` on ``data``; write the confusion matrix to ``plot`` if given."""
    loaded = Classifier.load(directory)
    loaded.options = replace(loaded.options, progress=progress)
    examples = load_labelled(data.path, data.text_field, data.label_field, data.title_field, skip_bad=data.skip_bad)
    scores = classification_scores(examples.labels, loaded.predict(examples.texts), loaded.classes_.tolist())
    written = plot_confusion(scores, plot, title=f"{directory} on {data.path}") if plot is not None else None
    return EvalResult(scores, len(examples.labels), examples.skipped, examples.skipped_examples, written)
