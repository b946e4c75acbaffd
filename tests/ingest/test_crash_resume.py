"""Kill `semsearch index` with SIGKILL at random moments, then resume it.

After every kill the index must open and hold a consistent set of documents (each one whole, in
its old or its new form; no duplicates). The run that finally completes must leave exactly the
expected documents (ids and text hashes), all searchable, and must not have re-encoded anything
committed before it: a re-encoded chunk would get a new rowid, so the rowids of every chunk that
was already in its final form before a run are compared after it.

Rounds after the first index a changed corpus with ``--delete-missing`` (texts changed, metadata
changed, documents removed and added), so kills also land in updates, deletions, compaction and
the derived-file writes. The default suite kills 3 times; the slow one 20 times over SciFact-sized
input (5,183 documents: SciFact itself when ../shared/data is there, else synthetic ones).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import random_store
from reliability_kit import (
    KILL_PHASES,
    Snapshot,
    Trigger,
    check_searchable,
    expected_docs,
    index_command,
    inspect,
    leftovers,
    parse_summary,
    random_trigger,
    run_indexer,
    scifact_like_rows,
    synthetic_rows,
    variant,
    write_rows,
)

from semsearch.manifest import MANIFEST


@dataclass
class KillLog:
    kills: int = 0
    resumed: int = 0  # kills whose round then completed with the exact expected documents
    runs: int = 0
    rounds: int = 0
    phases: Counter = field(default_factory=Counter)
    searched: int = 0

    def line(self) -> str:
        phases = ", ".join(f"{name} {count}" for name, count in sorted(self.phases.items()))
        return (
            f"{self.resumed}/{self.kills} kills resumed to the exact expected document set "
            f"({self.runs} runs, {self.rounds} rounds, {self.searched} documents searched); kills by phase: {phases}"
        )


def _snapshot(directory: Path, first_run: bool) -> Snapshot | None:
    """The index after a kill; only a first run killed before it wrote its manifest may leave none."""
    if not (directory / MANIFEST).exists():
        assert first_run, "an index that existed lost its manifest"
        return None
    return inspect(directory)


def _final_form(snapshot: Snapshot | None, expected: dict[str, str]) -> dict[str, int]:
    """Chunk rowids of the documents already stored exactly as ``expected`` wants them."""
    if snapshot is None:
        return {}
    done = {doc_id for doc_id, text_hash in snapshot.docs.items() if expected.get(doc_id) == text_hash}
    return {key: rowid for key, rowid in snapshot.rowids.items() if key.split("\x1f")[0] in done}


def kill_and_resume(
    workdir: Path,
    model: Path,
    rows: list[dict],
    kills_wanted: int,
    seed: int,
    scripted: list[Trigger] | None = None,
    kills_per_round: int = 6,
    typical_seconds: float = 20.0,
    search_sample: int | None = 300,
) -> KillLog:
    rng = random.Random(seed)
    phases: list[str] = []
    directory = workdir / "index"
    log = KillLog()
    previous: dict[str, str] = {}
    while log.kills < kills_wanted:
        log.rounds += 1
        if log.rounds > 1:
            rows = variant(rows, log.rounds, seed + log.rounds)
        source = write_rows(workdir / f"corpus-{log.rounds}.jsonl", rows)
        expected = expected_docs(source)
        extra = ("--delete-missing",) if log.rounds > 1 else ()
        kills_this_round = 0
        while True:
            before = _snapshot(directory, first_run=log.rounds == 1)
            keep = _final_form(before, expected)
            trigger = None
            if log.kills < kills_wanted and kills_this_round < kills_per_round:
                if not phases:
                    phases = [p for p in KILL_PHASES if extra or p != "deleting"]
                    rng.shuffle(phases)
                phase = phases.pop()
                trigger = scripted.pop(0) if scripted else random_trigger(rng, phase, typical_seconds, not extra)
            result = run_indexer(index_command(source, directory, model, *extra), trigger)
            log.runs += 1
            if result.killed:
                log.kills += 1
                kills_this_round += 1
                log.phases[result.phase] += 1
                after = _snapshot(directory, first_run=log.rounds == 1)
                if after is not None:
                    wrong = {d: h for d, h in after.docs.items() if h not in (expected.get(d), previous.get(d))}
                    assert not wrong, f"documents in neither the old nor the new form: {list(wrong)[:5]}"
                    lost = {k for k, r in keep.items() if after.rowids.get(k) != r}
                    assert not lost, f"a kill lost or rewrote committed chunks: {sorted(lost)[:5]}"
                continue
            assert result.returncode == 0, "".join(result.stderr_lines[-20:])
            after = inspect(directory)
            assert after.docs == expected, (
                f"missing {len(set(expected) - set(after.docs))}, extra {len(set(after.docs) - set(expected))}, "
                f"wrong text {sum(1 for d in expected if after.docs.get(d) not in (None, expected[d]))}"
            )
            rewritten = {k for k, r in keep.items() if after.rowids.get(k) != r}
            assert not rewritten, f"committed chunks were re-encoded: {sorted(rewritten)[:5]}"
            assert not leftovers(directory), leftovers(directory)
            summary = parse_summary(result.stdout)
            assert summary["added"] == len(set(expected) - set(before.docs if before else {}))
            assert summary["docs"] == len(expected)
            log.searched += check_searchable(directory, expected, source, sample=search_sample)
            log.resumed += kills_this_round
            break
        previous = expected
    return log


def test_three_kills_then_resume(tmp_path: Path, tiny_model: Path) -> None:
    """A kill mid-batch, one in compaction and one in the BM25 write; the next run completes."""
    scripted = [
        Trigger("committed", 0.1, occurrence=2),
        Trigger("compacting the store", 0.0),
        Trigger("writing BM25", 0.0),
    ]
    log = kill_and_resume(
        tmp_path, tiny_model, synthetic_rows(500, words=(20, 200)), kills_wanted=3, seed=1, scripted=scripted,
        search_sample=None,
    )  # fmt: skip
    print(log.line())
    assert log.kills == 3 and log.resumed == 3


@pytest.mark.slow
def test_twenty_random_kills_on_scifact_sized_input(tmp_path: Path, tiny_model: Path) -> None:
    rows = scifact_like_rows(5183)
    assert len(rows) == 5183
    log = kill_and_resume(tmp_path, tiny_model, rows, kills_wanted=20, seed=4, search_sample=None)
    print(log.line())
    assert log.kills >= 20 and log.resumed == log.kills


def test_deleting_missing_documents_is_one_commit(tmp_path: Path) -> None:
    """So a kill during --delete-missing leaves all of them or none (more ids than one IN list holds)."""
    store, _ = random_store(tmp_path / "store", docs=1500)
    before = store.version
    assert store.delete([f"d{i}" for i in range(0, 1500, 2)]) == 750
    assert store.version == before + 1 and store.count_docs() == 750
