"""The classifier's jobs from files, as the ``semsearch classifier`` commands run them: train on a
labelled file with a held-out check, score a saved classifier on a labelled file, suggest what to
label next in an index, draw the learning curve of a labelled file, and compare with the labeller."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from semsearch.classify.active import Suggestion, SuggestOptions, suggest_for
from semsearch.classify.agreement import AgreementReport, agreement_report
from semsearch.classify.classifier import Classifier
from semsearch.classify.curve import Curve, learning_curve
from semsearch.classify.data import load_labelled, split_validation
from semsearch.classify.encoding import Encoded
from semsearch.classify.metrics import Scores, classification_scores, plot_confusion
from semsearch.classify.options import TrainOptions
from semsearch.classify.pool import IndexPool, read_pool
from semsearch.errors import ClassifierError, Hint
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
          options: TrainOptions | None = None, validation: float = 0.1,
          cache: str | Path | None = None) -> TrainReport:  # fmt: skip
    """Train a classifier on ``data``, holding out a stratified ``validation`` share (drawn with
    ``options.seed``), and save it to ``out``. With ``cache`` (a folder), a frozen head's vectors of texts
    seen in an earlier run are read from it, not encoded again: training on a file that grew is cheap."""
    options = options or TrainOptions()
    examples = load_labelled(data.path, data.text_field, data.label_field, data.title_field, skip_bad=data.skip_bad)
    train_rows, val_rows = split_validation(examples.labels, validation, options.seed)
    held_out = (
        ([examples.texts[i] for i in val_rows], [examples.labels[i] for i in val_rows]) if len(val_rows) else None
    )
    trained = Classifier(model, Pooling(pooling), options, cache=cache).fit(
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


def labelled_ids(path: str | Path, id_field: str | None = None) -> set[str]:
    """The ids in a labelled file (``id_field``, or ``_id`` then ``id`` as in a corpus): documents not to
    suggest again. A file none of whose records has one is an error: leaving nothing out would look like
    success."""
    from semsearch.corpus import FieldMap, raw_records

    names = (id_field,) if id_field else FieldMap().id_fields
    found, records = set(), 0
    fields = FieldMap.from_options(id_field=id_field, types=dict.fromkeys(names, "string"))
    for _, _, raw in raw_records(path, fields):
        records += 1
        doc_id = next((raw[name] for name in names if isinstance(raw, dict) and raw.get(name) is not None), None)
        if doc_id is not None:
            found.add(str(doc_id))
    if not found:
        what = f"of its {records} records has" if records else "record: it has"
        raise ClassifierError(f"{path}: none {what} an id field ({' or '.join(map(repr, names))})",
                              Hint("name it with {how}", option="id_field", value="FIELD"))  # fmt: skip
    return found


@dataclass(frozen=True)
class SuggestResult:
    pool: IndexPool
    suggestion: Suggestion
    labels: tuple[str, ...]  # the classifier's label names (empty at a cold start)
    excluded: int  # documents of the index left out as labelled already


def suggest_from_index(
    index: str | Path,
    n: int,
    classifier: str | Path | None = None,
    labelled: Iterable[str] = (),
    options: SuggestOptions | None = None,
) -> SuggestResult:
    """``n`` documents of the index to have labelled next, none of the ``labelled`` ids: by margin
    sampling under the saved ``classifier``, or a cold-start sample without one (:mod:`.active`)."""
    loaded = Classifier.load(classifier) if classifier is not None else None
    pool = read_pool(index, loaded)
    done = set(labelled)
    exclude = [i for i, doc_id in enumerate(pool.ids) if doc_id in done]
    chosen = suggest_for(loaded, pool.vectors, pool.texts, n, exclude, options)
    names = tuple(loaded.classes_.tolist()) if loaded is not None else ()
    return SuggestResult(pool, chosen, names, len(exclude))


def curve(data: LabelledFile, model: str = DEFAULT_MODEL, pooling: Pooling = Pooling.MEAN,
          options: TrainOptions | None = None, sizes: Sequence[int] | None = None, folds: int = 3,
          target: float = 0.95, cache: str | Path | None = None,
          progress: Callable[[str], None] | None = None) -> Curve:  # fmt: skip
    """The learning curve of the head ``options`` train, on the labelled file (encoded once)."""
    options = options or TrainOptions()
    examples = load_labelled(data.path, data.text_field, data.label_field, data.title_field, skip_bad=data.skip_bad)
    check_labels(examples.labels, folds, data.label_field)
    base = Classifier(model, Pooling(pooling), options, cache=cache)
    encoded = base.encode(examples.texts)
    quiet = replace(options, progress=False)

    def fit(part: Encoded, labels: list[str]) -> Callable[[Encoded], list[str]]:
        return Classifier(model, Pooling(pooling), quiet, encoder=base.encoder).fit(part, labels).predict

    return learning_curve(encoded, examples.labels, fit, sizes=sizes, folds=folds, target=target,
                          seed=options.seed, progress=progress)  # fmt: skip


def check_labels(labels: Sequence[str], folds: int, field: str) -> None:
    """Refuse, before any encoding, labels a curve cannot fold: a label seen fewer than ``folds`` times."""
    counts = Counter(labels)
    rare = sorted(label for label, count in counts.items() if count < folds)
    if rare:
        shown = ", ".join(f"{label!r} ({counts[label]})" for label in rare[:5])
        raise ClassifierError(
            f"label(s) {shown} of field '{field}' have fewer than {folds} examples, too few for {folds}-fold "
            "cross-validation",
            Hint("add examples of them, or set {how}", option="folds", value="2") if folds > 2 else None,
        )
    if len(counts) < 2:
        raise ClassifierError(f"field '{field}' holds a single label ({next(iter(counts))!r}): nothing to learn")


@dataclass(frozen=True)
class AgreementResult:
    report: AgreementReport
    skipped_bad: int


def agreement(directory: str | Path, data: LabelledFile, pairs: int = 10, examples: int = 3,
              progress: bool = True) -> AgreementResult:  # fmt: skip
    """How the classifier saved in ``directory`` agrees with the labeller's held-out labels in ``data``."""
    loaded = Classifier.load(directory)
    loaded.options = replace(loaded.options, progress=progress)
    held = load_labelled(data.path, data.text_field, data.label_field, data.title_field, skip_bad=data.skip_bad)
    proba = loaded.predict_proba(held.texts)
    names = loaded.classes_.tolist()
    predicted = [names[i] for i in proba.argmax(axis=1)]
    report = agreement_report(held.labels, predicted, proba.max(axis=1), held.texts, names, pairs, examples)
    return AgreementResult(report, held.skipped)
