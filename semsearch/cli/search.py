"""``semsearch search`` and ``semsearch eval``: query an index, score it on judged queries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

import click

from semsearch.cli.common import (
    backend_override,
    feedback_option,
    fusion_option,
    index_dir,
    json_output,
    mode_option,
    plural,
    quiet_libraries,
    shown,
    user_errors,
)
from semsearch.types import Hit, SearchResult


@click.command()
@click.argument("query", required=False)
@index_dir
@click.option("-k", type=click.IntRange(min=1), default=10, show_default=True, help="Number of documents to return.")
@mode_option
@fusion_option
@feedback_option
@click.option("--where", default=None, help="SQL-style metadata filter, e.g. \"year >= 2015 AND journal = 'X'\".")
@click.option("--label", default=None, help="Only documents the index's classifier gave this label.")
@click.option("--min-prob", type=click.FloatRange(0, 1), default=None,
              help="Only documents whose predicted label has at least this probability.")  # fmt: skip
@backend_override
@click.option("--disambiguate", is_flag=True, help="Group results by the senses of an ambiguous query.")
@click.option("--sense", default=None, help="Put this sense first (a label or number from --disambiguate).")
@click.option("--queries", "queries_file", type=click.File("r", encoding="utf-8"), default=None,
              help="Search every query of this file (- for stdin): one per line, as plain text or JSON with "
                   "\"text\" (and \"_id\"); prints one JSON object per line. The model loads once.")  # fmt: skip
@click.option("--show", default=None, help="Metadata fields to print beside each hit, e.g. year,journal.")
@click.option("--explain", "explain", is_flag=True,
              help="Explain each hit: the window that scored, each channel's part, the BM25 terms and the dense "
                   "words (JSON: an \"explanation\" per hit).")  # fmt: skip
@json_output
@user_errors
def search(query: str | None, index_dir: Path, k: int, mode: str, fusion: str | None, feedback: bool | None,
           where: str | None, label: str | None, min_prob: float | None, backend: str | None, disambiguate: bool,
           sense: str | None, queries_file: TextIO | None, show: str | None, explain: bool,
           as_json: bool) -> None:  # fmt: skip
    """Search the index for QUERY (or for every query of --queries)."""
    if (query is None) == (queries_file is None):
        raise click.UsageError("give a QUERY or --queries FILE (one of the two)")
    quiet_libraries()
    import semsearch

    opened = semsearch.open(index_dir, backend)

    def run(text: str) -> SearchResult:
        return opened.search(
            text, k=k, mode=mode, where=where, label=label, disambiguate=disambiguate, sense=sense,
            min_prob=min_prob, explain=explain, fusion=fusion, feedback=feedback,
        )  # fmt: skip

    if queries_file is not None:
        for query_id, text in read_queries(queries_file):
            found = run(text).to_json()
            click.echo(json.dumps({"query_id": query_id, **found} if query_id is not None else found,
                                  ensure_ascii=False))  # fmt: skip
        return
    assert query is not None
    result = run(query)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    fields = shown_fields(show, opened.fields(), result.hits)
    if result.ambiguous:
        print_senses(result, fields, sense)
    else:
        if result.ambiguous is False:
            click.echo("one sense: ranking unchanged")
        print_hits(result.hits, range(1, len(result.hits) + 1), fields)


def read_queries(lines: Iterable[str]) -> Iterator[tuple[str | None, str]]:
    """(query id or None, text) for each non-empty line: plain text, or a JSON object with "text"."""
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("{"):
            try:
                row = json.loads(stripped)
            except ValueError as exc:
                raise click.UsageError(f"--queries line {number}: invalid JSON ({exc})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise click.UsageError(f'--queries line {number}: expected a JSON object with a "text" string')
            yield (str(row["_id"]) if "_id" in row else None), row["text"]
        else:
            yield None, stripped


def shown_fields(show: str | None, filterable: Iterable[str], hits: Sequence[Hit]) -> list[str]:
    """The fields ``--show`` names, each one the index knows (a filterable field, a field of a hit's
    metadata, or ``id``): a misspelt name is an error rather than a column of nulls."""
    names = [name.strip() for name in show.split(",") if name.strip()] if show else []
    known = {"id", *filterable, *(name for hit in hits for name in hit.metadata)}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise click.BadParameter(
            f"unknown field {unknown[0]!r} (known fields: {', '.join(sorted(known))})", param_hint="'--show'"
        )
    return names


def print_hits(hits: Sequence[Hit], ranks: Iterable[int], fields: Sequence[str] = (), indent: str = "") -> None:
    if not hits:
        click.echo(f"{indent}no results")
    for rank, hit in zip(ranks, hits, strict=False):
        text = " ".join(hit.text.split())
        extra = "".join(f"  {name}={hit.id if name == 'id' else shown(hit.metadata.get(name))}" for name in fields)
        if hit.label is not None:
            extra += f"  [{hit.label} {hit.label_prob:.2f}]" if hit.label_prob is not None else f"  [{hit.label}]"
        snippet = f"{text[:150]}{'...' if len(text) > 150 else ''}"
        click.echo(f"{indent}{rank:>3}. {hit.score:.4f}  {hit.id}{extra}  {snippet}")
        if hit.explanation is not None:
            from semsearch.cli.explain import print_explanation

            print_explanation(hit.explanation, hit.text, indent=indent + "     ")


def print_senses(result: SearchResult, fields: Sequence[str] = (), chosen: str | None = None) -> None:
    """Each sense under its label (with the number --sense takes), the chosen one first, then the hits
    of no sense; the numbers before hits are their places in the diversified list."""
    rank = {hit.id: number for number, hit in enumerate(result.hits, start=1)}
    count = len(result.senses)
    click.echo(f"ambiguous: {plural(count, 'sense')}")
    numbered = list(enumerate(result.senses))
    first = [(n, s) for n, s in numbered if chosen is not None and is_sense(chosen, n, s.label)]
    placed: set[str] = set()
    for number, sense in first + [item for item in numbered if item not in first]:
        click.echo(f"[{number}] {sense.label}")
        members = sorted(sense.hits, key=lambda h: rank[h.id])  # in list order (after --sense, not leader first)
        print_hits(members, [rank[h.id] for h in members], fields, indent="  ")
        placed.update(h.id for h in sense.hits)
    rest = [h for h in result.hits if h.id not in placed]
    if rest:
        click.echo("other results")
        print_hits(rest, [rank[h.id] for h in rest], fields, indent="  ")


@click.command("eval")
@index_dir
@click.option("--queries", required=True, type=click.Path(exists=True, path_type=Path), help="BEIR queries.jsonl.")
@click.option("--qrels", required=True, type=click.Path(exists=True, path_type=Path), help="BEIR qrels TSV.")
@mode_option
@fusion_option
@feedback_option
@backend_override
@json_output
@user_errors
def eval_command(index_dir: Path, queries: Path, qrels: Path, mode: str, fusion: str | None, feedback: bool | None,
                 backend: str | None, as_json: bool) -> None:  # fmt: skip
    """Score the index on BEIR queries and qrels: nDCG@10, Recall@100, MRR@10 and latency."""
    quiet_libraries()
    import semsearch

    opened = semsearch.open(index_dir, backend)
    report = semsearch.evaluate(opened, queries, qrels, mode=mode, progress=not as_json, fusion=fusion,
                                feedback=feedback)  # fmt: skip
    fused = opened.searched_fusion(fusion, feedback)
    if as_json:
        hybrid = {"fusion": str(fused), "feedback": fused.feedback} if mode == "hybrid" else {}
        click.echo(json.dumps({"mode": mode, **hybrid, **report.to_json()}))
        return
    how = f", fusion {fused}" if mode == "hybrid" else ""
    click.echo(f"{report.queries} queries, mode {mode}{how}")
    click.echo(f"nDCG@10    {report.ndcg_at_10:.4f}")
    click.echo(f"Recall@100 {report.recall_at_100:.4f}")
    click.echo(f"MRR@10     {report.mrr_at_10:.4f}")
    click.echo(f"latency    p50 {report.latency_ms_p50:.1f} ms, p95 {report.latency_ms_p95:.1f} ms per query")


def is_sense(chosen: str, number: int, label: str) -> bool:
    """Whether --sense ``chosen`` (a number or a label) names the sense ``number`` labelled ``label``."""
    return int(chosen) == number if chosen.isdigit() else chosen.strip().casefold() == label.casefold()
