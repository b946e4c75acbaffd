"""Tools for the reliability tests: synthetic corpora, an index inspector that checks every
invariant a crash could break, and a runner that starts the real CLI and SIGKILLs it.

The inspector reads the store directly (not through search), so it sees duplicates, orphan
chunks or half-written documents if there are any, instead of results that hide them.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
import torch

import semsearch
from semsearch import corpus
from semsearch.store.schema import sha256

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"

# One torch thread per child: on a shared 2-core machine two spinning OpenMP threads per process
# make the tiny model ~40x slower, which would only make the kill timings noisier.
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

_WORDS = [
    "cell",
    "protein",
    "gene",
    "expression",
    "tumour",
    "growth",
    "factor",
    "receptor",
    "signal",
    "pathway",
    "immune",
    "response",
    "patient",
    "cohort",
    "trial",
    "dose",
    "risk",
    "vitamin",
    "deficiency",
    "infection",
    "mouse",
    "model",
    "tissue",
    "brain",
    "cortex",
    "neuron",
    "blood",
    "pressure",
    "heart",
    "kidney",
    "liver",
    "insulin",
    "glucose",
    "obesity",
    "diet",
    "exercise",
    "sleep",
    "stress",
    "hormone",
    "enzyme",
    "mutation",
    "variant",
    "sequence",
    "genome",
    "binding",
    "membrane",
    "channel",
    "calcium",
    "sodium",
    "potassium",
    "oxygen",
    "mitochondria",
    "stem",
    "differentiation",
    "therapy",
    "drug",
    "inhibitor",
    "antibody",
    "vaccine",
    "virus",
    "bacteria",
]


def synthetic_rows(count: int, words: tuple[int, int] = (60, 260), seed: int = 0) -> list[dict]:
    """SciFact-like records: title, abstract of ``words`` words, a number and a string field."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        body = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(*words)))
        rows.append(
            {"_id": f"s{i}", "title": f"study {i} of {rng.choice(_WORDS)}", "text": body, "year": 1990 + i % 30}
        )
    return rows


def scifact_like_rows(count: int = 5183) -> list[dict]:
    """SciFact itself when the shared data is there, else as many synthetic records of similar size."""
    if SCIFACT.is_file():
        return [json.loads(line) for line in SCIFACT.open(encoding="utf-8")][:count]
    return synthetic_rows(count, words=(80, 300))


