"""Naming a damaged file of the store: what a Lance table directory holds on disk, and what to say.

LanceDB reports a damaged table with messages such as "failed to fill whole buffer" that name no
file, and a garbled version manifest can even make it panic. So before opening a table the
store checks the newest version manifest's frame here, and after a failed read it asks
:func:`find_damage` which file is to blame. Only the documented framing of Lance files is used:

- ``_versions/<n>.manifest``: one file per committed version. ``<n>`` is the version (V1 naming) or
  ``2**64 - 1 - version`` (V2 naming, newest first in a listing). The file ends with a 16-byte
  footer: the protobuf's offset (u64), format major/minor (u16 each) and the magic ``LANC``; at the
  offset, a u32 length precedes the protobuf message, whose strings include the data file names.
- ``data/<name>.lance``: immutable data files, each ending with the magic ``LANC``.
- ``_deletions/``: deletion vectors (``.arrow`` files start and end with ``ARROW1``).

A version is a complete snapshot: a commit writes its data files first and then its manifest
under a temporary name that is renamed into place, so a killed writer leaves at most unreferenced
files, never a torn version. Damage therefore means something outside semsearch changed a file.
"""

from __future__ import annotations

import re
import shutil
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from semsearch.errors import Hint, IndexDamagedError
from semsearch.errors import repair_hint as index_repair_hint

VERSIONS = "_versions"
DATA = "data"
DELETIONS = "_deletions"
HINT = "latest_version_hint.json"
MAGIC = b"LANC"
_FOOTER = 16
_V2_BASE = 2**64 - 1
_NOT_FOUND = re.compile(r"Not found: (\S+?)(?:,|\s|$)")
_NAME = re.compile(rb"[A-Za-z0-9_\-./]+")


@dataclass(frozen=True)
class VersionFile:
    version: int
    path: Path


@dataclass(frozen=True)
class Damage:
    """A file of the table that cannot be what the table says it is."""

    path: Path
    problem: str
    version: int | None = None  # set when the file is a version manifest


def version_files(table_dir: Path) -> list[VersionFile]:
    """The committed version manifests of ``table_dir``, oldest first."""
    found: list[VersionFile] = []
    directory = table_dir / VERSIONS
    if not directory.is_dir():
        return found
    for entry in directory.iterdir():
        stem, dot, suffix = entry.name.partition(".")
        if suffix != "manifest" or not dot or not stem.isdigit():
            continue
        number = int(stem)
        version = _V2_BASE - number if number > 2**63 else number
        found.append(VersionFile(version, entry))
    return sorted(found, key=lambda f: f.version)


def manifest_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a version manifest, or None if its framing is sound."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not data:
        return "is empty"
    if len(data) < _FOOTER + 4 or data[-4:] != MAGIC:
        return f"is truncated or overwritten (no Lance footer in its {len(data)} bytes)"
    (offset,) = struct.unpack_from("<Q", data, len(data) - _FOOTER)
    if offset + 4 > len(data) - _FOOTER:
        return "is corrupted (its footer points outside the file)"
    (length,) = struct.unpack_from("<I", data, offset)
    if offset + 4 + length > len(data) - _FOOTER:
        return "is corrupted (its content length runs past the footer)"
    return None


def data_file_problem(path: Path) -> str | None:
    """Why a data or deletion file cannot be read, or None if its framing is sound."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
            handle.seek(max(size - 8, 0))
            tail = handle.read(8)
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if size == 0:
        return "is empty"
    if path.suffix == ".lance" and tail[-4:] != MAGIC:
        return "is truncated or overwritten (no Lance footer)"
    if path.suffix == ".arrow" and not (head.startswith(b"ARROW1") and tail.endswith(b"ARROW1")):
        return "is truncated or overwritten (not an Arrow file)"
    return None


def referenced_data_files(manifest: Path, table_dir: Path) -> list[Path]:
    """The data files a version manifest names (protobuf strings: a length byte, then the name)."""
    try:
        data = manifest.read_bytes()
    except OSError:
        return []
    names: set[str] = set()
    for match in re.finditer(rb"\.lance", data):
        end = match.end()
        # Longest candidate first: a shorter one can be fooled by a digit whose code equals its length.
        for start in range(max(end - 127, 1), end - len(b".lance")):
            if data[start - 1] == end - start and _NAME.fullmatch(data[start:end]):
                names.add(data[start:end].decode("ascii"))
                break
    return [table_dir / DATA / name for name in sorted(names)]


def latest_manifest_damage(table_dir: Path) -> Damage | None:
    """The newest version manifest, if it is missing or its framing is broken."""
    versions = version_files(table_dir)
    if not versions:
        return Damage(table_dir / VERSIONS, "holds no version manifest")
    latest = versions[-1]
    problem = manifest_problem(latest.path)
    return None if problem is None else Damage(latest.path, problem, latest.version)


def find_damage(table_dir: Path, error: BaseException | None = None) -> Damage | None:
    """The file that makes ``table_dir`` unreadable, judged from the newest version and ``error``."""
    damage = latest_manifest_damage(table_dir)
    if damage is not None:
        return damage
    latest = version_files(table_dir)[-1]
    if error is not None:
        for match in _NOT_FOUND.finditer(str(error)):
            missing = Path(match.group(1))
            missing = missing if missing.is_absolute() else Path("/") / missing
            if not missing.exists():
                return Damage(missing, "is missing")
    for data_file in referenced_data_files(latest.path, table_dir):
        problem = data_file_problem(data_file)
        if problem is not None:
            return Damage(data_file, problem)
    deletions = table_dir / DELETIONS
    if deletions.is_dir():
        for entry in sorted(deletions.iterdir()):
            problem = data_file_problem(entry)
            if problem is not None:
                return Damage(entry, problem)
    return None


def set_aside(path: Path, store_dir: Path) -> Path:
    """Move a damaged file out of the table into ``store_dir/damaged-<time>/`` (kept, not deleted)."""
    target_dir = store_dir / f"damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    target = target_dir / path.relative_to(store_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(target))
    return target


def first_line(error: BaseException) -> str:
    """The gist of a library error: its first line, without the Rust source location lance appends."""
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else type(error).__name__
    return re.sub(r",\s*/\S+\.rs:\d+:\d+", "", line)


def repair_hint(store_dir: Path) -> Hint:
    """The way back from a damaged store: repair the index, then index the same source again."""
    return index_repair_hint(
        store_dir.parent,
        "run {how} to go back to the newest intact version, then index the same source again to re-add what that drops",
    )


def damaged(store_dir: Path, damage: Damage) -> IndexDamagedError:
    what = f"version {damage.version} of the store" if damage.version is not None else "a file of the store"
    return IndexDamagedError(f"{damage.path} ({what}) {damage.problem}", repair_hint(store_dir))
