"""One writer at a time per index: an ``flock`` on ``DIR/.lock`` that the kernel releases when its
holder exits or is killed, so a killed run never leaves a stale lock."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from semsearch.errors import IndexLockedError

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
_LOCK_POLL = 0.2  # seconds between attempts while waiting for another writer


@contextmanager
def writer_lock(directory: Path, timeout: float = 0.0) -> Iterator[None]:
    """Hold the index's writer lock, waiting up to ``timeout`` seconds for another writer to finish.

    A second writer then fails with :class:`IndexLockedError` naming the holder; it never touches
    the index. The lock is an ``flock``, so the kernel drops it when its holder exits or is killed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(timeout, 0.0)
    with (directory / LOCK_FILE).open("a+") as handle:
        waiting = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                handle.seek(0)
                holder = handle.read().strip()[:20] or "unknown"
                if not waiting and timeout > 0:
                    log.info("waiting up to %g s for the writer lock of %s (pid %s)", timeout, directory, holder)
                    waiting = True
                if time.monotonic() >= deadline:
                    raise IndexLockedError(directory, holder, timeout) from exc
                time.sleep(_LOCK_POLL)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