def write_rows(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def expected_docs(source: Path) -> dict[str, str]:
    """What a finished index of ``source`` must hold: document id -> SHA-256 of its text."""
    return {doc.id: sha256(doc.text) for doc in corpus.load(source)}


def variant(rows: list[dict], round_number: int, seed: int) -> list[dict]:
    """The corpus a little later: ~5% texts changed, ~3% metadata changed, ~3% removed, ~2% new."""
    rng = random.Random(seed)
    out = []
    for row in rows:
        roll = rng.random()
        if roll < 0.03:
            continue  # removed
        row = dict(row)
        if roll < 0.08:
            row["text"] = f"{row['text']} revised in round {round_number}"
        elif roll < 0.11:
            row["year"] = 3000 + round_number
        out.append(row)
    start = len(rows) + 1000 * round_number
    extra = synthetic_rows(max(len(rows) // 50, 1), seed=seed)
    out.extend({**row, "_id": f"n{round_number}-{start + i}"} for i, row in enumerate(extra))
    return out


@dataclass(frozen=True)
class Snapshot:
    """What an index holds, read from its store, after every invariant has been checked."""

    version: int
    docs: dict[str, str]  # id -> text hash
    rowids: dict[str, int]  # chunk key -> rowid (a re-encoded chunk gets a new rowid)
    chunks: int


class InconsistentIndexError(AssertionError):
    pass


def inspect(directory: Path) -> Snapshot:
    """Open ``directory`` like a user would and check the store row by row."""
    index = semsearch.open(directory)
    rows = index.store.scan(["key", "doc_id", "chunk", "rowid", "text", "text_hash"])
    keys = rows["key"].to_pylist()
    doc_ids = rows["doc_id"].to_pylist()
    chunk_numbers = rows["chunk"].to_pylist()
    rowids = rows["rowid"].to_pylist()
    problems: list[str] = []
    duplicates = [k for k, n in Counter(keys).items() if n > 1]
    if duplicates:
        problems.append(f"duplicate chunk keys: {duplicates[:5]}")
    if len(set(rowids)) != len(rowids):
        problems.append("duplicate rowids")
    per_doc: dict[str, list[int]] = {}
    for doc_id, number in zip(doc_ids, chunk_numbers, strict=True):
        per_doc.setdefault(doc_id, []).append(number)
    broken = [d for d, numbers in per_doc.items() if sorted(numbers) != list(range(len(numbers)))]
    if broken:
        problems.append(f"documents with missing or stale chunks: {broken[:5]}")
    docs: dict[str, str] = {}
    for doc_id, number, text, text_hash in zip(
        doc_ids, chunk_numbers, rows["text"].to_pylist(), rows["text_hash"].to_pylist(), strict=True
    ):
        if number == 0:
            if text is None or sha256(text) != text_hash:
                problems.append(f"document {doc_id}: text does not match its hash")
            docs[doc_id] = text_hash
    if set(docs) != set(per_doc):
        problems.append("documents without chunk 0")
    if index.store.count_docs() != len(docs):
        problems.append("count_docs disagrees with the scan")
    if problems:
        raise InconsistentIndexError(f"{directory}: " + "; ".join(problems))
    return Snapshot(
        version=index.store.version,
        docs=docs,
        rowids=dict(zip(keys, rowids, strict=True)),
        chunks=len(keys),
    )


def check_searchable(directory: Path, expected: dict[str, str], source: Path, sample: int | None = None) -> int:
    """Every (or a sample of) expected document is found by dense search with its own text, and
    the BM25 index covers exactly the expected documents. Returns how many were searched."""
    index = semsearch.open(directory)
    texts = {doc.id: doc.text for doc in corpus.load(source)}
    ids = sorted(expected)
    if sample is not None and sample < len(ids):
        ids = random.Random(0).sample(ids, sample)
    assert set(index.bm25.doc_ids) == set(expected), "BM25 index does not cover exactly the expected documents"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see CHILD_ENV: far faster than two contended threads here
    try:
        vectors = index.encoder.encode([texts[i] for i in ids])
    finally:
        torch.set_num_threads(threads)
    missed = []
    for doc_id, vector in zip(ids, vectors, strict=True):
        found = index.vectors.search(vector, 10)
        if doc_id not in set(found.doc_ids.tolist()):
            missed.append(doc_id)
    assert not missed, f"{len(missed)} documents not found by their own text, e.g. {missed[:5]}"
    return len(ids)


def index_command(source: Path, directory: Path, model: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "semsearch", "-v", "index", str(source), "--index", str(directory),
        "--model", str(model), *extra,
    ]  # fmt: skip


# Log lines (``-v``) that mark the phases of an indexing run, and the phase each one starts.
PHASES = {
    "committed": "batch commits",
    "deleting": "--delete-missing deletion",
    "compacting the store": "compaction",
    "refreshing derived files": "derived files",
    "writing /": "FAISS file write",
    "writing BM25": "BM25 write",
    "index complete": "finishing",
}


@dataclass(frozen=True)
class Trigger:
    """When to kill: ``delay`` seconds after the ``occurrence``-th line containing ``marker``
    (or after the start, when ``marker`` is None)."""

    marker: str | None
    delay: float
    occurrence: int = 1


@dataclass
class RunResult:
    killed: bool
    phase: str  # the phase the run was in when killed (from the last marker it logged)
    returncode: int
    stdout: str
    stderr_lines: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_indexer(command: list[str], trigger: Trigger | None, timeout: float = 600.0) -> RunResult:
    """Run ``command``; SIGKILL it at ``trigger`` if it is still running then."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=ROOT, env=CHILD_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
    )
    lines: list[str] = []
    fired = threading.Event()

    def read_stderr() -> None:
        seen = 0
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if trigger is not None and trigger.marker is not None and trigger.marker in line:
                seen += 1
                if seen == trigger.occurrence:
                    fired.set()
        fired.set()  # the process ended: nothing left to wait for

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    killed = False
    seen_at_kill = None
    if trigger is not None:
        if trigger.marker is not None:
            fired.wait(timeout)
        time.sleep(trigger.delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            seen_at_kill = len(lines)
            killed = True
    try:
        process.wait(timeout=timeout)  # stdout holds two summary lines: it cannot fill its pipe
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    reader.join(timeout=30)
    assert process.stdout is not None
    stdout = process.stdout.read()
    process.stdout.close()
    process.stderr.close()  # type: ignore[union-attr]
    phase = "start-up and first batch"
    for line in lines[:seen_at_kill]:
        for marker, name in PHASES.items():
            if marker in line:
                phase = name
    return RunResult(
        killed=killed,
        phase=phase,
        returncode=process.returncode,
        stdout=stdout,
        stderr_lines=lines,
        seconds=time.monotonic() - started,
    )


# The phases kills are spread over, in turn (shuffled): the first round spends most of its time in
# batch commits, later rounds in updates, deletions, compaction and the derived files.
KILL_PHASES = ["time", "committed", "committed", "compacting", "derived", "faiss", "bm25", "deleting"]


def random_trigger(rng: random.Random, phase: str, typical_seconds: float, first_round: bool) -> Trigger:
    """A kill moment in ``phase``: a random time after the start, or a random delay after a phase begins."""
    if phase == "time":
        return Trigger(None, rng.uniform(0.5, typical_seconds))
    if phase == "committed":
        return Trigger("committed", rng.uniform(0.0, 0.5), occurrence=rng.randint(1, 12 if first_round else 2))
    if phase == "compacting":
        return Trigger("compacting the store", rng.uniform(0.0, 0.1))
    if phase == "derived":
        return Trigger("refreshing derived files", rng.uniform(0.0, 0.5))
    if phase == "faiss":
        return Trigger("writing /", rng.uniform(0.0, 0.05))
    if phase == "bm25":
        return Trigger("writing BM25", rng.uniform(0.0, 0.05))
    return Trigger("deleting", rng.uniform(0.0, 0.1))


def leftovers(directory: Path) -> list[Path]:
    """Temporaries and unused BM25 folders that a completed run should have cleaned up."""
    found = [p for p in directory.rglob(".*.tmp") if "store" not in p.relative_to(directory).parts]
    bm25 = directory / "bm25"
    if bm25.is_dir():
        current = json.loads((bm25 / "state.json").read_text()).get("data")
        found += [p for p in bm25.iterdir() if p.name not in ("state.json", current)]
    return found


def parse_summary(stdout: str) -> dict[str, int]:
    """The counts of the CLI's summary line ("N documents in DIR: a added, u updated, ...")."""
    line = next(line for line in stdout.splitlines() if " added, " in line)
    counts = {"docs": int(line.split()[0])}
    for part in line.split(": ", 1)[1].split(", "):
        number, *name = part.split()
        counts[name[0]] = int(number)
    return counts


def faiss_and_store_agree(directory: Path) -> bool:
    index = semsearch.open(directory)
    vectors = index.vectors
    ids = np.sort(faiss.vector_to_array(vectors.index.id_map))
    return bool(np.array_equal(ids, np.sort(index.store.scan(["rowid"])["rowid"].to_numpy())))
