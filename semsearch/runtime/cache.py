"""Models semsearch makes from a model's weights (an fp32 OpenVINO graph, an int8 one) and keeps.

Each is made once per set of weights on a machine, into ``$SEMSEARCH_CACHE`` (or the XDG cache), under
a name that holds the weights' hash and everything else that shaped it (recipe, library versions): a
cache entry is never reused for other weights or another recipe. It is built in a temporary sibling
folder and renamed into place, so a crash never leaves a half-written model that a later run trusts.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from semsearch.fsutil import cache_dir

__all__ = ["built", "cache_dir", "notice"]


def notice(message: str) -> None:
    """Say on stderr that a step made once per machine starts (a model exported or quantized, runtimes
    timed), so that the wait is explained. Not a warning: nothing is wrong, and a later run skips it."""
    print(message, file=sys.stderr, flush=True)


def built(target: Path, build: Callable[[Path], None], marker: str = "model.xml") -> Path:
    """``target``, made by ``build(folder)`` into a temporary sibling and renamed into place if it is not
    there yet (``marker`` is the file whose presence says it is whole). Another process making the same
    model at the same time is not an error: one of the two renames wins."""
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        folder = scratch / "built"
        folder.mkdir()
        build(folder)
        try:
            os.rename(folder, target)
        except OSError:
            if not (target / marker).is_file():  # not another process winning the race: a real failure
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
