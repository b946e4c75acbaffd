"""``semsearch classifier train|eval|suggest|curve|agreement``: a classifier head on the encoder, trained
and scored from files, and bootstrapped from an outside labeller (what to label next, how many labels
it takes, where the classifier and the labeller disagree)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from semsearch.cli.common import index_dir, json_output, quiet_libraries, render, skip_bad_option, user_errors
from semsearch.errors import OptionError
from semsearch.models import DEFAULT_MODEL
from semsearch.types import Pooling

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULT_LAYERS = 2  # with --finetune, when --layers is not given


class PlotPath(click.Path):
    """A picture to write: a .png (or .pdf, .svg) in a folder that exists, checked before any work is done
    rather than failing in matplotlib after it."""

    SUFFIXES = (".png", ".pdf", ".svg")

    def __init__(self) -> None:
        super().__init__(dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = Path(str(super().convert(value, param, ctx)))
        if path.suffix.lower() not in self.SUFFIXES:
            self.fail(f"{str(path)!r}: write a {', '.join(self.SUFFIXES)} file", param, ctx)
        if not path.parent.resolve().is_dir():
            self.fail(f"{str(path)!r}: its folder {str(path.parent)!r} does not exist", param, ctx)
        return path


PLOT = PlotPath()


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


def seed_option(command: F) -> F:
    return click.option("--seed", default=0, show_default=True,
                        help="Seed of the held-out split (and of fine-tuning): the same seed, the same classifier.")(
        command
    )  # fmt: skip


def cache_options(command: F) -> F:
    command = click.option("--no-cache", is_flag=True, help="Encode every text, keeping nothing.")(command)
    return click.option(
        "--cache", type=click.Path(path_type=Path), default=None,
        help="Folder keeping the vectors of texts encoded before, so training again on a grown file encodes only "
             "the new texts [default: $SEMSEARCH_CACHE/features, or ~/.cache/semsearch/features].",
    )(command)  # fmt: skip


def cache_folder(cache: Path | None, no_cache: bool) -> Path | None:
    if no_cache:
        return None
    if cache is not None:
        return cache
    from semsearch.classify.featurecache import default_cache_dir

    return default_cache_dir()


@classifier.command("train")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to save the classifier in.")  # fmt: skip
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
@seed_option
@cache_options
@skip_bad_option
@json_output
@user_errors
def classifier_train(data: Path, out: Path, text_field: str, label_field: str, title_field: str, model: str,
                     pooling: str, finetune: bool, layers: int, epochs: int | None, window_pooling: str,
                     features: str | None, validation: float, seed: int, cache: Path | None, no_cache: bool,
                     skip_bad: bool, as_json: bool) -> None:  # fmt: skip
    """Train a classifier on DATA (any corpus format with a text and a label field) and save it to --out."""
    quiet_libraries()
    from semsearch.classify import Features, LabelledFile, TrainOptions, WindowPooling, train

    try:
        options = TrainOptions(
            window=WindowPooling(window_pooling), finetune_layers=layers if finetune else 0,
            features=Features(features) if features else None,
            epochs=TrainOptions.epochs if epochs is None else epochs, progress=not as_json, seed=seed,
        )  # fmt: skip
    except OptionError as error:  # a combination of flags that cannot be used together
        raise click.UsageError(render(error)) from error
    done = train(LabelledFile(data, text_field, label_field, title_field, skip_bad), out, model, Pooling(pooling),
                 options, validation, cache_folder(cache, no_cache))  # fmt: skip
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
@click.option("--plot", type=PLOT, default=None, help="Write the confusion matrix as this PNG.")
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


@classifier.command("suggest")
@index_dir
@click.option(
    "--classifier",
    "classifier_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="The classifier trained so far; without it, a cold-start sample (k-means over the vectors).",
)
@click.option("-n", "n", default=200, show_default=True, help="How many documents to suggest.")
@click.option(
    "--labelled",
    type=click.Path(path_type=Path),
    default=None,
    help="A labelled file whose ids are not suggested again (any corpus format).",
)
@click.option("--id-field", default=None, help="The id field of --labelled [default: _id or id, as in a corpus].")
@json_output
@user_errors
def classifier_suggest(index_dir: Path, classifier_dir: Path | None, n: int, labelled: Path | None,
                       id_field: str | None, as_json: bool) -> None:  # fmt: skip
    """The documents of an index whose labels would teach the classifier most, as JSONL to send to the labeller.

    Margin sampling over the classifier's probabilities with a diversity term (no near-copies in a
    batch); with no classifier, a diverse cold-start sample. Reads the index's stored vectors: nothing
    is encoded.
    """
    quiet_libraries()
    from semsearch.classify.workflow import labelled_ids, suggest_from_index

    done_ids = labelled_ids(labelled, id_field) if labelled is not None else set()
    result = suggest_from_index(index_dir, n, classifier_dir, done_ids)
    chosen = result.suggestion
    rows = []
    for rank, position in enumerate(chosen.positions):
        row: dict[str, Any] = {"id": result.pool.ids[position], "text": result.pool.texts[position]}
        if chosen.uncertainty is not None and chosen.predicted is not None:
            row |= {"predicted": result.labels[int(chosen.predicted[rank])],
                    "uncertainty": round(float(chosen.uncertainty[rank]), 4)}  # fmt: skip
        rows.append(row)
    if as_json:
        click.echo(json.dumps({"strategy": chosen.strategy, "index": str(index_dir), "excluded": result.excluded,
                               "documents": rows}))  # fmt: skip
        return
    for row in rows:
        click.echo(json.dumps(row))
    click.echo(f"{len(rows)} documents ({chosen.strategy}) of {len(result.pool.ids)} in {index_dir}"
               + (f", {result.excluded} labelled already left out" if result.excluded else ""), err=True)  # fmt: skip


@classifier.command("curve")
@click.argument("data", type=click.Path(path_type=Path))
@labelled_fields
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Encoder.")
@click.option(
    "--features", type=click.Choice(["dense", "hybrid"]), default=None, help="The head's features [default: hybrid]."
)
@click.option("--folds", default=3, show_default=True, help="Cross-validation folds at each size.")
@click.option("--sizes", default=None, help="Comma-separated numbers of labels [default: 100, 200, 400, ... all].")
@click.option("--target", default=0.95, show_default=True, help="Agreement with the labeller to estimate labels for.")
@click.option("--plot", type=PLOT, default=None, help="Write the curve as this PNG.")
@seed_option
@cache_options
@skip_bad_option
@json_output
@user_errors
def classifier_curve(data: Path, text_field: str, label_field: str, title_field: str, model: str,
                     features: str | None, folds: int, sizes: str | None, target: float, plot: Path | None,
                     seed: int, cache: Path | None, no_cache: bool, skip_bad: bool, as_json: bool) -> None:  # fmt: skip
    """Accuracy and macro-F1 against the number of labels in DATA (cross-validated, with 95% intervals), and
    the estimated number of labels to reach --target agreement with the labeller."""
    quiet_libraries()
    from semsearch.classify import Features, LabelledFile, TrainOptions
    from semsearch.classify.curve import plot_curve
    from semsearch.classify.workflow import curve

    try:
        chosen = [int(part) for part in sizes.split(",")] if sizes else None
    except ValueError as error:
        raise click.UsageError(f"--sizes {sizes}: expected comma-separated whole numbers") from error
    options = TrainOptions(features=Features(features) if features else None, progress=False, seed=seed)
    say = None if as_json else (lambda line: click.echo(line, err=True))
    result = curve(LabelledFile(data, text_field, label_field, title_field, skip_bad), model, options=options,
                   sizes=chosen, folds=folds, target=target, cache=cache_folder(cache, no_cache),
                   progress=say)  # fmt: skip
    written = plot_curve(result, plot, str(data)) if plot is not None else None
    if as_json:
        click.echo(json.dumps({**result.to_json(), **({"plot": str(written)} if written else {})}))
        return
    click.echo(f"{result.labelled} labels, {folds}-fold cross-validation; 95% intervals over folds")
    click.echo(f"{'labels':>7} {'accuracy':>8} {'interval':>15} {'macro-F1':>8} {'interval':>15}")
    for p in result.points:
        click.echo(f"{p.size:>7} {p.accuracy:>8.4f} {p.accuracy_interval[0]:>7.4f}-{p.accuracy_interval[1]:<7.4f} "
                   f"{p.macro_f1:>8.4f} {p.macro_f1_interval[0]:>7.4f}-{p.macro_f1_interval[1]:<7.4f}")  # fmt: skip
    if result.fit is None:
        click.echo("too few sizes to fit a curve")
    else:
        law = result.fit
        click.echo(f"fit: accuracy = {law.plateau:.4f} - {law.scale:.3g} * labels^-{law.rate:.3g}")
        if result.labels_for_target is None:
            click.echo(f"target {target}: not reached; the curve levels off at {law.plateau:.4f}")
        else:
            click.echo(f"target {target}: about {result.labels_for_target} labels (extrapolated)")
    if written:
        click.echo(f"curve: {written}")


@classifier.command("agreement")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@labelled_fields
@click.option("--pairs", default=10, show_default=True, help="Most frequent disagreements shown.")
@click.option("--examples", default=3, show_default=True, help="Examples per disagreement, most confident first.")
@skip_bad_option
@json_output
@user_errors
def classifier_agreement(directory: Path, data: Path, text_field: str, label_field: str, title_field: str,
                         pairs: int, examples: int, skip_bad: bool, as_json: bool) -> None:  # fmt: skip
    """How the classifier in DIRECTORY agrees with the labeller's held-out labels in DATA: per class, and
    where they disagree, with examples (the classifier's most confident disagreements first: check those)."""
    quiet_libraries()
    from semsearch.classify import LabelledFile
    from semsearch.classify.workflow import agreement

    done = agreement(directory, LabelledFile(data, text_field, label_field, title_field, skip_bad), pairs, examples,
                     progress=not as_json)  # fmt: skip
    report = done.report
    if as_json:
        click.echo(json.dumps({**report.to_json(), "skipped_bad": done.skipped_bad}))
        return
    click.echo(f"{report.examples} held-out labels: agreement {report.agreement:.4f}, Cohen's kappa "
               f"{report.kappa:.4f}, macro-F1 {report.macro_f1:.4f}")  # fmt: skip
    click.echo(f"{'label':<28} {'support':>7} {'agree':>6} {'prec.':>6}  classifier said instead")
    for row in report.per_class:
        instead = ", ".join(f"{label} ({n})" for label, n in row.confused_with)
        click.echo(f"{row.label[:28]:<28} {row.support:>7} {row.agreement:>6.3f} {row.precision:>6.3f}  {instead}")
    for pair in report.disagreements:
        click.echo(f"labeller {pair.labeller} / classifier {pair.classifier}: {pair.count}")
        for example in pair.examples:
            text = " ".join(example.text.split())[:120]
            click.echo(f"  #{example.position} (p={example.probability:.2f}) {text}")
