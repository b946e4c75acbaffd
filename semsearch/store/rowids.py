"""Vector ids (rowids) that are never handed out twice, deleted ones included."""

from __future__ import annotations

import json
import logging

from semsearch import location
from semsearch.fsutil import atomic_write_text
from semsearch.store.table import Store

log = logging.getLogger(__name__)

ROWIDS = "rowids.json"  # the next rowid to hand out, so that one is never reused after a deletion


class RowidCounter:
    """Hands out rowids that no vector of the index has had before, deleted ones included.

    A FAISS file is current when its ids equal the store's (:mod:`semsearch.index.faiss`), so a
    rowid given again after its vector was deleted would let a stale file serve the deleted vector
    under the new document's name. The largest rowid in the store is not enough (deleting the newest
    documents lowers it): the next one is recorded beside the store, before the rows that use it
    are written (a crash in between leaves only a gap). An index made before the record existed,
    or whose record was lost, starts again after its largest stored rowid.
    """

    def __init__(self, store: Store) -> None:
        self.path = store.path.parent / ROWIDS
        location.pull(self.path.parent, [ROWIDS])
        try:
            recorded = int(json.loads(self.path.read_text(encoding="utf-8"))["next"])
        except FileNotFoundError:
            recorded = 0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s is unreadable (%s); continuing after the largest stored rowid", self.path, exc)
            recorded = 0
        self.next = max(recorded, store.max_rowid() + 1)

    def take(self, count: int) -> list[int]:
        first = self.next
        self.record(first + count)
        return list(range(first, first + count))

    def record(self, next_free: int) -> None:
        """Record that rowids below ``next_free`` are taken (by this run, or by writers it handed them to)."""
        self.next = max(self.next, next_free)
        atomic_write_text(self.path, json.dumps({"next": self.next}) + "\n")
        location.push(self.path.parent, ROWIDS)
