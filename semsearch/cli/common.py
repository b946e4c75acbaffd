"""What every command shares: option decorators, how a library error becomes one line, quiet libraries.

The library names options as Python parameters (``skip_bad=True``); here they become flags
(``--skip-bad``): :func:`flag` maps one to the other, and :func:`render` writes an error in flag terms.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from semsearch.errors import Hint, OptionError, SemsearchError
from semsearch.types import Backend, Mode

F = TypeVar("F", bound=Callable[..., Any])

# Parameters whose flag is not "--" + the name with dashes.
_FLAGS = {
    "lock_timeout": "--wait",
    "k": "-k",
    "n": "-n",
    "query": "QUERY",
    "doc_ids": "ID",
    "directory": "--index",
    "storage_options": "--storage-option",
    "types": "--type",
}


def flag(option: str) -> str:
    """The command-line spelling of the library parameter ``option``."""
    return _FLAGS.get(option, "--" + option.replace("_", "-"))


def plural(count: int, noun: str) -> str:
    """``1 bad record``, ``2 bad records``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def shown(value: object) -> str:
    """A metadata value as text output prints it: a string as written, anything else as JSON spells it
    (``false``, ``null``, ``["a", "b"]``), which is also how a ``--where`` filter writes it."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def as_typed(value: object) -> str:
    """An option's value as the command line spells it: nothing for a flag that is on, a mapping as the
    KEY=VALUE pairs the flag takes, a blank text quoted (so that it shows)."""
    if value is True:
        return ""
    if isinstance(value, dict):
        return " ".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, str) and not value.strip():
        return repr(value)
    return str(value)


def render_hint(hint: Hint) -> str:
    if hint.option is None:
        return hint.text.format(how=hint.command)
    shown = flag(hint.option) if hint.value == "True" else f"{flag(hint.option)} {hint.value}"
    return hint.text.format(how=shown)


def render(error: SemsearchError) -> str:
    """One line for ``error``, with its options named as flags and its calls as commands."""
    text = error.message
    if isinstance(error, OptionError):
        text = " ".join([flag(error.option), as_typed(error.value)]).strip() + f": {error.reason}"
    if error.hint is not None:
        text = f"{text}; {render_hint(error.hint)}"
    return " ".join(text.split())


def user_errors(command: F) -> F:
    """Turn library errors into one line on stderr and exit status 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SemsearchError as error:
            click.echo("error: " + render(error), err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def interrupted(what: str) -> Callable[[F], F]:
    """On Ctrl-C: ``what`` on stderr (what was kept, how to go on) and exit status 130."""

    def decorate(command: F) -> F:
        @wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return command(*args, **kwargs)
            except KeyboardInterrupt:
                click.echo(f"interrupted{': ' + what if what else ''}", err=True)
                sys.exit(130)

        return wrapper  # type: ignore[return-value]

    return decorate


def quiet_libraries() -> None:
    """transformers' own warnings and progress bars say nothing a semsearch user can act on. Said through
    the environment, which the libraries read when they load, so a command that never loads them (a BM25
    search, an error) does not pay for importing them."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if "transformers" in sys.modules:  # already loaded (the CLI called from Python): tell it directly
        transformers = sys.modules["transformers"]
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# -- options more than one command takes ------------------------------------------------------------


INDEX_ENV = "SEMSEARCH_INDEX"


def index_dir(command: F) -> F:
    """``--index DIR`` (a folder or an ``s3://`` URI) and ``--storage-option KEY=VALUE``: the command gets
    ``index_dir``, the local folder to work in (for a URI, the work folder mirroring it)."""

    @wraps(command)
    def resolved(*args: Any, index_dir: str, storage_options: tuple[str, ...], **kwargs: Any) -> Any:
        from semsearch.location import parse_storage_options, resolve

        return command(*args, index_dir=resolve(index_dir, parse_storage_options(storage_options) or None), **kwargs)

    with_index = click.option(
        "--index", "index_dir", required=True, envvar=INDEX_ENV,
        help=f"Index directory, or an s3:// URI [default: ${INDEX_ENV}].",
    )(user_errors(resolved))  # fmt: skip
    return click.option(
        "--storage-option",
        "storage_options",
        multiple=True,
        metavar="KEY=VALUE",
        help="Object-store setting for an s3:// --index (Lance's keys: aws_endpoint, aws_region, allow_http, ...).",
    )(with_index)  # type: ignore[return-value]


def json_output(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(command)


def mode_option(command: F) -> F:
    return click.option(
        "--mode", type=click.Choice([m.value for m in Mode]), default=Mode.HYBRID.value, show_default=True,
        help="dense: the encoder's vectors (score: cosine similarity, -1 to 1); bm25: words (score: BM25, 0 and "
             "up, unbounded); hybrid: both fused as --fusion says (score: with rrf the sum of 1/(60 + rank) over "
             "the two lists, at most 2/61; with convex the weighted normalised scores).",
    )(command)  # fmt: skip


def feedback_option(command: F) -> F:
    return click.option(
        "--feedback/--no-feedback", default=None,
        help="Hybrid mode: pseudo-relevance feedback on or off for this search (default: as the index's fusion "
             "has it, on for a new index). The query vector moves towards the best windows of the first "
             "ranking's top two documents and the dense list is made again: better rankings on SciFact and "
             "NFCorpus for about 2 ms a query.",
    )(command)  # fmt: skip


def fusion_option(command: F) -> F:
    return click.option(
        "--fusion", default=None, metavar="rrf|convex[:ALPHA[:NORM]][+feedback]",
        help="How hybrid mode fuses the dense and BM25 top 100: rrf (reciprocal rank fusion), or convex:ALPHA "
             "(ALPHA, 0 to 1, the weight of dense; NORM minmax or zscore, default minmax), e.g. convex:0.5; "
             "+feedback adds pseudo-relevance feedback, which a fusion given without it leaves off "
             "[default: the index's own; convex:0.5:minmax+feedback unless set by 'semsearch tune' or "
             "'index --fusion'].",
    )(command)  # fmt: skip


def backend_override(command: F) -> F:
    return click.option(
        "--backend", type=click.Choice([b.value for b in Backend]), default=None, help="[default: the index's own]"
    )(command)


def wait_option(command: F) -> F:
    return click.option(
        "--wait", "lock_timeout", default=0.0, show_default=True,
        help="Seconds to wait for another process writing --index.",
    )(command)  # fmt: skip


def skip_bad_option(command: F) -> F:
    return click.option(
        "--skip-bad", is_flag=True, help="Skip unusable records (counted) instead of stopping at the first."
    )(command)


def corpus_fields(command: F) -> F:
    """--id-field, --text-field, --title-field: which fields of a record are its id, text and title."""
    from semsearch.corpus import FieldMap

    default = FieldMap()
    for name, help_text in reversed(
        (
            ("--id-field", f"Field holding the document id [default: {' or '.join(default.id_fields)}]."),
            ("--text-field", f"Field holding the text [default: {default.text_field}]."),
            ("--title-field", f"Field prepended to the text [default: {default.title_field}]."),
        )
    ):
        command = click.option(name, default=None, help=help_text)(command)
    return command


def field_map(id_field: str | None, text_field: str | None, title_field: str | None,
              types: tuple[str, ...] = ()) -> Any:  # fmt: skip
    """The FieldMap of the corpus options; ``types`` are --type FIELD=KIND values."""
    from semsearch.corpus import FieldMap

    declared = {}
    for given in types:
        name, equals, kind = given.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(f"expected FIELD=number|string|bool, got {given!r}", param_hint="--type")
        declared[name.strip()] = kind.strip()
    return FieldMap.from_options(id_field, text_field, title_field, types=declared or None)
