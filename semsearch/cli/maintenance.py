"""Commands that look after an index: ``info``, ``get``, ``delete``, ``export``, ``compact``, ``repair``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from semsearch.cli.common import index_dir, json_output, shown, user_errors, wait_option
from semsearch.location import describe
from semsearch.types import DEFAULT_FUSION, Fusion


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
    click.echo(
        f"{summary.docs} documents in {describe(index_dir)}; derived files (FAISS, BM25) checked and rebuilt if needed"
    )
    if report.changed:
        click.echo("run the same 'semsearch index' command again to re-add documents committed after that version")


@click.command()
@index_dir
@json_output
@user_errors
def info(index_dir: Path, as_json: bool) -> None:
    """What the index holds and how it was made: documents, fields, model, precision, backend, size (with -v,
    every timing of the runtime plan)."""
    import semsearch

    about = semsearch.open(index_dir).info(detail=bool(click.get_current_context().find_root().params.get("verbose")))
    if as_json:
        click.echo(json.dumps(about.to_json(), ensure_ascii=False))
        return
    fields = ", ".join(f"{f.name} ({f.kind})" for f in about.fields) or "none"
    model = about.model.name if about.model.name != "default" else "default (all-MiniLM-L6-v2)"
    for name, value in (
        ("index", about.path),
        ("documents", f"{about.documents} ({about.chunks} chunks)"),
        ("fields", fields),
        ("model", f"{model}, weights {about.model.sha256[:12]}, {about.pooling} pooling"),
        ("precision", about.precision),
        ("window", f"{about.window} tokens, overlap {about.overlap}"),
        ("vector index", f"{about.backend}: {about.vector_index}"),
        ("classifier", ", ".join(about.labels) if about.labels else "none"),
        ("size", f"{about.bytes_on_disk / 1e6:.1f} MB on disk"),
        ("version", about.version),
        ("queries", about.query_engine),
        ("fusion", fusion_line(about.fusion, about.fusion_evidence)),
        ("bm25", about.bm25),
    ):
        click.echo(f"{name:<13}{value}")
    for line in about.plan:
        click.echo(line)


def fusion_line(fusion: Fusion, evidence: dict[str, Any] | None) -> str:
    """How hybrid search fuses here, and why: chosen by ``semsearch tune`` (its reason), set by hand, or the default."""
    if evidence is not None:
        return f"{fusion} (semsearch tune: {evidence.get('reason', 'no reason recorded')})"
    if fusion == DEFAULT_FUSION:
        return f"{fusion} (the default; 'semsearch tune' can choose)"
    if fusion == Fusion():
        return f"{fusion} (set by hand, or the default of indexes made before convex fusion)"
    if fusion == replace(DEFAULT_FUSION, feedback=False):
        return f"{fusion} (set by hand, or the default of indexes made before {DEFAULT_FUSION})"
    return f"{fusion} (set by hand)"


@click.command()
@index_dir
@click.argument("doc_ids", metavar="ID...", nargs=-1, required=True)
@wait_option
@user_errors
def delete(index_dir: Path, doc_ids: tuple[str, ...], lock_timeout: float) -> None:
    """Delete documents by id (one commit; ids the index does not hold are reported, not an error)."""
    import semsearch

    opened = semsearch.open(index_dir)
    deleted = opened.delete(list(doc_ids), lock_timeout=lock_timeout)
    missing = len(set(doc_ids)) - deleted
    click.echo(f"{deleted} deleted, {len(opened)} documents left" + (f"; {missing} not found" if missing else ""))


@click.command()
@index_dir
@click.argument("doc_id", metavar="ID")
@json_output
@user_errors
def get(index_dir: Path, doc_id: str, as_json: bool) -> None:
    """Print one stored document: its text and metadata."""
    import semsearch
    from semsearch.errors import DocumentNotFoundError

    found = semsearch.open(index_dir).get(doc_id)
    if found is None:
        raise DocumentNotFoundError(f"no document {doc_id!r} in {describe(index_dir)}")
    if as_json:
        click.echo(json.dumps({"id": found.id, "text": found.text, "metadata": found.metadata}, ensure_ascii=False))
        return
    click.echo(found.text)
    for name, value in found.metadata.items():
        click.echo(f"  {name}: {shown(value)}", err=True)


@click.command()
@index_dir
@click.option("--vectors", is_flag=True, help="Also write each document's window vectors and character spans.")
@user_errors
def export(index_dir: Path, vectors: bool) -> None:
    """Write every document as one JSON line: {"id", "text", "metadata"} (and "windows" with --vectors)."""
    import semsearch

    for row in semsearch.open(index_dir).export(vectors=vectors):
        click.echo(json.dumps(row, ensure_ascii=False))


@click.command()
@index_dir
@click.option("--keep-minutes", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Keep versions younger than this, for readers that opened them.")  # fmt: skip
@wait_option
@user_errors
def compact(index_dir: Path, keep_minutes: float, lock_timeout: float) -> None:
    """Merge the store's small files and remove its old versions (a reader still using one must reopen)."""
    import semsearch

    opened = semsearch.open(index_dir)
    before = opened.info().bytes_on_disk
    report = opened.compact(keep_minutes=keep_minutes, lock_timeout=lock_timeout)
    after = opened.info().bytes_on_disk
    click.echo(f"{report.versions_removed} old versions removed; {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB on disk")
