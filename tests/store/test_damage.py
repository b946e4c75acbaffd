"""Damaged files: a truncated, emptied or overwritten file of an index gives an error that names
the file and what to do, or (derived data) is rebuilt with the same results. Never a raw traceback,
never silently wrong results. Plus: artifacts load without pickle.
"""

from __future__ import annotations

import json
import logging
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import write_jsonl

import semsearch
from semsearch.cli import main
from semsearch.errors import IndexDamagedError, SemsearchError
from semsearch.facade.maintenance import repair_index
from semsearch.fsutil import file_sha256
from semsearch.ingest import IndexOptions, build_index
from semsearch.manifest import BACKUP, MANIFEST
from semsearch.store import damage as lance_files
from semsearch.store.schema import quote

QUERIES = ["document number 7 about topic 1", "topic 2", "zebra"]


def rows(n: int = 60) -> list[dict]:
    return [
        {"_id": f"doc{i}", "text": f"document number {i} about topic {i % 3} " * (1 + i % 9), "group": i % 3}
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> tuple[Path, Path]:
    """An index written in several commits (batches of 16, then compaction), and its source."""
    base = tmp_path_factory.mktemp("damage")
    source = write_jsonl(base / "c.jsonl", rows())
    build_index(source, base / "idx", IndexOptions(model=str(tiny_model), progress=False, batch_docs=16))
    return base / "idx", source


@pytest.fixture(scope="module")
def reference(built: tuple[Path, Path]) -> dict[tuple[str, str], list[str]]:
    index = semsearch.open(built[0])
    return {(q, m): [h.id for h in index.search(q, k=10, mode=m).hits] for q in QUERIES for m in ("dense", "bm25")}


@pytest.fixture
def index_copy(built: tuple[Path, Path], tmp_path: Path) -> Path:
    target = tmp_path / "idx"
    shutil.copytree(built[0], target)
    return target


def results(directory: Path) -> dict[tuple[str, str], list[str]]:
    index = semsearch.open(directory)
    return {(q, m): [h.id for h in index.search(q, k=10, mode=m).hits] for q in QUERIES for m in ("dense", "bm25")}


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def flip(path: Path) -> None:
    """Overwrite bytes in the middle with others: same size, different content."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, min(middle + 64, len(data))):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xffnot what this file should hold\x13" * 10)


DAMAGES: dict[str, Callable[[Path], None]] = {"truncated": truncate, "emptied": empty, "overwritten": garbage}


def one_line_cli_error(*args: str | Path) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


# --- manifest.json: not derivable; a backup copy is kept ----------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "emptied", "overwritten", "null", "a list", "missing", "{}"])
def test_damaged_manifest_is_named_and_repair_restores_it_from_backup(
    index_copy: Path, reference: dict, damage: str
) -> None:
    path = index_copy / MANIFEST
    {**DAMAGES, "null": lambda p: p.write_text("null"), "a list": lambda p: p.write_text("[]"),
     "missing": lambda p: p.unlink(), "{}": lambda p: p.write_text("{}")}[damage](path)  # fmt: skip
    with pytest.raises(IndexDamagedError) as info:
        semsearch.open(index_copy)
    assert str(path) in str(info.value) and f"semsearch.repair({str(index_copy)!r})" in str(info.value)
    message = one_line_cli_error("search", "topic", "--index", index_copy)
    assert str(path) in message and "repair" in message

    summary = repair_index(index_copy)
    assert summary.manifest_restored and not summary.store.changed
    assert results(index_copy) == reference


def test_manifest_and_backup_both_damaged_say_to_rebuild(index_copy: Path) -> None:
    garbage(index_copy / MANIFEST)
    empty(index_copy / BACKUP)
    with pytest.raises(IndexDamagedError, match=rf"{MANIFEST} is damaged.*delete .* and index the corpus again"):
        semsearch.open(index_copy)
    with pytest.raises(IndexDamagedError, match="backup cannot replace it"):
        repair_index(index_copy)


def test_manifest_of_another_format_is_refused_not_called_damaged(index_copy: Path) -> None:
    data = json.loads((index_copy / MANIFEST).read_text())
    (index_copy / MANIFEST).write_text(json.dumps({**data, "format": 99}))
    with pytest.raises(SemsearchError, match="index format 99, this version of semsearch reads format 1"):
        semsearch.open(index_copy)


# --- the LanceDB store: the record; damaged versions are set aside, the newest intact one restored -------------


def newest_manifest(directory: Path) -> lance_files.VersionFile:
    return lance_files.version_files(directory / "store" / "chunks.lance")[-1]


@pytest.mark.parametrize("damage", ["truncated", "emptied", "overwritten", "flipped"])
def test_damaged_store_version_is_named_and_repair_goes_back_one_version(
    index_copy: Path, built: tuple[Path, Path], reference: dict, tiny_model: Path, damage: str
) -> None:
    """The newest version is the compaction: going back one version loses no document."""
    newest = newest_manifest(index_copy)
    {**DAMAGES, "flipped": flip}[damage](newest.path)
    with pytest.raises(IndexDamagedError) as info:
        semsearch.open(index_copy)
    message = str(info.value)
    assert str(newest.path) in message and f"version {newest.version} of the store" in message
    assert f"semsearch.repair({str(index_copy)!r})" in message
    cli_error = one_line_cli_error("search", "topic", "--index", index_copy)
    assert str(newest.path) in cli_error and f"semsearch repair --index {index_copy}" in cli_error  # its own words

    repaired = CliRunner().invoke(main, ["repair", "--index", str(index_copy)])
    assert repaired.exit_code == 0 and "set aside damaged" in repaired.stdout and "60 documents" in repaired.stdout
    kept = list((index_copy / "store").glob(f"damaged-*/chunks.lance/_versions/{newest.path.name}"))
    assert len(kept) == 1 and kept[0].is_file()  # set aside, not deleted
    assert semsearch.open(index_copy).store.version == newest.version - 1
    assert results(index_copy) == reference
    rerun = build_index(built[1], index_copy, IndexOptions(model=str(tiny_model), progress=False))
    assert (rerun.added, rerun.unchanged, rerun.docs) == (0, 60, 60)


@pytest.mark.parametrize("damage", ["truncated", "emptied", "overwritten", "removed"])
def test_damaged_data_file_is_named_when_read_and_repair_finds_an_intact_version(
    index_copy: Path, reference: dict, damage: str
) -> None:
    table_dir = index_copy / "store" / "chunks.lance"
    *_, before, newest = lance_files.version_files(table_dir)
    (data_file,) = set(lance_files.referenced_data_files(newest.path, table_dir)) - set(
        lance_files.referenced_data_files(before.path, table_dir)
    )  # the file the compaction wrote
    {**DAMAGES, "removed": lambda p: p.unlink()}[damage](data_file)
    index = semsearch.open(index_copy)  # opening reads only the version manifest
    with pytest.raises(IndexDamagedError) as info:
        index.search("topic", k=3, mode="dense")
    assert str(data_file) in str(info.value) and "semsearch.repair(" in str(info.value)
    assert str(data_file) in one_line_cli_error("search", "topic", "--index", index_copy)

    summary = repair_index(index_copy)  # the version before compaction reads the batch files instead
    assert summary.docs == 60 and summary.store.damaged_versions
    assert results(index_copy) == reference


def test_damage_in_every_version_says_to_index_again(index_copy: Path) -> None:
    table_dir = index_copy / "store" / "chunks.lance"
    for data_file in (table_dir / "data").iterdir():
        truncate(data_file)
    with pytest.raises(IndexDamagedError, match="truncated"):
        semsearch.open(index_copy).search("topic", mode="bm25")
    summary = repair_index(index_copy)  # only the versions from before the first batch are intact
    assert summary.docs == 0 and summary.store.intact_version <= 2


def test_text_that_does_not_match_its_hash_is_never_returned(index_copy: Path) -> None:
    """A flipped byte inside a text (which lance itself cannot notice) is caught by the stored hash."""
    index = semsearch.open(index_copy)
    row = index.store.scan(["key", "doc_id", "chunk", "rowid", "text", "text_hash"], "doc_id = 'doc7' AND chunk = 0")
    # Write the damage through lance, as a bit flip in a data page would look to a reader.
    changed = row["text"][0].as_py() + "!"
    index.store.dataset.update({"text": quote(changed)}, where="doc_id = 'doc7' AND chunk = 0")  # a SQL literal
    with pytest.raises(IndexDamagedError, match="text of document 'doc7' .* does not match its hash"):
        semsearch.open(index_copy).search("document number 7 about topic 1", k=60, mode="bm25")


# --- derived files: rebuilt from the store, same results ---------------------------------------------------------


def faiss_files(directory: Path) -> tuple[Path, Path]:
    path = directory / "faiss" / "index.Flat.faiss"
    return path, path.with_name(path.name + ".json")


@pytest.mark.parametrize("damage", ["truncated", "emptied", "overwritten", "flipped", "checksum damaged", "removed"])
def test_damaged_faiss_file_is_rebuilt(
    index_copy: Path, reference: dict, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path, checksum = faiss_files(index_copy)
    before = path.read_bytes()
    target = checksum if damage == "checksum damaged" else path
    {**DAMAGES, "flipped": flip, "checksum damaged": garbage, "removed": lambda p: p.unlink()}[damage](target)
    with caplog.at_level(logging.INFO, logger="semsearch"):
        assert results(index_copy) == reference
    if damage != "removed":
        assert any("rebuilding it from the store" in r.getMessage() for r in caplog.records)
    assert path.read_bytes() == before  # rebuilt identically (flat index, same rowids)
    assert json.loads(checksum.read_text())["sha256"] == file_sha256(path)


def bm25_folder(directory: Path) -> Path:
    state = json.loads((directory / "bm25" / "state.json").read_text())
    return directory / "bm25" / state["data"]


@pytest.mark.parametrize(
    "target", ["data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy", "vocab.index.json",
               "params.index.json", "state.json", "folder"]
)  # fmt: skip
@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_damaged_bm25_file_is_rebuilt(
    index_copy: Path, reference: dict, target: str, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = bm25_folder(index_copy)
    if target == "folder":
        shutil.rmtree(folder)
    else:
        path = index_copy / "bm25" / "state.json" if target == "state.json" else folder / target
        {"truncated": truncate, "flipped": flip}[damage](path)
    with caplog.at_level(logging.INFO, logger="semsearch"):
        assert results(index_copy) == reference
    assert any("BM25 index" in r.getMessage() and "rebuilding" in r.getMessage() for r in caplog.records)
    state = json.loads((index_copy / "bm25" / "state.json").read_text())
    rebuilt = index_copy / "bm25" / state["data"]
    assert all(file_sha256(rebuilt / name) == digest for name, digest in state["files"].items())
    assert sorted(p.name for p in (index_copy / "bm25").iterdir()) == sorted(["state.json", state["data"]])


def test_derived_files_that_cannot_be_saved_still_answer(
    index_copy: Path, reference: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only index directory: the rebuilt FAISS and BM25 indexes live in memory only."""
    shutil.rmtree(index_copy / "faiss")
    shutil.rmtree(index_copy / "bm25")

    def refuse(*_: object, **__: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("semsearch.ann.faiss.atomic_write", refuse)
    monkeypatch.setattr("bm25s.BM25.save", refuse)
    assert results(index_copy) == reference
    assert not (index_copy / "faiss" / "index.Flat.faiss").exists()


def test_a_garbled_lock_file_does_not_matter(index_copy: Path, built: tuple[Path, Path], tiny_model: Path) -> None:
    garbage(index_copy / ".lock")
    summary = build_index(built[1], index_copy, IndexOptions(model=str(tiny_model), progress=False))
    assert summary.unchanged == 60


def test_repair_of_an_intact_index_changes_nothing(index_copy: Path, reference: dict) -> None:
    version = semsearch.open(index_copy).store.version
    result = CliRunner().invoke(main, ["repair", "--index", str(index_copy)])
    assert result.exit_code == 0 and "no damage found" in result.stdout and "60 documents" in result.stdout
    assert semsearch.open(index_copy).store.version == version
    assert results(index_copy) == reference


# --- no pickle anywhere in loading ---------------------------------------------------------------------------------


def test_artifacts_load_without_pickle(index_copy: Path, reference: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Manifest (JSON), FAISS (its own format), BM25 (JSON + .npy without pickle), model (safetensors)."""
    calls: list[str] = []

    def forbidden(name: str) -> Callable[..., object]:
        def fail(*_: object, **__: object) -> object:
            calls.append(name)
            raise AssertionError(f"{name} called while loading an index")

        return fail

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, forbidden(f"pickle.{name}"))
    monkeypatch.setattr(pickle, "Unpickler", forbidden("pickle.Unpickler"))
    real_np_load = np.load

    def checked_np_load(*args: object, **kwargs: object) -> object:
        assert not kwargs.get("allow_pickle"), "np.load with allow_pickle=True"
        calls.append("np.load")
        return real_np_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", checked_np_load)
    assert results(index_copy) == reference
    assert "np.load" in calls and not [c for c in calls if c.startswith("pickle")]
    raw = (index_copy / "faiss" / "index.Flat.faiss").read_bytes()
    assert not raw.startswith(b"\x80")  # not a pickle stream


# --- a first run killed while creating the store ---------------------------------------------------------------


def test_a_store_left_without_any_version_is_created_again(
    tmp_path: Path, built: tuple[Path, Path], tiny_model: Path
) -> None:
    """A kill inside table creation can leave ``chunks.lance`` with files but no version: nothing was committed."""
    directory = tmp_path / "idx"
    (directory / "store" / "chunks.lance" / "data").mkdir(parents=True)
    (directory / "store" / "chunks.lance" / "data" / "partial.lance").write_bytes(b"half")
    with pytest.raises(IndexDamagedError, match="first indexing run .* was interrupted"):
        semsearch.open(directory)  # no manifest yet: the store was never finished
    summary = build_index(built[1], directory, IndexOptions(model=str(tiny_model), progress=False))
    assert summary.docs == 60 and len(semsearch.open(directory)) == 60
