"""Commands that look after an index: ``repair``."""

from __future__ import annotations

from pathlib import Path

import click

from semsearch.cli.common import index_dir, user_errors, wait_option


@click.command()
@index_dir
@wait_option
@user_errors
def repair(index_dir: Path, lock_timeout: float) -> None:
    """Bring a damaged index back to its newest intact state (damaged files are set aside, not deleted)."""
    import semsearch

    summary = semsearch.repair(index_dir, lock_timeout)
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
