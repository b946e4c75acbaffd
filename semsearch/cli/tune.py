"""``semsearch tune``: choose how an index's hybrid search fuses dense and BM25, or set it by hand."""

from __future__ import annotations

import json
from pathlib import Path

import click

from semsearch.cli.common import index_dir, json_output, quiet_libraries, user_errors, wait_option


@click.command()
@index_dir
@click.option("--fusion", default=None, metavar="rrf|convex[:ALPHA[:NORM]][+feedback]",
              help="Set this fusion by hand instead of choosing one (rrf, convex:0.5, ...).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Show the choice and its evidence; change nothing.")
@wait_option
@json_output
@user_errors
def tune(index_dir: Path, fusion: str | None, dry_run: bool, lock_timeout: float, as_json: bool) -> None:
    """Choose how hybrid search fuses the dense and BM25 lists for this index, on pseudo-queries made from
    its own documents (no labelled queries needed; about a minute for 500 documents), and record it in the
    index. A new index's fusion (convex:0.5:minmax+feedback) is kept unless another is surely better there."""
    quiet_libraries()
    import semsearch

    opened = semsearch.open(index_dir)
    if fusion is not None:
        chosen = semsearch.Fusion.parse(fusion)
        if not dry_run:
            opened.set_fusion(chosen, lock_timeout=lock_timeout)
        said = " (dry run: not recorded)" if dry_run else f" set by hand, recorded in {index_dir}"
        click.echo(
            json.dumps({"fusion": str(chosen), "recorded": not dry_run}) if as_json else f"fusion {chosen}{said}"
        )
        return
    made = opened.tune(apply=not dry_run, lock_timeout=lock_timeout)
    if as_json:
        click.echo(json.dumps(made.to_json()))
        return
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(made.query_kinds.items()))
    click.echo(f"{made.queries} held-out pseudo-queries ({kinds or 'none'}), nDCG@10 of each query's own document:")
    for name, value in made.scores.items():
        marker = " <- chosen" if name == str(made.fusion) else ""
        click.echo(f"  {name:<22}{value:.4f}{marker}")
    click.echo(made.reason)
    click.echo(f"fusion {made.fusion}" + (" (dry run: not recorded)" if dry_run else f" recorded in {index_dir}"))
