"""``semsearch search`` and ``semsearch eval``: query an index, score it on judged queries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import click

from semsearch.cli.common import backend_override, index_dir, json_output, mode_option, quiet_libraries, user_errors
from semsearch.types import Hit, SearchResult


@click.command()
@click.argument("query")
@index_dir
@click.option("-k", default=10, show_default=True, help="Number of documents to return.")
@mode_option
@click.option("--where", default=None, help="SQL-style metadata filter, e.g. \"year >= 2015 AND journal = 'X'\".")
@click.option("--label", default=None, help="Only documents the index's classifier gave this label.")
@click.option("--min-prob", type=float, default=None, help="Only documents whose predicted label has this probability.")
@backend_override
@click.option("--disambiguate", is_flag=True, help="Group results by the senses of an ambiguous query.")
@click.option("--sense", default=None, help="Put this sense first (a label or number from --disambiguate).")
@json_output
@user_errors
def search(query: str, index_dir: Path, k: int, mode: str, where: str | None, label: str | None,
           min_prob: float | None, backend: str | None, disambiguate: bool, sense: str | None,
           as_json: bool) -> None:  # fmt: skip
    """Search the index for QUERY."""
    quiet_libraries()
    import semsearch

    result = semsearch.open(index_dir, backend).search(
        query, k=k, mode=mode, where=where, label=label, disambiguate=disambiguate, sense=sense, min_prob=min_prob
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
    elif result.ambiguous:
        print_senses(result)
    else:
        if result.ambiguous is False:
            click.echo("one sense: ranking unchanged")
        print_hits(result.hits, range(1, len(result.hits) + 1))


def print_hits(hits: Sequence[Hit], ranks: Iterable[int], indent: str = "") -> None:
    if not hits:
        click.echo(f"{indent}no results")
    for rank, hit in zip(ranks, hits, strict=False):
        text = " ".join(hit.text.split())
        click.echo(f"{indent}{rank:>3}. {hit.score:.4f}  {hit.id}  {text[:150]}{'...' if len(text) > 150 else ''}")


def print_senses(result: SearchResult) -> None:
    """Each sense under its label (with the number --sense takes), then the hits of no sense; the
    numbers before hits are their places in the diversified list."""
    rank = {hit.id: number for number, hit in enumerate(result.hits, start=1)}
    click.echo(f"ambiguous: {len(result.senses)} senses")
    placed: set[str] = set()
    for number, sense in enumerate(result.senses):
        click.echo(f"[{number}] {sense.label}")
        print_hits(sense.hits, [rank[h.id] for h in sense.hits], indent="  ")
        placed.update(h.id for h in sense.hits)
    rest = [h for h in result.hits if h.id not in placed]
    if rest:
        click.echo("other results")
        print_hits(rest, [rank[h.id] for h in rest], indent="  ")


@click.command("eval")
@index_dir
@click.option("--queries", required=True, type=click.Path(exists=True, path_type=Path), help="BEIR queries.jsonl.")
@click.option("--qrels", required=True, type=click.Path(exists=True, path_type=Path), help="BEIR qrels TSV.")
@mode_option
@backend_override
@json_output
@user_errors
def eval_command(index_dir: Path, queries: Path, qrels: Path, mode: str, backend: str | None, as_json: bool) -> None:
    """Score the index on BEIR queries and qrels: nDCG@10, Recall@100, MRR@10 and latency."""
    quiet_libraries()
    import semsearch

    report = semsearch.evaluate(semsearch.open(index_dir, backend), queries, qrels, mode=mode, progress=not as_json)
    if as_json:
        click.echo(json.dumps({"mode": mode, **report.to_json()}))
        return
    click.echo(f"{report.queries} queries, mode {mode}")
    click.echo(f"nDCG@10    {report.ndcg_at_10:.4f}")
    click.echo(f"Recall@100 {report.recall_at_100:.4f}")
    click.echo(f"MRR@10     {report.mrr_at_10:.4f}")
    click.echo(f"latency    p50 {report.latency_ms_p50:.1f} ms, p95 {report.latency_ms_p95:.1f} ms per query")
