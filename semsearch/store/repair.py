"""Bring a damaged store back to its newest version that reads in full.

Nothing is deleted: damaged version manifests are moved to ``store/damaged-<time>/``. Documents
committed after the version the store goes back to are re-added by the next indexing run.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import lance
import pyarrow.compute as pc

from semsearch.errors import IndexDamagedError, IndexNotFoundError
from semsearch.store import damage as lance_files
from semsearch.store.schema import TABLE
from semsearch.store.table import is_lance_failure

log = logging.getLogger(__name__)

# What lance says when a version manifest's content (not its framing) is broken; repair sets such a
# version aside, but never one that failed to open for another reason (permissions, a full disk).
_UNDECODABLE = re.compile(r"decode|protobuf|manifest|panic", re.IGNORECASE)


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair` did: the files it set aside and the version the store is back at."""

    set_aside: tuple[Path, ...]
    damaged_versions: tuple[int, ...]  # versions that could not be read in full
    intact_version: int  # the newest version read in full
    version: int  # the store's version after the repair (a restore is a new commit)
    docs: int

    @property
    def changed(self) -> bool:
        return bool(self.set_aside or self.damaged_versions)


def _read_in_full(path: Path, version: int) -> int:
    """Read every column of every row of ``version``; returns its document count or raises."""
    dataset = lance.dataset(str(path / f"{TABLE}.lance"), version=version)
    docs = 0
    for batch in dataset.to_batches():
        docs += int(pc.sum(pc.equal(batch.column("chunk"), 0)).as_py() or 0)
    return docs


def repair(path: Path) -> RepairReport:
    """Bring the store at ``path`` back to its newest version that reads in full.

    Newest version manifests that cannot be opened are moved to ``path/damaged-<time>/`` (never
    deleted); then versions are read in full from the newest down, and if the newest intact one
    is not the current version it is restored (a new commit equal to it). Documents committed
    after it are gone from the index but not from the source: the next ``semsearch index`` run
    adds them again. The caller holds the writer lock.
    """
    table_dir = path / f"{TABLE}.lance"
    if not table_dir.is_dir():
        raise IndexNotFoundError(f"no store at {path}; nothing to repair")
    moved: list[Path] = []
    while True:
        damage = lance_files.latest_manifest_damage(table_dir)
        if damage is None:
            try:
                dataset = lance.dataset(str(table_dir))
                break
            except BaseException as exc:
                if not is_lance_failure(exc):
                    raise
                if not _UNDECODABLE.search(f"{type(exc).__name__} {exc}"):
                    raise IndexDamagedError(
                        f"the store at {path} cannot be opened ({lance_files.first_line(exc)})"
                    ) from exc
                log.warning("the newest version of %s cannot be decoded (%s)", table_dir, lance_files.first_line(exc))
        latest = lance_files.version_files(table_dir)
        if not latest:
            raise IndexDamagedError(
                f"no version of the store at {path} is intact (damaged files were moved to "
                f"{moved[0].parent if moved else path}); delete {path.parent} and index the corpus again"
            )
        moved.append(lance_files.set_aside(latest[-1].path, path))
        (table_dir / lance_files.VERSIONS / lance_files.HINT).unlink(missing_ok=True)
        log.warning("set aside %s (damaged)", latest[-1].path)
    damaged: list[int] = []
    for version in reversed([v.version for v in lance_files.version_files(table_dir)]):
        try:
            docs = _read_in_full(path, version)
        except BaseException as exc:
            if not is_lance_failure(exc):
                raise
            log.warning("version %d of %s cannot be read in full (%s)", version, table_dir, lance_files.first_line(exc))
            damaged.append(version)
            continue
        if version != dataset.version:
            lance.dataset(str(table_dir), version=version).restore()  # a new commit equal to that version
        return RepairReport(
            set_aside=tuple(moved),
            damaged_versions=tuple(damaged),
            intact_version=version,
            version=int(lance.dataset(str(table_dir)).version),
            docs=docs,
        )
    raise IndexDamagedError(
        f"no version of the store at {path} reads in full; delete {path.parent} and index the corpus again"
    )
