"""The ``semsearch`` command: parse options, call the library, print. No logic lives here.

User errors (:class:`~semsearch.errors.SemsearchError`) end the command with a one-line message on
stderr and exit status 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from semsearch.errors import SemsearchError
from semsearch.types import Backend, Mode, Pooling, SearchResult

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(command: F) -> F:
    """Turn library errors into one line on stderr and a non-zero exit."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SemsearchError as error:
            click.echo(f"error: {error}", err=True)
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
    type=click.Choice(["fp32", "bf16"]),
    default=None,
    help="Encoder arithmetic [default: fastest exact-enough].",
)
@click.option(
    "--faiss-factory", default="Flat", show_default=True, help="FAISS index factory string, e.g. HNSW32,Flat."
)
@click.option(
    "--overlap", default=32, show_default=True, help="Tokens shared by consecutive windows of a long document."
)
@click.option("--id-field", default=None, help="Field holding the document id [default: _id or id].")
@click.option("--text-field", default=None, help="Field holding the text [default: text].")
@click.option("--title-field", default=None, help="Field prepended to the text [default: title].")
@click.option("--skip-bad", is_flag=True, help="Skip unusable records (counted) instead of stopping at the first.")
@click.option("--delete-missing", is_flag=True, help="Remove documents no longer in SOURCE.")
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
            overlap=options["overlap"],
            backend=Backend(options["backend"]),
            faiss_factory=options["faiss_factory"],
            fields=fields,
            skip_bad=options["skip_bad"],
            delete_missing=options["delete_missing"],
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
    for example in summary.skipped_examples:
        click.echo(f"  skipped: {example}", err=True)


@main.command()
@click.argument("query")
@click.option("--index", "index_dir", required=True, type=click.Path(path_type=Path))
@click.option("-k", default=10, show_default=True, help="Number of documents to return.")
@click.option("--mode", type=click.Choice([m.value for m in Mode]), default=Mode.HYBRID.value, show_default=True)
@click.option("--where", default=None, help="SQL-style metadata filter, e.g. \"year >= 2015 AND journal = 'X'\".")
@click.option("--label", default=None, help="Only documents the index's classifier gave this label.")
@click.option("--backend", type=click.Choice([b.value for b in Backend]), default=None, help="[default: the index's]")
@click.option("--disambiguate", is_flag=True, help="Group results by the senses of an ambiguous query.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@user_errors
def search(query: str, index_dir: Path, k: int, mode: str, where: str | None, label: str | None,
           backend: str | None, disambiguate: bool, as_json: bool) -> None:  # fmt: skip
    """Search the index for QUERY."""
    _quiet_libraries()
    from semsearch.engine import Index

    result = Index.open(index_dir, backend).search(
        query, k=k, mode=mode, where=where, label=label, disambiguate=disambiguate
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        _print_result(result)


def _print_result(result: SearchResult) -> None:
    if not result.hits:
        click.echo("no results")
    for rank, hit in enumerate(result.hits, start=1):
        text = " ".join(hit.text.split())
        click.echo(f"{rank:>3}. {hit.score:.4f}  {hit.id}  {text[:150]}{'...' if len(text) > 150 else ''}")


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
@click.argument("corpus_source", metavar="CORPUS", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Model directory to write.")
@click.option("--base", default="default", show_default=True, help="Model to adapt (a directory, or the default).")
@click.option("--seed", default=0, show_default=True, help="Seed of the split, the sampling and the training.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Ceiling on each stage's steps.")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), default=None, help="Wall-clock budget.")
@click.option("--mlm-steps", type=click.IntRange(min=0), default=None, help="Masked-LM steps (0 skips stage 1).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Contrastive steps (a ceiling).")
@click.option("--work-dir", type=click.Path(path_type=Path), default=None, help="[default: OUT.work]")
@click.option("--keep-work", is_flag=True, help="Keep checkpoints and the stage-1 model after success.")
@click.option("--id-field", default=None, help="Field holding the document id [default: _id or id].")
@click.option("--text-field", default=None, help="Field holding the text [default: text].")
@click.option("--title-field", default=None, help="Field holding the title [default: title].")
@click.option("--skip-bad", is_flag=True, help="Skip unusable records (counted) instead of stopping at the first.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@user_errors
def adapt(corpus_source: Path, out: Path, **options: Any) -> None:
    """Adapt the encoder to CORPUS (masked-LM, then contrastive + distillation) and write --out.

    A slice of CORPUS is held out; the adapted encoder replaces the base only if it finds those
    documents better. Either way --out is a model directory for 'index --model'. Interrupted? Run the
    same command again: it resumes from its last checkpoint.
    """
    # Idle OpenMP threads sleep instead of spinning. Set before torch loads; on a shared 2-core machine
    # spinning cost 40% more CPU per training step for the same work (README, "Domain adaptation").
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _quiet_libraries()
    from dataclasses import replace

    from semsearch.adapt import AdaptOptions
    from semsearch.adapt import adapt as run_adapt
    from semsearch.corpus import FieldMap

    defaults = AdaptOptions()
    mlm_steps, steps = options.pop("mlm_steps"), options.pop("steps")
    result = run_adapt(
        corpus_source,
        out,
        AdaptOptions(
            base=options["base"],
            seed=options["seed"],
            mlm=defaults.mlm if mlm_steps is None else replace(defaults.mlm, steps=mlm_steps),
            contrastive=defaults.contrastive if steps is None else replace(defaults.contrastive, steps=steps),
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
