"""``semsearch classifier train|eval``: a classifier head on the encoder, trained and scored from files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from semsearch.cli.common import json_output, quiet_libraries, render, skip_bad_option, user_errors
from semsearch.errors import OptionError
from semsearch.models import DEFAULT_MODEL
from semsearch.types import Pooling

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULT_LAYERS = 2  # with --finetune, when --layers is not given


@click.group()
def classifier() -> None:
    """Train a classifier head on labelled texts, evaluate it, and label indexes with it."""


def labelled_fields(command: F) -> F:
    for name, default, help_text in reversed(
        (
            ("--text-field", "text", None),
            ("--label-field", "label", None),
            ("--title-field", "title", "Prepended to the text when present."),
        )
    ):
        command = click.option(name, default=default, show_default=True, help=help_text)(command)
    return command


@classifier.command("train")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Directory to save the classifier in.")
@labelled_fields
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Encoder (must be the index's encoder).")
@click.option("--pooling", type=click.Choice([p.value for p in Pooling]), default=Pooling.MEAN.value, show_default=True)
@click.option("--finetune", is_flag=True, help="Also train the encoder's top layers (slower; see docs/classifier.md).")
@click.option("--layers", default=_DEFAULT_LAYERS, show_default=True, help="With --finetune: top layers to train.")
@click.option("--epochs", default=None, type=int, help="With --finetune: passes over the training data [default: 2].")
@click.option("--window-pooling", type=click.Choice(["first", "mean"]), default="first", show_default=True,
              help="Frozen head: a long text's first window, or the mean of all its windows.")  # fmt: skip
@click.option("--features", type=click.Choice(["dense", "hybrid"]), default=None,
              help="Frozen head: the pooled vector (dense), or the pooled vector and hashed TF-IDF of the whole "
                   "text's words (hybrid, the default).")  # fmt: skip
@click.option("--validation", default=0.1, show_default=True, help="Stratified fraction held out and reported.")
@skip_bad_option
@json_output
@user_errors
def classifier_train(data: Path, out: Path, text_field: str, label_field: str, title_field: str, model: str,
                     pooling: str, finetune: bool, layers: int, epochs: int | None, window_pooling: str,
                     features: str | None, validation: float, skip_bad: bool, as_json: bool) -> None:  # fmt: skip
    """Train a classifier on DATA (any corpus format with a text and a label field) and save it to --out."""
    quiet_libraries()
    from semsearch.classify import Features, LabelledFile, TrainOptions, WindowPooling, train

    try:
        options = TrainOptions(
            window=WindowPooling(window_pooling), finetune_layers=layers if finetune else 0,
            features=Features(features) if features else None,
            epochs=TrainOptions.epochs if epochs is None else epochs, progress=not as_json,
        )  # fmt: skip
    except OptionError as error:  # a combination of flags that cannot be used together
        raise click.UsageError(render(error)) from error
    done = train(LabelledFile(data, text_field, label_field, title_field, skip_bad), out, model, Pooling(pooling),
                 options, validation)  # fmt: skip
    labels = list(done.classifier.classes_)
    mode = (f"finetune top {layers} layers" if finetune
            else f"frozen, {window_pooling} window, {options.effective_features} features")  # fmt: skip
    report = {"out": str(out), "labels": labels, "skipped_bad": done.skipped_bad, "mode": mode, **done.report}
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"trained on {done.trained_on} examples, {len(labels)} labels ({mode}) "
               f"in {report['seconds']} s; saved to {out}")  # fmt: skip
    if "validation" in report:
        held = report["validation"]
        click.echo(f"validation ({held['examples']} held out): accuracy {held['accuracy']:.4f}, "
                   f"macro-F1 {held['macro_f1']:.4f}")  # fmt: skip
    for example in done.skipped_examples:
        click.echo(f"  skipped: {example}", err=True)


@classifier.command("eval")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@labelled_fields
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="Write the confusion matrix as this PNG.")
@skip_bad_option
@json_output
@user_errors
def classifier_eval(directory: Path, data: Path, text_field: str, label_field: str, title_field: str,
                    plot: Path | None, skip_bad: bool, as_json: bool) -> None:  # fmt: skip
    """Score the classifier in DIRECTORY on DATA: accuracy, macro-F1, per-class precision/recall, confusion matrix."""
    quiet_libraries()
    from semsearch.classify import LabelledFile, evaluate

    done = evaluate(directory, LabelledFile(data, text_field, label_field, title_field, skip_bad), plot,
                    progress=not as_json)  # fmt: skip
    scores = done.scores
    if as_json:
        extra = {"confusion_matrix_png": str(done.plot)} if done.plot else {}
        click.echo(
            json.dumps({**scores.to_json(), "examples": done.examples, "skipped_bad": done.skipped_bad, **extra})
        )
        return
    click.echo(f"{done.examples} examples: accuracy {scores.accuracy:.4f}, macro-F1 {scores.macro_f1:.4f}")
    click.echo(f"{'label':<32} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}")
    for label, row in scores.per_class.items():
        click.echo(f"{label[:32]:<32} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>7.3f} "
                   f"{row['support']:>8}")  # fmt: skip
    if done.plot:
        click.echo(f"confusion matrix: {done.plot}")
