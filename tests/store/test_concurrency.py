"""Concurrency, with real processes: a reader opened while a writer commits sees a whole version
(old or new, never a mix); a second writer fails clearly or waits; derived files rebuilt by several
processes at once never mix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_kit import CHILD_ENV, ROOT, expected_docs, inspect, write_rows

import semsearch
from semsearch.fsutil import file_sha256, size_on_disk, temporary_name
from semsearch.ingest import IndexOptions, build_index
from semsearch.manifest import MANIFEST

N_DOCS = 120


def generation(kind: str) -> list[dict]:
    """Two versions of one corpus: short texts (one chunk) or long ones (several chunks each)."""
    if kind == "short":
        return [{"_id": f"d{i}", "text": f"alpha short version of document {i}", "v": "short"} for i in range(N_DOCS)]
    return [{"_id": f"d{i}", "text": f"beta long version of document {i} " * 40, "v": "long"} for i in range(N_DOCS)]


def start(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=CHILD_ENV, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "semsearch", *map(str, args)]


HOLD_LOCK = """
import sys
from pathlib import Path
from semsearch.store.lock import writer_lock
with writer_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_second_writer_fails_clearly_or_waits_and_never_corrupts(tmp_path: Path, tiny_model: Path) -> None:
    source = write_rows(tmp_path / "c.jsonl", generation("short"))
    directory = tmp_path / "idx"
    holder = start(HOLD_LOCK, str(directory))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        refused = subprocess.run(
            cli("index", source, "--index", directory, "--model", tiny_model),
            cwd=ROOT, env=CHILD_ENV, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        assert f"is being written by another process (pid {holder.pid})" in refused.stderr
        assert "--wait SECONDS" in refused.stderr
        assert not (directory / MANIFEST).exists() and not (directory / "store").exists()  # untouched

        waiter = subprocess.Popen(
            cli("-v", "index", source, "--index", directory, "--model", tiny_model, "--wait", "300"),
            cwd=ROOT, env=CHILD_ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert waiter.stderr is not None
        for line in waiter.stderr:
            if "waiting up to 300 s for the writer lock" in line:
                break
        assert waiter.poll() is None and not (directory / MANIFEST).exists()
        holder.communicate("release\n", timeout=60)
        out, _ = waiter.communicate(timeout=300)
        assert waiter.returncode == 0 and f"{N_DOCS} added" in out
    finally:
        holder.kill()
    assert inspect(directory).docs == expected_docs(source)


@pytest.mark.slow
def test_two_writers_started_together_both_finish_one_after_the_other(tmp_path: Path, tiny_model: Path) -> None:
    source = write_rows(tmp_path / "c.jsonl", generation("long"))
    directory = tmp_path / "idx"
    command = cli("index", source, "--index", directory, "--model", tiny_model, "--wait", "300")
    writers = [
        subprocess.Popen(command, cwd=ROOT, env=CHILD_ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=600)[0] for w in writers]
    assert [w.returncode for w in writers] == [0, 0]
    assert sorted(f"{N_DOCS} added" in out for out in outputs) == [False, True]
    assert any(f"{N_DOCS} unchanged" in out for out in outputs)
    snapshot = inspect(directory)
    assert snapshot.docs == expected_docs(source)


WRITER = """
import sys
from pathlib import Path
from semsearch.ingest import IndexOptions, build_index
directory, model, short, long, rounds = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
options = IndexOptions(model=model, progress=False, batch_docs=10_000)  # one commit per run
for number in range(rounds):
    build_index(long if number % 2 == 0 else short, directory, options)
    print("committed", number, flush=True)
"""


def test_a_reader_sees_a_whole_version_while_a_writer_commits(tmp_path: Path, tiny_model: Path) -> None:
    """The writer swaps every document between a one-chunk and a many-chunk version, one commit each;
    the reader, opening the index again and again meanwhile, must always see one version whole."""
    short = write_rows(tmp_path / "short.jsonl", generation("short"))
    long = write_rows(tmp_path / "long.jsonl", generation("long"))
    versions = {"short": expected_docs(short), "long": expected_docs(long)}
    directory = tmp_path / "idx"
    build_index(short, directory, IndexOptions(model=str(tiny_model), progress=False))
    writer = start(WRITER, str(directory), str(tiny_model), str(short), str(long), "6")
    seen = {"short": 0, "long": 0}
    try:
        while writer.poll() is None:
            snapshot = inspect(directory)  # a fresh open each time, every invariant checked
            kind = next((k for k, docs in versions.items() if snapshot.docs == docs), None)
            assert kind is not None, "the reader saw a mix of two versions"
            seen[kind] += 1
            hits = semsearch.open(directory).search("version of document", k=N_DOCS, mode="bm25").hits
            assert len(hits) == N_DOCS and len({h.metadata["v"] for h in hits}) == 1  # one version, maybe newer
            time.sleep(0.05)
        _, errors = writer.communicate(timeout=60)
        assert writer.returncode == 0, errors[-2000:]
    finally:
        writer.kill()
    assert seen["short"] >= 1 and seen["long"] >= 1, seen  # both versions were observed, so the test saw commits
    assert inspect(directory).docs == versions["short"]  # the last of 6 runs writes the short version


SEARCH = ["search", "version of document", "-k", "5", "--mode", "hybrid", "--json", "--index"]


def test_readers_rebuilding_derived_files_at_once_never_mix_them(tmp_path: Path, tiny_model: Path) -> None:
    source = write_rows(tmp_path / "c.jsonl", generation("long"))
    directory = tmp_path / "idx"
    build_index(source, directory, IndexOptions(model=str(tiny_model), progress=False))
    expected = semsearch.open(directory).search("version of document", k=5).to_json()
    for derived in ("faiss", "bm25"):
        for path in (directory / derived).iterdir():
            path.unlink() if path.is_file() else shutil.rmtree(path)
    readers = [
        subprocess.Popen(cli(*SEARCH, directory), cwd=ROOT, env=CHILD_ENV, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [r.communicate(timeout=300) for r in readers]
    assert [r.returncode for r in readers] == [0, 0], [o[1][-500:] for o in outputs]
    assert all(json.loads(out) == expected for out, _ in outputs)
    faiss_file = directory / "faiss" / "index.Flat.faiss"
    assert json.loads(faiss_file.with_name(faiss_file.name + ".json").read_text())["sha256"] == file_sha256(faiss_file)
    state = json.loads((directory / "bm25" / "state.json").read_text())
    assert all(file_sha256(directory / "bm25" / state["data"] / n) == h for n, h in state["files"].items())
    assert not [p for p in directory.rglob("*.tmp")]  # no temporary left behind


def test_temporary_names_are_unique_per_call_and_process(tmp_path: Path) -> None:
    names = {temporary_name(tmp_path / "index.faiss") for _ in range(1000)}
    assert len(names) == 1000 and all(f".index.faiss.{os.getpid()}." in n.name for n in names)


def test_size_on_disk_skips_a_folder_removed_while_counting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader may replace a derived folder (bm25/data-*) while the writer sums the index's size."""
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "a").write_bytes(b"x" * 10)
    gone = tmp_path / "gone"
    gone.mkdir()
    (gone / "b").write_bytes(b"y" * 5)
    listing = os.scandir

    def vanishing(path: str | int | os.PathLike[str] = ".") -> object:
        if not isinstance(path, int) and Path(path) == gone:  # rmtree lists by file descriptor
            shutil.rmtree(gone)
        return listing(path)

    monkeypatch.setattr(os, "scandir", vanishing)
    assert size_on_disk(tmp_path) == 10
