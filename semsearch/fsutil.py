"""Small filesystem helpers whose point is crash safety.

Every file semsearch writes outside the LanceDB store goes through :func:`atomic_write`: the bytes
go to a temporary file whose name is unique to the writing process (pid and a random token), are
flushed to disk, and are renamed over the target in one step. A reader therefore sees the old file
or the new one, never a mix; two processes rebuilding the same derived file never write into each
other's temporary; and a process killed half-way leaves only a temporary that
:func:`sweep_temporaries` removes later (it knows, from the pid in the name, that its writer is gone).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

# ".<name>.<pid>.<token>.tmp": the pid tells a later process whether the writer can still be alive.
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")


def temporary_name(path: Path) -> Path:
    """A sibling of ``path`` that no other process (and no other call in this one) uses."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def fsync_directory(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(temporary)`` and rename the result over ``path`` in one step.

    ``write`` may be any library's own save function (``faiss.write_index``, ``np.save``...); if it
    or the process fails, ``path`` keeps its old content and the temporary is removed (or, after a
    kill, left for :func:`sweep_temporaries`).
    """
    temporary = temporary_name(path)
    try:
        write(temporary)
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    def write(temporary: Path) -> None:
        temporary.write_bytes(data)

    atomic_write(path, write)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` so that ``path`` holds either the old or the new content, never a mix."""
    atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def sweep_temporaries(directory: Path) -> int:
    """Remove temporaries in ``directory`` left by processes that no longer run; returns how many."""
    removed = 0
    if not directory.is_dir():
        return 0
    for entry in directory.iterdir():
        match = _TEMPORARY.match(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    if removed:
        log.info("removed %d temporary files left in %s by interrupted runs", removed, directory)
    return removed


def size_on_disk(path: Path) -> int:
    """Bytes used by the files under ``path``. Files and folders removed while counting (a reader of the
    index replacing a derived folder) are skipped: ``os.walk`` ignores a folder it can no longer list,
    where ``Path.rglob`` raised ``FileNotFoundError`` and failed the writer's whole run."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def cache_dir() -> Path:
    """Where made models live: ``$SEMSEARCH_CACHE`` or ``~/.cache/semsearch`` (XDG)."""
    if configured := os.environ.get("SEMSEARCH_CACHE"):
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "semsearch"
