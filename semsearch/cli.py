"""The ``semsearch`` command: parse options, call the library, print. No logic lives here.

User errors (:class:`~semsearch.errors.SemsearchError`) end the command with a one-line message on
stderr and exit status 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from semsearch.errors import SemsearchError
from semsearch.types import Backend, Hit, Mode, Pooling, SearchResult

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(command: F) -> F:
    """Turn library errors into one line on stderr and a non-zero exit."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SemsearchError as error:
            click.echo("error: " + " ".join(str(error).splitlines()), err=True)  # always one line
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted: committed batches are kept; run the same command again to resume", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def _quiet_libraries() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, step by step.")
@click.version_option(package_name="semsearch")
def main(verbose: bool) -> None:
    """Semantic search: index a corpus, query it, evaluate it."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory.")
@click.option(
    "--backend", type=click.Choice([b.value for b in Backend]), default=Backend.FAISS.value, show_default=True
)
@click.option("--model", default="default", show_default=True, help="Model directory (any BERT-family model).")
@click.option("--pooling", type=click.Choice([p.value for p in Pooling]), default=Pooling.MEAN.value, show_default=True)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16", "int8"]),
    default=None,
    help="Encoder arithmetic [default: the index's own; for a new index int8 where the CPU has VNNI, else fp32].",
)
@click.option(
    "--faiss-factory",
    default="auto",
    show_default=True,
    help="FAISS index factory string, e.g. Flat or HNSW32,Flat; auto: exact up to 50,000 vectors, HNSW above.",
)
@click.option(
    "--window",
    type=click.IntRange(min=8),
    default=None,
    help="Tokens per document window [default: the index's own; for a new index 128, capped by the model].",
)
@click.option(
    "--overlap",
    type=click.IntRange(min=0),
    default=None,
    help="Tokens shared by consecutive windows of a long document [default: the index's own; for a new index 32, "
    "at most a quarter of the window].",
)
@click.option("--id-field", default=None, help="Field holding the document id [default: _id or id].")
@click.option("--text-field", default=None, help="Field holding the text [default: text].")
@click.option("--title-field", default=None, help="Field prepended to the text [default: title].")
@click.option("--skip-bad", is_flag=True, help="Skip unusable records (counted) instead of stopping at the first.")
@click.option("--delete-missing", is_flag=True, help="Remove documents no longer in SOURCE.")
@click.option("--wait", default=0.0, show_default=True, help="Seconds to wait for another process writing --index.")
@click.option(
    "--classifier",
    type=click.Path(path_type=Path),
    default=None,
    help="Label every document with this classifier (kept in the index for later runs; see 'classifier train').",
)
@user_errors
def index(source: Path, index_dir: Path, **options: Any) -> None:
    """Index SOURCE (jsonl, csv, parquet, a folder of .txt/.md, or a BEIR folder) into --index."""
    _quiet_libraries()
    from semsearch.corpus import FieldMap
    from semsearch.encoder import Precision
    from semsearch.indexing import IndexOptions, build_index

    fields = FieldMap.from_options(options.pop("id_field"), options.pop("text_field"), options.pop("title_field"))
    precision = options.pop("precision")
    summary = build_index(
        source,
        index_dir,
        IndexOptions(
            model=options["model"],
            pooling=Pooling(options["pooling"]),
            precision=Precision(precision) if precision else None,
            window=options["window"],
            overlap=options["overlap"],
            backend=Backend(options["backend"]),
            faiss_factory=options["faiss_factory"],
            fields=fields,
            skip_bad=options["skip_bad"],
            delete_missing=options["delete_missing"],
            lock_timeout=options["wait"],
            classifier=options["classifier"],
        ),
    )
    click.echo(
        f"{summary.docs} documents in {index_dir}: {summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.deleted} deleted, {summary.skipped_bad} bad records skipped"
    )
    click.echo(
        f"{summary.chunks} chunks | {summary.seconds:.1f} s | {summary.docs_per_second:.1f} docs/s encoded | "
        f"{summary.bytes_on_disk / 1e6:.1f} MB on disk"
    )
    if summary.relabelled:
        click.echo(f"{summary.relabelled} unchanged documents labelled by the index's classifier")
    if summary.vector_index:
        click.echo(f"vector index: {summary.vector_index}")
    for example in summary.skipped_examples:
        click.echo(f"  skipped: {example}", err=True)


@main.command()
@click.argument("query")
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path))
@click.option("-k", default=10, show_default=True, help="Number of documents to return.")
@click.option("--mode", type=click.Choice([m.value for m in Mode]), default=Mode.HYBRID.value, show_default=True)
@click.option("--where", default=None, help="SQL-style metadata filter, e.g. \"year >= 2015 AND journal = 'X'\".")
@click.option("--label", default=None, help="Only documents the index's classifier gave this label.")
@click.option("--min-prob", type=float, default=None, help="Only documents whose predicted label has this probability.")
@click.option("--backend", type=click.Choice([b.value for b in Backend]), default=None, help="[default: the index's]")
@click.option("--disambiguate", is_flag=True, help="Group results by the senses of an ambiguous query.")
@click.option("--sense", default=None, help="Put this sense first (a label or number from --disambiguate).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@user_errors
def search(query: str, index_dir: Path, k: int, mode: str, where: str | None, label: str | None,
           min_prob: float | None, backend: str | None, disambiguate: bool, sense: str | None,
           as_json: bool) -> None:  # fmt: skip
    """Search the index for QUERY."""
    _quiet_libraries()
    from semsearch.engine import Index

    result = Index.open(index_dir, backend).search(
        query, k=k, mode=mode, where=where, label=label, disambiguate=disambiguate, sense=sense, min_prob=min_prob
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
    elif result.ambiguous:
        _print_senses(result)
    else:
        if result.ambiguous is False:
            click.echo("one sense: ranking unchanged")
        _print_hits(result.hits, range(1, len(result.hits) + 1))


def _print_hits(hits: Sequence[Hit], ranks: Iterable[int], indent: str = "") -> None:
    if not hits:
        click.echo(f"{indent}no results")
    for rank, hit in zip(ranks, hits, strict=False):
        text = " ".join(hit.text.split())
        click.echo(f"{indent}{rank:>3}. {hit.score:.4f}  {hit.id}  {text[:150]}{'...' if len(text) > 150 else ''}")


def _print_senses(result: SearchResult) -> None:
    """Each sense under its label (with the number --sense takes), then the hits of no sense; the
    numbers before hits are their places in the diversified list."""
    rank = {hit.id: number for number, hit in enumerate(result.hits, start=1)}
    click.echo(f"ambiguous: {len(result.senses)} senses")
    placed: set[str] = set()
    for number, sense in enumerate(result.senses):
        click.echo(f"[{number}] {sense.label}")
        _print_hits(sense.hits, [rank[h.id] for h in sense.hits], indent="  ")
        placed.update(h.id for h in sense.hits)
    rest = [h for h in result.hits if h.id not in placed]
    if rest:
        click.echo("other results")
        _print_hits(rest, [rank[h.id] for h in rest], indent="  ")


@main.command("eval")
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path))
@click.option("--queries", required=True, type=click.Path(exists=True, path_type=Path), help="BEIR queries.jsonl.")
@click.option("--qrels", required=True, type=click.Path(exists=True, path_type=Path), help="BEIR qrels TSV.")
@click.option("--mode", type=click.Choice([m.value for m in Mode]), default=Mode.HYBRID.value, show_default=True)
@click.option("--backend", type=click.Choice([b.value for b in Backend]), default=None, help="[default: the index's]")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@user_errors
def eval_command(index_dir: Path, queries: Path, qrels: Path, mode: str, backend: str | None, as_json: bool) -> None:
    """Score the index on BEIR queries and qrels: nDCG@10, Recall@100, MRR@10 and latency."""
    _quiet_libraries()
    from semsearch.engine import Index
    from semsearch.evaluate import DEPTH, evaluate, load_qrels, load_queries

    opened = Index.open(index_dir, backend)
    report = evaluate(
        lambda q: opened.rank(q, DEPTH, mode), load_queries(queries), load_qrels(qrels), progress=not as_json
    )
    if as_json:
        click.echo(json.dumps({"mode": mode, **report.to_json()}))
        return
    click.echo(f"{report.queries} queries, mode {mode}")
    click.echo(f"nDCG@10    {report.ndcg_at_10:.4f}")
    click.echo(f"Recall@100 {report.recall_at_100:.4f}")
    click.echo(f"MRR@10     {report.mrr_at_10:.4f}")
    click.echo(f"latency    p50 {report.latency_ms_p50:.1f} ms, p95 {report.latency_ms_p95:.1f} ms per query")


@main.command()
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path))
@click.option("--wait", default=0.0, show_default=True, help="Seconds to wait for another process writing --index.")
@user_errors
def repair(index_dir: Path, wait: float) -> None:
    """Bring a damaged index back to its newest intact state (damaged files are set aside, not deleted)."""
    from semsearch.repair import repair_index

    summary = repair_index(index_dir, wait)
    report = summary.store
    if summary.manifest_restored:
        click.echo("manifest.json restored from manifest.backup.json")
    for path in report.set_aside:
        click.echo(f"set aside damaged {path}")
    if report.damaged_versions:
        click.echo(f"store versions that could not be read in full: {', '.join(map(str, report.damaged_versions))}")
    if report.intact_version != report.version:
        click.echo(f"store restored to version {report.intact_version} (now version {report.version})")
    if not summary.manifest_restored and not report.changed:
        click.echo("no damage found in the manifest or the store")
    click.echo(f"{summary.docs} documents in {index_dir}; derived files (FAISS, BM25) checked and rebuilt if needed")
    if report.changed:
        click.echo("run the same 'semsearch index' command again to re-add documents committed after that version")


@main.group()
def classifier() -> None:
    """Train a classifier head on labelled texts, evaluate it, and label indexes with it."""


@classifier.command("train")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Directory to save the classifier in.")
@click.option("--text-field", default="text", show_default=True)
@click.option("--label-field", default="label", show_default=True)
@click.option("--title-field", default="title", show_default=True, help="Prepended to the text when present.")
@click.option("--model", default="default", show_default=True, help="Encoder (must be the index's encoder).")
@click.option("--pooling", type=click.Choice([p.value for p in Pooling]), default=Pooling.MEAN.value, show_default=True)
@click.option("--finetune", is_flag=True, help="Also train the encoder's top layers (slower, usually better).")
@click.option("--layers", default=2, show_default=True, help="With --finetune: how many top layers to train.")
@click.option("--epochs", default=2, show_default=True, help="With --finetune: passes over the training data.")
@click.option("--window", type=click.Choice(["first", "mean"]), default="first", show_default=True,
              help="Frozen head: a long text's first window, or the mean of all its windows.")  # fmt: skip
@click.option("--features", type=click.Choice(["dense", "hybrid"]), default=None,
              help="Frozen head: the pooled vector (dense), or the pooled vector and hashed TF-IDF of the whole "
                   "text's words (hybrid, the default: the more accurate on 20 Newsgroups; see README).")  # fmt: skip
@click.option("--validation", default=0.1, show_default=True, help="Stratified fraction held out and reported.")
@click.option("--skip-bad", is_flag=True, help="Skip unusable records (counted) instead of stopping at the first.")
@click.option("--json", "as_json", is_flag=True, help="Print the training report as one JSON object.")
@user_errors
def classifier_train(data: Path, out: Path, text_field: str, label_field: str, title_field: str, model: str,
                     pooling: str, finetune: bool, layers: int, epochs: int, window: str, features: str | None,
                     validation: float, skip_bad: bool, as_json: bool) -> None:  # fmt: skip
    """Train a classifier on DATA (any corpus format with a text and a label field) and save it to --out."""
    _quiet_libraries()
    from semsearch.classify import Classifier, Features, TrainOptions, Window, load_labelled, split_validation

    if finetune and features == Features.HYBRID:
        raise click.UsageError("--features hybrid is for the frozen head; a fine-tuned head reads its pooled vector")
    chosen = Features(features) if features else TrainOptions.features
    examples = load_labelled(data, text_field, label_field, title_field, skip_bad=skip_bad)
    train, val = split_validation(examples.labels, validation)
    options = TrainOptions(window=Window(window), finetune_layers=layers if finetune else 0, epochs=epochs,
                           features=chosen, progress=not as_json)  # fmt: skip
    held_out = ([examples.texts[i] for i in val], [examples.labels[i] for i in val]) if len(val) else None
    trained = Classifier(model, Pooling(pooling), options).fit(
        [examples.texts[i] for i in train], [examples.labels[i] for i in train], validation=held_out
    )
    trained.save(out)
    assert trained.config is not None
    report = {"out": str(out), "labels": list(trained.config.labels), "skipped_bad": examples.skipped,
              "mode": f"finetune top {layers} layers" if finetune else f"frozen, {window} window, {chosen} features",
              **trained.config.training}  # fmt: skip
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"trained on {len(train)} examples, {len(trained.config.labels)} labels ({report['mode']}) "
               f"in {report['seconds']} s; saved to {out}")  # fmt: skip
    if "validation" in report:
        held = report["validation"]
        click.echo(f"validation ({held['examples']} held out): accuracy {held['accuracy']:.4f}, "
                   f"macro-F1 {held['macro_f1']:.4f}")  # fmt: skip
    for example in examples.skipped_examples:
        click.echo(f"  skipped: {example}", err=True)


@classifier.command("eval")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--text-field", default="text", show_default=True)
@click.option("--label-field", default="label", show_default=True)
@click.option("--title-field", default="title", show_default=True)
@click.option("--plot", type=click.Path(path_type=Path), default=Path("confusion_matrix.png"), show_default=True,
              help="Where to write the confusion-matrix PNG.")  # fmt: skip
@click.option("--skip-bad", is_flag=True, help="Skip unusable records (counted) instead of stopping at the first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@user_errors
def classifier_eval(directory: Path, data: Path, text_field: str, label_field: str, title_field: str, plot: Path,
                    skip_bad: bool, as_json: bool) -> None:  # fmt: skip
    """Score the classifier in DIRECTORY on DATA: accuracy, macro-F1, per-class precision/recall, confusion matrix."""
    _quiet_libraries()
    from semsearch.classify import Classifier, classification_scores, load_labelled, plot_confusion

    loaded = Classifier.load(directory)
    loaded.options = replace(loaded.options, progress=not as_json)
    examples = load_labelled(data, text_field, label_field, title_field, skip_bad=skip_bad)
    scores = classification_scores(examples.labels, loaded.predict(examples.texts), loaded.classes_.tolist())
    plot_confusion(scores, plot, title=f"{directory} on {data}")
    if as_json:
        click.echo(json.dumps({**scores.to_json(), "examples": len(examples.labels), "skipped_bad": examples.skipped,
                               "confusion_matrix_png": str(plot)}))  # fmt: skip
        return
    click.echo(f"{len(examples.labels)} examples: accuracy {scores.accuracy:.4f}, macro-F1 {scores.macro_f1:.4f}")
    click.echo(f"{'label':<32} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}")
    for label, row in scores.per_class.items():
        click.echo(f"{label[:32]:<32} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>7.3f} "
                   f"{row['support']:>8}")  # fmt: skip
    click.echo(f"confusion matrix: {plot}")


@main.command()
@click.argument("corpus_source", metavar="CORPUS", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Model directory to write.")
@click.option("--base", default="default", show_default=True, help="Model to adapt (a directory, or the default).")
@click.option("--seed", default=0, show_default=True, help="Seed of the split, the sampling and the training.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Ceiling on each stage's steps.")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), default=None, help="Wall-clock budget.")
@click.option("--mlm-steps", type=click.IntRange(min=0), default=None, help="Masked-LM steps (0 skips stage 1).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Contrastive steps (a ceiling).")
@click.option("--blend", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Share of the trained weights in the adapted encoder; the rest is the base's.")  # fmt: skip
@click.option("--lexical-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="BM25's weight in the contrastive logits (the lexical residual; see README).")  # fmt: skip
@click.option("--work-dir", type=click.Path(path_type=Path), default=None, help="[default: OUT.work]")
@click.option("--keep-work", is_flag=True, help="Keep checkpoints and the stage-1 model after success.")
@click.option("--id-field", default=None, help="Field holding the document id [default: _id or id].")
@click.option("--text-field", default=None, help="Field holding the text [default: text].")
@click.option("--title-field", default=None, help="Field holding the title [default: title].")
@click.option("--skip-bad", is_flag=True, help="Skip unusable records (counted) instead of stopping at the first.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@user_errors
def adapt(corpus_source: Path, out: Path, **options: Any) -> None:
    """Adapt the encoder to CORPUS (masked-LM, contrastive + distillation, blend with the base); write --out.

    A slice of CORPUS is held out; the adapted encoder replaces the base only if it finds those
    documents better. Either way --out is a model directory for 'index --model'. Interrupted? Run the
    same command again: it resumes from its last checkpoint.
    """
    # Idle OpenMP threads sleep instead of spinning. Set before torch loads; on a shared 2-core machine
    # spinning cost 40% more CPU per training step for the same work (README, "Domain adaptation").
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _quiet_libraries()
    from semsearch.adapt import AdaptOptions
    from semsearch.adapt import adapt as run_adapt
    from semsearch.corpus import FieldMap

    defaults = AdaptOptions()
    mlm_steps, steps = options.pop("mlm_steps"), options.pop("steps")
    contrastive = replace(defaults.contrastive, lexical_weight=options.pop("lexical_weight"))
    result = run_adapt(
        corpus_source,
        out,
        AdaptOptions(
            base=options["base"],
            seed=options["seed"],
            mlm=defaults.mlm if mlm_steps is None else replace(defaults.mlm, steps=mlm_steps),
            contrastive=contrastive if steps is None else replace(contrastive, steps=steps),
            blend=options["blend"],
            max_steps=options["max_steps"],
            max_minutes=options["max_minutes"],
            fields=FieldMap.from_options(options["id_field"], options["text_field"], options["title_field"]),
            skip_bad=options["skip_bad"],
            work_dir=options["work_dir"],
            keep_work=options["keep_work"],
            progress=not options["as_json"],
        ),
    )
    click.echo(json.dumps(result.report) if options["as_json"] else result.summary)
