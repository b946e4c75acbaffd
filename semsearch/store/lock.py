"""One writer at a time per index: an ``flock`` on ``DIR/.lock`` that the kernel releases when its
holder exits or is killed, so a killed run never leaves a stale lock."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from semsearch import location
from semsearch.errors import IndexLockedError

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
_LOCK_POLL = 0.2  # seconds between attempts while waiting for another writer


@contextmanager
def writer_lock(directory: Path, timeout: float = 0.0) -> Iterator[Callable[[], None]]:
    """Hold the index's writer lock, waiting up to ``timeout`` seconds for another writer to finish.

    It yields a check to call before each commit (it raises if the lock was lost, which only a lease
    can be). A second writer then fails with :class:`IndexLockedError` naming the holder; it never touches
    the index. The lock is an ``flock``, so the kernel drops it when its holder exits or is killed; an
    index on object storage is locked by a lease object instead (:mod:`semsearch.store.lease`).
    """
    if (remote := location.remote_of(directory)) is not None:
        from semsearch.store.lease import lease

        with lease(remote, timeout) as held:
            yield held.check
        return
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
            yield _still_held
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _still_held() -> None:
    """An ``flock`` is held until released: nothing to check."""
