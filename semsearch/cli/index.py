"""``semsearch index``: build or update an index from a corpus source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from semsearch.cli.common import (
    corpus_fields,
    field_map,
    interrupted,
    plural,
    quiet_libraries,
    skip_bad_option,
    user_errors,
    wait_option,
)
from semsearch.cli.common import index_dir as index_dir_option
from semsearch.ingest.options import NEW_INDEX
from semsearch.location import describe, is_remote
from semsearch.types import Backend, Execution, Pooling, Precision


@click.command()
@click.argument("source", required=False)
@index_dir_option
@click.option("--backend", type=click.Choice([b.value for b in Backend]), default=None,
              help=f"Vector search [default: the index's own; {NEW_INDEX.backend} for a new index].")  # fmt: skip
@click.option("--model", default=None, help=f"Model directory, any BERT-family model [default: the index's own; "
              f"{NEW_INDEX.model} (all-MiniLM-L6-v2) for a new index].")  # fmt: skip
@click.option("--pooling", type=click.Choice([p.value for p in Pooling]), default=None,
              help=f"[default: the index's own; {NEW_INDEX.pooling} for a new index]")  # fmt: skip
@click.option("--precision", type=click.Choice([p.value for p in Precision]), default=None,
              help="Encoder arithmetic [default: the index's own; for a new index fp16 on a CUDA GPU, else the "
                   "fastest this CPU measured once among those that keep the vectors close to fp32 "
                   "('semsearch info' shows the plan)].")  # fmt: skip
@click.option("--faiss-factory", default=None,
              help=f"FAISS index factory string, e.g. Flat or HNSW32,Flat [default: the index's own; "
                   f"{NEW_INDEX.faiss_factory} for a new index: exact while fast enough, HNSW above].")  # fmt: skip
@click.option("--window", type=click.IntRange(min=8), default=None,
              help="Tokens per document window [default: the index's own; for a new index 128, capped by the "
                   "model].")  # fmt: skip
@click.option("--overlap", type=click.IntRange(min=0), default=None,
              help="Tokens shared by consecutive windows of a long document [default: the index's own; for a new "
                   "index 32, at most a quarter of the window].")  # fmt: skip
@corpus_fields
@click.option("--type", "types", multiple=True, metavar="FIELD=KIND",
              help="Declare a field's type where the CSV/TSV inference is wrong: number, string or bool "
                   "(repeatable), e.g. --type zip=string.")  # fmt: skip
@click.option(
    "--glob", default=None, help="Which files of a folder to index, e.g. '**/*.md' [default: every .txt/.md]."
)
@skip_bad_option
@click.option("--delete-missing", is_flag=True, help="Remove documents no longer in SOURCE.")
@wait_option
@click.option("--classifier", type=click.Path(path_type=Path), default=None,
              help="Label every document with this classifier (kept in the index for later runs; see "
                   "'classifier train').")  # fmt: skip
@click.option("--engine", "execution", type=click.Choice([e.value for e in Execution]), default=Execution.LOCAL.value,
              show_default=True, help="Where to encode: this process, or a Ray cluster (needs the distributed "
              "extra: make install-distributed).")  # fmt: skip
@click.option(
    "--ray-address",
    default=None,
    help="The Ray cluster for --engine ray, e.g. auto or ray://host:10001 [default: start a local one].",
)
@click.option("--fusion", default=None, metavar="rrf|convex[:ALPHA[:NORM]][+feedback]",
              help="How hybrid search fuses dense and BM25 here, e.g. convex:0.5+feedback (without +feedback, "
                   "feedback is off) [default: the index's own; convex:0.5:minmax+feedback for a new index; "
                   "'semsearch tune' can choose it].")  # fmt: skip
@interrupted("every committed batch is kept; run the same command again to finish")
@user_errors
def index(source: str | None, index_dir: Path, id_field: str | None, text_field: str | None,
          title_field: str | None, types: tuple[str, ...], execution: str, ray_address: str | None,
          **options: Any) -> None:  # fmt: skip
    """Index SOURCE (jsonl, csv, tsv, parquet, a .txt/.md file or folder, a BEIR folder, or - for JSONL on
    stdin) into --index. Again on the same --index: adds new and changed documents, skips the rest; SOURCE
    and the field options can then be left out (the index remembers them)."""
    quiet_libraries()
    from semsearch.ingest import IndexOptions, build_index

    corpus = recorded_source(index_dir) if source is None else (source if is_remote(source) else Path(source))
    named = id_field or text_field or title_field or types
    fields = field_map(id_field, text_field, title_field, types) if named else None
    from semsearch.types import Fusion

    given = options.pop("fusion")
    fusion = Fusion.parse(given) if given is not None else None
    settings = IndexOptions(fields=fields, fusion=fusion, **options)
    if Execution(execution) is Execution.RAY:
        from semsearch.ingest.distributed import build_index_distributed

        summary = build_index_distributed(corpus, index_dir, settings, address=ray_address)
    else:
        if ray_address:
            raise click.UsageError("--ray-address is for --engine ray")
        summary = build_index(corpus, index_dir, settings)
    click.echo(
        f"{summary.docs} documents in {describe(index_dir)}: {summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.deleted} deleted, {plural(summary.skipped_bad, 'bad record')} skipped"
    )
    click.echo(
        f"{summary.chunks} chunks | {summary.seconds:.1f} s ({summary.setup_seconds:.1f} s loading the model) | "
        f"{summary.docs_per_second:.1f} docs/s encoded | {summary.bytes_on_disk / 1e6:.1f} MB on disk"
    )
    if summary.empty:
        click.echo(f"{plural(summary.empty, 'empty file')} skipped", err=True)
    if summary.relabelled:
        click.echo(f"{summary.relabelled} unchanged documents labelled by the index's classifier")
    if summary.vector_index:
        click.echo(f"vector index: {summary.vector_index}")
    for example in summary.skipped_examples:
        click.echo(f"  skipped: {example}", err=True)


def recorded_source(index_dir: Path) -> str | Path:
    """The source the index at ``index_dir`` was last built from, for ``semsearch index --index DIR``."""
    from semsearch.manifest import Manifest

    recorded = Manifest.load(index_dir).source if index_dir.is_dir() else None
    if recorded is None:
        raise click.UsageError(
            "give a SOURCE: this index records none (it is new, or its documents came from Python or stdin)"
        )
    return recorded if is_remote(recorded) else Path(recorded)
