"""``semsearch explain``: why one document matches a query; and the text ``search --explain`` prints per hit.

Marked words are coloured where stdout is a terminal and written as ``**word**`` otherwise (a pipe, a file).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from semsearch.cli.common import (
    backend_override,
    feedback_option,
    fusion_option,
    index_dir,
    json_output,
    mode_option,
    quiet_libraries,
    user_errors,
)
from semsearch.explain import Explanation

COLOURS = {"dense": "cyan", "bm25": "yellow", "both": "green"}
SHOWN = 8  # words and terms listed per line


@click.command("explain")
@click.argument("query")
@click.argument("doc_id")
@index_dir
@mode_option
@fusion_option
@feedback_option
@click.option("--where", default=None, help="Rank among the documents matching this filter (as search does).")
@backend_override
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a self-contained page: the token shares over the text and, per layer and head, "
                   "the attention from the query-relevant tokens (loads the torch model).")  # fmt: skip
@json_output
@user_errors
def explain(query: str, doc_id: str, index_dir: Path, mode: str, fusion: str | None, feedback: bool | None,
            where: str | None, backend: str | None, html_file: Path | None, as_json: bool) -> None:  # fmt: skip
    """Why document DOC_ID scores as it does for QUERY: each channel's part, the BM25 terms, the dense words."""
    quiet_libraries()
    import semsearch
    from semsearch.facade.explain import explanation_page

    opened = semsearch.open(index_dir, backend)
    found = opened.explain(query, doc_id, mode=mode, where=where, fusion=fusion, feedback=feedback)
    if html_file is not None:
        html_file.write_text(explanation_page(opened, query, doc_id, found), encoding="utf-8")
        click.echo(f"wrote {html_file}", err=True)
    if as_json:
        click.echo(json.dumps({"query": query, "id": doc_id, "explanation": found.to_json()}, ensure_ascii=False))
        return
    document = opened.get(doc_id)
    click.echo(f"{doc_id}  {found.mode} score {found.score:.4f}")
    print_explanation(found, document.text if document else "", indent="  ")


def marker() -> Callable[[str, str], str]:
    """How a marked word is written: in colour on a terminal, between ``**`` otherwise."""
    if sys.stdout.isatty():
        return lambda word, kind: click.style(word, fg=COLOURS.get(kind, "green"), bold=True)
    return lambda word, kind: f"**{word}**"


def print_explanation(found: Explanation, text: str, indent: str = "") -> None:
    """The explanation in a few lines: channels, window and snippet, BM25 terms, dense words, query words."""
    from semsearch.explain.snippet import render

    start, end = found.snippet_span
    shown = render(text, found.snippet_span, found.highlights, marker()) if text else found.snippet
    before, after = ("..." if start > 0 else ""), ("..." if end < len(text) else "")
    click.echo(f"{indent}{channels_line(found)}")
    click.echo(f"{indent}window {found.window[0]}-{found.window[1]} (number {found.window_number}): "
               f"{before}{shown}{after}")  # fmt: skip
    if found.bm25_terms:
        terms = ", ".join(
            f"{t.term} {t.score:.3f}" + (f" [{', '.join(t.words)} x{len(t.spans)}]" if t.spans else " [no match]")
            for t in found.bm25_terms[:SHOWN]
        )
        click.echo(f"{indent}BM25 terms: {terms}; sum {sum(t.score for t in found.bm25_terms):.4f}")
    if found.dense is not None:
        d = found.dense
        words = ", ".join(f"{t.text} {t.score:+.4f}" for t in found.top_words(SHOWN))
        click.echo(f"{indent}dense words: {words}")
        click.echo(f"{indent}  {len(found.dense_tokens)} shares ({d.method}) sum to {d.shares_sum:.6f}: window "
                   f"cosine {d.score:.6f} (gap {d.gap:.1e}), stored vector {_number(d.stored_score, 6)}")  # fmt: skip
    query_words = [w for w in found.query_words if not w.special]
    if query_words:
        parts = ", ".join(f"{w.text} ({_parts(w.dense, w.bm25)})" for w in query_words)
        click.echo(f"{indent}query words: {parts}")
    for note in found.notes:
        click.echo(f"{indent}note: {note}")


def channels_line(found: Explanation) -> str:
    """``hybrid 0.0325 = dense 0.0164 (rank 1, cosine 0.67) + bm25 0.0161 (rank 2, BM25 12.3); carried by dense``."""
    names = {"dense": "cosine", "bm25": "BM25"}
    parts = []
    for name, c in found.channels.items():
        rank = f"rank {c.rank}" if c.rank is not None else "not ranked"
        value = f"{c.fused:.4f} " if c.fused is not None else ""
        parts.append(f"{name} {value}({rank}, {names[name]} {_number(c.score, 4)})")
    carried = f"; carried by {found.carried_by}" if found.mode == "hybrid" and found.carried_by else ""
    return f"{found.mode} {found.score:.4f} = " + " + ".join(parts) + carried


def _parts(dense: float | None, bm25: float | None) -> str:
    shown = [f"dense {dense:+.4f}" if dense is not None else "", f"BM25 {bm25:.3f}" if bm25 is not None else ""]
    return ", ".join(part for part in shown if part)


def _number(value: float | None, digits: int) -> str:
    return "none" if value is None else f"{value:.{digits}f}"
