"""Bring a damaged index back to its newest intact state (``semsearch repair --index DIR``).

What can be damaged, and what repair does about it:

- ``manifest.json`` (how the vectors were made; cannot be derived): restored from
  ``manifest.backup.json`` when that copy is readable.
- The LanceDB store (the record): damaged newest versions are set aside under
  ``store/damaged-<time>/`` and the store goes back to its newest version that reads in full
  (see :func:`semsearch.store.repair`). Documents committed after that version are re-added by
  the next ``semsearch index`` run of the same source.
- The FAISS file and the BM25 index (derived): checked against their recorded SHA-256 and the
  store, and rebuilt. Searching does that by itself too; repair just does it now.

Nothing is deleted: every file set aside is kept for inspection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from semsearch import location
from semsearch.errors import IndexNotFoundError
from semsearch.ingest import refresh_derived
from semsearch.manifest import STORE_DIR, Manifest
from semsearch.store import Store
from semsearch.store.lock import writer_lock
from semsearch.store.repair import RepairReport
from semsearch.store.repair import repair as repair_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepairSummary:
    manifest_restored: bool
    store: RepairReport
    docs: int  # documents in the index after the repair


def repair_index(directory: str | Path, lock_timeout: float = 0.0) -> RepairSummary:
    """Repair ``directory`` in place, holding the writer lock (so no indexing run is under way)."""
    directory = location.resolve(directory)
    if (remote := location.remote_of(directory)) is not None:
        raise location.ObjectStoreError(
            f"{remote.uri}: repair inspects a store's files on a local disk; it does not repair an index on object "
            "storage yet (Lance's own versions there can be checked out with pylance)"
        )
    if not directory.is_dir():
        raise IndexNotFoundError(f"no index at {directory}; nothing to repair")
    with writer_lock(directory, lock_timeout):
        restored = Manifest.restore_from_backup(directory)
        if restored:
            log.warning("restored %s from its backup copy", directory / "manifest.json")
        manifest = Manifest.load(directory)
        report = repair_store(directory / STORE_DIR)
        store = Store.open(directory / STORE_DIR)
        refresh_derived(directory, store, manifest)
        return RepairSummary(manifest_restored=restored, store=report, docs=store.count_docs())


@dataclass(frozen=True)
class CompactReport:
    versions_removed: int
    version: int  # the store's version after compacting


def compact_index(directory: str | Path, keep_minutes: float = 10.0, lock_timeout: float = 0.0) -> CompactReport:
    """Compact the store of ``directory`` and remove its versions older than ``keep_minutes``."""
    directory = Path(directory)
    manifest = Manifest.load(directory)
    with writer_lock(directory, lock_timeout):
        store = Store.open(directory / STORE_DIR)
        removed = store.compact(timedelta(minutes=keep_minutes))
        refresh_derived(directory, store, manifest)
        return CompactReport(versions_removed=removed, version=store.version)
