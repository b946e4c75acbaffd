"""One writer at a time for an index on object storage: a lease object created with a conditional put.

An ``flock`` needs one kernel; writers of an index on object storage may run on different machines.
The lease is the object ``URI/.lock``, created with ``If-None-Match: *`` (the put fails if it exists),
holding its owner and an expiry time. Its holder renews it every third of its life with ``If-Match``
on the ETag it last wrote, and deletes it when done. A writer that was killed stops renewing: once its
lease has expired, the next writer takes it over with ``If-Match`` on the ETag it read, so of two
writers that both saw it expired exactly one wins. A holder that finds its lease taken (it could not
renew in time) stops before its next commit. Expiry is compared with the local clock: keep the
writers' clocks within a few seconds of each other (NTP does).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from semsearch.errors import IndexLockedError, SemsearchError
from semsearch.location import ConditionFailedError, Remote

log = logging.getLogger(__name__)

LEASE = ".lock"
TTL = 60.0  # seconds a lease lives without renewal: how long a killed writer blocks the next one
_POLL = 0.5


class LeaseLostError(SemsearchError):
    """Another writer took over this writer's lease (it could not be renewed in time)."""


@dataclass
class Lease:
    remote: Remote
    owner: str
    etag: str
    ttl: float
    lost: threading.Event

    def check(self) -> None:
        """Raise if the lease was lost: called before a commit, so a writer that lost it writes nothing more."""
        if self.lost.is_set():
            raise LeaseLostError(f"the writer lease of {self.remote.uri} was taken over by another writer; stopped")


def _body(owner: str, ttl: float) -> bytes:
    return json.dumps({"owner": owner, "expires": time.time() + ttl}).encode()


def _take(remote: Remote, owner: str, ttl: float) -> tuple[str | None, str]:
    """Try once: the lease's ETag if taken, else None and who holds it."""
    try:
        return remote.write(LEASE, _body(owner, ttl), if_none_match=True), owner
    except ConditionFailedError:
        pass
    found = remote.read(LEASE)
    if found is None:  # released in between: try again at once
        return None, "a writer that just finished"
    data, etag = found
    try:
        held = json.loads(data)
        holder, expires = str(held["owner"]), float(held["expires"])
    except (ValueError, KeyError, TypeError):
        holder, expires = "unknown (unreadable lease)", 0.0
    if expires > time.time():
        return None, holder
    try:
        taken = remote.write(LEASE, _body(owner, ttl), if_match=etag)
    except ConditionFailedError:
        return None, holder
    log.warning("took over the expired writer lease of %s from %s", remote.uri, holder)
    return taken, owner


@contextmanager
def lease(remote: Remote, timeout: float = 0.0, ttl: float = TTL) -> Iterator[Lease]:
    """Hold the writer lease of ``remote`` (waiting up to ``timeout`` seconds), renewed while held."""
    owner = f"{os.getpid()} on {socket.gethostname()} ({secrets.token_hex(4)})"
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        etag, holder = _take(remote, owner, ttl)
        if etag is not None:
            break
        if time.monotonic() >= deadline:
            raise IndexLockedError(remote.uri, holder, timeout)
        time.sleep(_POLL)
    held = Lease(remote, owner, etag, ttl, threading.Event())
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl / 3):
            try:
                held.etag = remote.write(LEASE, _body(owner, ttl), if_match=held.etag)
            except ConditionFailedError:
                log.error("the writer lease of %s was taken over by another writer", remote.uri)
                held.lost.set()
                return
            except SemsearchError as error:  # a network hiccup: try again at the next renewal
                log.warning("could not renew the writer lease of %s: %s", remote.uri, error)

    renewer = threading.Thread(target=renew, name="semsearch-lease", daemon=True)
    renewer.start()
    try:
        yield held
    finally:
        stop.set()
        renewer.join()
        found = remote.read(LEASE)
        if found is not None and found[1] == held.etag:  # still ours: let the next writer in now
            remote.delete(LEASE)
