"""``semsearch serve``: one process answering HTTP for one or more indexes (see docs/serve.md)."""

from __future__ import annotations

from pathlib import Path

import click

from semsearch.cli.common import quiet_libraries, user_errors

TOKEN_ENV = "SEMSEARCH_WRITE_TOKEN"


def parse_index(given: str) -> tuple[str, str]:
    """``NAME=DIR`` or ``DIR`` (named for its last part); DIR may be an ``s3://`` URI."""
    from semsearch.location import is_remote
    from semsearch.serve.registry import NAME

    name, equals, rest = given.partition("=")
    if equals and NAME.fullmatch(name) and rest:
        return name, rest
    if is_remote(given):
        return given.rstrip("/").rsplit("/", 1)[-1], given
    return Path(given).resolve().name, given


def local_folders(indexes: tuple[str, ...], storage_options: tuple[str, ...]) -> list[tuple[str, Path]]:
    """Each ``--index`` as (name, the folder to open): an ``s3://`` URI's is the work folder mirroring it, which
    ``--storage-option`` reaches the object store for."""
    from semsearch.errors import OptionError
    from semsearch.location import is_remote, parse_storage_options, resolve

    options = parse_storage_options(storage_options) or None
    parsed = [parse_index(given) for given in indexes]
    if options and not any(is_remote(where) for _, where in parsed):
        raise OptionError("storage_options", options, "apply to object storage (s3://) only")
    return [(name, resolve(where, options) if is_remote(where) else Path(where)) for name, where in parsed]


@click.command()
@click.option("--index", "indexes", multiple=True, required=True, envvar="SEMSEARCH_INDEX", metavar="[NAME=]DIR",
              help="An index to serve (a folder or an s3:// URI), repeatable; NAME (default: the folder's name) is "
                   "its name in /indexes/NAME/...; the first also answers /search, /info, /documents/ID.")  # fmt: skip
@click.option("--storage-option", "storage_options", multiple=True, metavar="KEY=VALUE",
              help="Object-store setting for the s3:// indexes (Lance's keys: aws_endpoint, aws_region, allow_http, "
                   "...).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free one).")
@click.option("--write-token", envvar=TOKEN_ENV, default=None, metavar="TOKEN",
              help=f"Allow writes to clients sending 'Authorization: Bearer TOKEN' [default: ${TOKEN_ENV}; "
                   "without it the server is read-only].")  # fmt: skip
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Let pages from ORIGIN (e.g. https://example.org) call the API, repeatable [default: none].",
)
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="A Host header name to accept besides the loopback names (when bound to a loopback address), "
                   "repeatable; bound elsewhere, any name is accepted unless some are given.")  # fmt: skip
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="Requests worked on at once [default: the usable cores, at least 2].")  # fmt: skip
@click.option("--refresh-seconds", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="How often to look for versions other processes committed (0: never).")  # fmt: skip
@click.option("--access-log", is_flag=True, help="Log every request to stderr.")
@user_errors
def serve(indexes: tuple[str, ...], storage_options: tuple[str, ...], host: str, port: int, write_token: str | None,
          cors_origins: tuple[str, ...], allowed_hosts: tuple[str, ...], threads: int | None, refresh_seconds: float,
          access_log: bool) -> None:  # fmt: skip
    """Serve indexes over HTTP: a JSON API (its schema at /openapi.json), OpenAI-compatible embeddings
    (/v1/embeddings) and a search page at /."""
    quiet_libraries()
    from semsearch.runtime.cpu import usable_cores
    from semsearch.serve import ServeOptions, create_app, open_registry
    from semsearch.serve.middleware import LOOPBACK_NAMES
    from semsearch.serve.server import bind, is_loopback, run, url_of

    if write_token is not None and not write_token.strip():
        raise click.BadParameter("the write token is empty", param_hint="--write-token")
    loopback = is_loopback(host)
    if loopback:
        accepted: tuple[str, ...] | None = (*LOOPBACK_NAMES, host.lower(), *allowed_hosts)
    else:
        accepted = (*allowed_hosts, host.lower()) if allowed_hosts else None
        if write_token is not None:
            click.echo(
                f"warning: writes are on and {host} is reachable from other machines: anyone there with the token "
                "can change the index, and without TLS (a proxy in front) the token crosses the network in clear",
                err=True,
            )
    if write_token is not None and len(write_token) < 16:
        click.echo("warning: the write token is short (under 16 characters): easy to guess", err=True)
    click.echo(f"loading {len(indexes)} index{'es' if len(indexes) > 1 else ''} and the model...", err=True)
    registry = open_registry(local_folders(indexes, storage_options))
    options = ServeOptions(
        write_token=write_token, cors_origins=cors_origins, threads=threads or max(2, usable_cores()),
        refresh_seconds=refresh_seconds, allowed_hosts=accepted,
    )  # fmt: skip
    app = create_app(registry, options)
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    mode = "writes on" if write_token is not None else "read-only"
    click.echo(f"serving {', '.join(registry.names())} at {url_of(sock)}/ ({mode}); Ctrl-C stops", err=True)
    run(app, sock, log_level="info" if access_log else "warning", access_log=access_log)
