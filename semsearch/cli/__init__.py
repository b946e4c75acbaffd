"""The ``semsearch`` command: a thin adapter over the library (:mod:`semsearch.facade`), one module per
command group. Each command parses its flags, calls the library, and prints: results on stdout, everything
else (progress, warnings, errors as one line) on stderr.
"""

from __future__ import annotations

import click

from semsearch.cli.adapt import adapt
from semsearch.cli.classifier import classifier
from semsearch.cli.common import configure_logging
from semsearch.cli.explain import explain
from semsearch.cli.index import index
from semsearch.cli.maintenance import compact, delete, export, get, info, repair
from semsearch.cli.search import eval_command, search
from semsearch.cli.serve import serve
from semsearch.cli.tune import tune


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, step by step.")
@click.version_option(package_name="semsearch")
def main(verbose: bool) -> None:
    """Semantic search: index a corpus, query it, evaluate it."""
    configure_logging(verbose)


commands = (index, search, eval_command, explain, tune, info, get, delete, export, compact, repair, classifier, adapt,
            serve)  # fmt: skip
for command in commands:
    main.add_command(command)

__all__ = ["main"]
