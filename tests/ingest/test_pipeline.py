"""Incremental indexing: add, re-encode changed, skip unchanged, delete missing; BM25 and FAISS follow."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import write_jsonl

import semsearch
import semsearch.corpus
from semsearch.chunking import DEFAULT_WINDOW, ChunkConfig
from semsearch.errors import BadRecordError, IncompatibleEncoderError, IndexLockedError, SemsearchError
from semsearch.ingest import IndexOptions, build_index
from semsearch.ingest.prepare import chunking_of
from semsearch.store.lock import writer_lock
from semsearch.types import Backend, Pooling


def corpus_rows(n: int = 30) -> list[dict]:
    return [{"_id": f"doc{i}", "text": f"document number {i} about topic {i % 3}", "group": i % 3} for i in range(n)]


@pytest.fixture
def options(tiny_model: Path) -> IndexOptions:
    return IndexOptions(model=str(tiny_model), progress=False, batch_docs=8)


def test_rerun_on_unchanged_corpus_encodes_nothing(tmp_path: Path, options: IndexOptions) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", corpus_rows())
    first = build_index(source, tmp_path / "idx", options)
    assert (first.added, first.encoded_docs, first.docs) == (30, 30, 30)
    second = build_index(source, tmp_path / "idx", options)
    assert (second.added, second.updated, second.unchanged, second.encoded_docs) == (0, 0, 30, 0)
    assert second.docs == 30 and second.chunks == first.chunks


def test_changed_text_is_reencoded_metadata_change_is_not(tmp_path: Path, options: IndexOptions) -> None:
    rows = corpus_rows()
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    build_index(source, tmp_path / "idx", options)
    rows[0]["text"] = "a brand new zebra text"
    rows[1]["group"] = 99
    rows.append({"_id": "new", "text": "an added document", "group": 1})
    summary = build_index(write_jsonl(source, rows), tmp_path / "idx", options)
    assert (summary.added, summary.updated, summary.unchanged, summary.encoded_docs) == (1, 2, 28, 2)
    index = semsearch.open(tmp_path / "idx")
    assert index.search("zebra", k=1, mode="bm25").hits[0].id == "doc0"
    assert index.search("document", k=40, mode="dense", where="group = 99").hits[0].metadata["group"] == 99
    assert len(index) == 31


def test_delete_missing_removes_documents_everywhere(tmp_path: Path, options: IndexOptions) -> None:
    rows = corpus_rows()
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    build_index(source, tmp_path / "idx", options)
    kept = rows[:20]
    without_flag = build_index(write_jsonl(source, kept), tmp_path / "idx", options)
    assert without_flag.deleted == 0 and without_flag.docs == 30
    summary = build_index(source, tmp_path / "idx", IndexOptions(**{**options.__dict__, "delete_missing": True}))
    assert summary.deleted == 10 and summary.docs == 20
    index = semsearch.open(tmp_path / "idx")
    for mode in ("dense", "bm25", "hybrid"):
        ids = {h.id for h in index.search("document number", k=50, mode=mode).hits}
        assert ids <= {r["_id"] for r in kept}, mode
        assert len(ids) == 20, mode


def test_delete_missing_keeps_a_document_whose_new_record_is_skipped_as_bad(
    tmp_path: Path, options: IndexOptions
) -> None:
    rows = corpus_rows(6)
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    build_index(source, tmp_path / "idx", options)
    rows[1]["group"] = "one"  # a number before: this metadata type cannot be stored
    rows[2]["text"] = ""  # an empty text is no document
    del rows[5]  # really missing
    lenient = IndexOptions(**{**options.__dict__, "delete_missing": True, "skip_bad": True})
    summary = build_index(write_jsonl(source, rows), tmp_path / "idx", lenient)
    assert (summary.skipped_bad, summary.deleted, summary.docs) == (2, 1, 5)
    kept = semsearch.open(tmp_path / "idx").store.documents(["doc1", "doc2"])
    assert (kept["doc1"].text, kept["doc1"].metadata) == ("document number 1 about topic 1", {"group": 1})
    assert kept["doc2"].text == "document number 2 about topic 2"


def test_a_deleted_vector_is_never_served_under_a_new_documents_name(tmp_path: Path, options: IndexOptions) -> None:
    """The newest document is deleted by a run that does not rebuild the FAISS file (lancedb backend),
    then another is added: its vector needs a rowid never given before, or the old file (same id set)
    would answer with the deleted vector."""
    source, directory = tmp_path / "c.jsonl", tmp_path / "idx"
    rows = [{"_id": "a", "text": "cats purr on sofas"}, {"_id": "b", "text": "dogs bark at night"}]
    deleted = {"_id": "c", "text": "volcanic eruptions in iceland"}
    lance = IndexOptions(**{**options.__dict__, "backend": Backend.LANCEDB, "delete_missing": True})
    build_index(write_jsonl(source, [*rows, deleted]), directory, options)
    build_index(write_jsonl(source, rows), directory, lance)
    build_index(write_jsonl(source, [*rows, {"_id": "d", "text": "stock market crash of 1929"}]), directory, lance)
    found = {
        backend: [
            (h.id, round(h.score, 4))
            for h in semsearch.open(directory, backend).search(deleted["text"], 3, mode="dense").hits
        ]
        for backend in (Backend.FAISS, Backend.LANCEDB)
    }
    assert found[Backend.FAISS] == found[Backend.LANCEDB]
    assert found[Backend.FAISS][0][1] < 0.9999  # the deleted document's own vector would score 1


def test_rowids_stay_unique_when_the_only_document_changes(tmp_path: Path, options: IndexOptions) -> None:
    source, directory = tmp_path / "c.jsonl", tmp_path / "idx"
    build_index(write_jsonl(source, [{"_id": "a", "text": "cats purr"}]), directory, options)
    first = semsearch.open(directory).store.scan(["rowid"])["rowid"].to_pylist()
    build_index(write_jsonl(source, [{"_id": "a", "text": "dogs bark"}]), directory, options)
    build_index(write_jsonl(source, [{"_id": "a", "text": "dogs bark"}, {"_id": "b", "text": "x"}]), directory, options)
    rows = semsearch.open(directory).store.scan(["rowid", "doc_id"]).to_pylist()
    assert len({r["rowid"] for r in rows}) == 2 and not {r["rowid"] for r in rows} & set(first)


def test_negative_numbers_filter_in_every_mode(tmp_path: Path, options: IndexOptions) -> None:
    build_index(write_jsonl(tmp_path / "c.jsonl", corpus_rows()), tmp_path / "idx", options)
    index = semsearch.open(tmp_path / "idx")
    for mode in ("dense", "bm25", "hybrid"):
        for where, groups in (("group > - -1", {2}), ("group > -1", {0, 1, 2})):
            ids = {h.id for h in index.search("document number", k=50, mode=mode, where=where).hits}
            assert ids == {f"doc{i}" for i in range(30) if i % 3 in groups}, (mode, where)


def test_like_escapes_with_a_backslash_and_equality_takes_it_literally(tmp_path: Path, options: IndexOptions) -> None:
    """As README "Searching" says: in a LIKE pattern a backslash makes the next %, _ or backslash literal
    (DataFusion's default); elsewhere a backslash is just a character."""
    titles = {"p": "50% off", "n": "50 percent", "u": "a_b", "x": "axb", "b": "back\\slash"}
    rows = [{"_id": i, "title": t, "text": f"offer number {i}"} for i, t in titles.items()]
    build_index(write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "idx", options)
    index = semsearch.open(tmp_path / "idx")
    cases = {
        r"title LIKE '%50\%%'": {"p"},
        "title LIKE '%50%'": {"p", "n"},
        r"title LIKE 'a\_b'": {"u"},
        "title LIKE 'a_b'": {"u", "x"},
        r"title LIKE '%\\%'": {"b"},
        r"title = 'back\slash'": {"b"},
    }
    for mode in ("dense", "bm25", "hybrid"):
        for where, expected in cases.items():
            assert {h.id for h in index.search("offer", k=10, mode=mode, where=where).hits} == expected, (mode, where)


def test_id_in_a_filter_is_the_document_id_even_beside_a_metadata_field_id(
    tmp_path: Path, options: IndexOptions
) -> None:
    rows = [{"_id": "d1", "id": "legacy-7", "text": "cats purr"}, {"_id": "d2", "id": "legacy-8", "text": "cats nap"}]
    build_index(write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "idx", options)
    index = semsearch.open(tmp_path / "idx")
    for mode in ("dense", "bm25", "hybrid"):
        hits = index.search("cats", k=5, mode=mode, where="id = 'd1'").hits
        assert [(h.id, h.metadata) for h in hits] == [("d1", {"id": "legacy-7"})], mode
        assert index.search("cats", k=5, mode=mode, where="id = 'legacy-7'").hits == [], mode


def test_long_documents_are_chunked_and_returned_once(tmp_path: Path, options: IndexOptions) -> None:
    long_text = " ".join(f"word{i}" for i in range(400)) + " needle"
    source = write_jsonl(tmp_path / "c.jsonl", [{"_id": "long", "text": long_text}, {"_id": "short", "text": "hay"}])
    summary = build_index(source, tmp_path / "idx", options)
    assert summary.docs == 2 and summary.chunks > 3
    hits = semsearch.open(tmp_path / "idx").search("needle", k=5, mode="dense").hits
    assert sorted(h.id for h in hits) == ["long", "short"]
    assert next(h for h in hits if h.id == "long").text == long_text


def test_a_different_encoder_is_refused(tmp_path: Path, options: IndexOptions) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", corpus_rows(5))
    build_index(source, tmp_path / "idx", options)
    with pytest.raises(IncompatibleEncoderError, match="pooling"):
        build_index(source, tmp_path / "idx", IndexOptions(**{**options.__dict__, "pooling": Pooling.CLS}))
    with pytest.raises(IncompatibleEncoderError, match="model"):
        build_index(source, tmp_path / "idx", IndexOptions(model="default", progress=False))
    # not naming a model is asking for the index's own: the update goes through
    assert build_index(source, tmp_path / "idx", IndexOptions(progress=False)).unchanged == 5


def test_window_defaults_to_128_and_an_update_keeps_the_index_own(tmp_path: Path, options: IndexOptions) -> None:
    long_text = " ".join(f"word{i}" for i in range(300))
    source = write_jsonl(tmp_path / "c.jsonl", [{"_id": "long", "text": long_text}])
    default = build_index(source, tmp_path / "new", options)
    assert json.loads((tmp_path / "new" / "manifest.json").read_text())["max_length"] == DEFAULT_WINDOW == 128
    wide = IndexOptions(**{**options.__dict__, "window": 64, "overlap": 16})
    narrow = build_index(source, tmp_path / "old", wide)
    assert narrow.chunks > default.chunks  # shorter windows: more of them over the same text
    rows = [{"_id": "long", "text": long_text}, {"_id": "new", "text": " ".join(["word"] * 100)}]
    update = build_index(write_jsonl(source, rows), tmp_path / "old", options)  # window 64, overlap 16: its own
    assert update.added == 1 and update.chunks == narrow.chunks + 2
    with pytest.raises(IncompatibleEncoderError, match="64-token windows overlapping by 16"):
        build_index(source, tmp_path / "old", IndexOptions(**{**options.__dict__, "window": 128}))
    with pytest.raises(IncompatibleEncoderError, match="64-token windows overlapping by 16"):
        build_index(source, tmp_path / "old", IndexOptions(**{**options.__dict__, "overlap": 8}))


@pytest.mark.parametrize(("model_reads", "window", "overlap"), [(512, 128, 32), (128, 128, 32), (48, 48, 12)])
def test_a_new_index_cuts_within_what_the_model_reads(model_reads: int, window: int, overlap: int) -> None:
    encoder = SimpleNamespace(name="m", max_length=model_reads)
    assert chunking_of(None, encoder, IndexOptions()) == ChunkConfig(window, overlap)  # type: ignore[arg-type]


def test_a_window_longer_than_the_model_reads_is_refused(tmp_path: Path, options: IndexOptions) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", corpus_rows(3))
    with pytest.raises(SemsearchError, match="reads windows of 8 to 128 tokens"):
        build_index(source, tmp_path / "idx", IndexOptions(**{**options.__dict__, "window": 512}))
    with pytest.raises(SemsearchError, match="overlap must be between 0 and half a window"):
        build_index(source, tmp_path / "idx", IndexOptions(**{**options.__dict__, "window": 40, "overlap": 30}))
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_metadata_type_conflict_is_a_bad_record(tmp_path: Path, options: IndexOptions) -> None:
    rows = corpus_rows(10)
    rows[9]["group"] = "not a number"
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    with pytest.raises(BadRecordError, match=r"c.jsonl:10: field 'group'"):
        build_index(source, tmp_path / "idx", options)
    summary = build_index(source, tmp_path / "idx2", IndexOptions(**{**options.__dict__, "skip_bad": True}))
    assert (summary.docs, summary.skipped_bad) == (9, 1)


def test_a_second_writer_fails_clearly(tmp_path: Path, options: IndexOptions) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", corpus_rows(5))
    with writer_lock(tmp_path / "idx"), pytest.raises(IndexLockedError, match="another process"):
        build_index(source, tmp_path / "idx", options)


# -- a new user's first hour: what an update keeps, and runs that find nothing ---------------------------------


def test_an_update_keeps_the_index_own_backend_factory_and_field_mapping(tmp_path: Path, tiny_model: Path) -> None:
    rows = [{"key": f"k{i}", "body": f"note {i} on topic {i % 2}"} for i in range(6)]
    source = write_jsonl(tmp_path / "c.jsonl", rows)
    mapped = semsearch.corpus.FieldMap.from_options("key", "body")
    first = IndexOptions(model=str(tiny_model), backend=Backend.LANCEDB, faiss_factory="HNSW32,Flat", fields=mapped,
                         progress=False)  # fmt: skip
    build_index(source, tmp_path / "idx", first)
    rows.append({"key": "k6", "body": "a new note"})
    again = build_index(write_jsonl(source, rows), tmp_path / "idx", IndexOptions(progress=False))  # no settings
    assert again.added == 1 and again.unchanged == 6
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert (manifest["backend"], manifest["faiss_factory"]) == ("lancedb", "HNSW32,Flat")
    assert manifest["fields"]["id_fields"] == ["key"] and manifest["source"] == str(source.resolve())
    switched = build_index(source, tmp_path / "idx", IndexOptions(backend=Backend.FAISS, progress=False))
    assert (
        switched.unchanged == 7 and json.loads((tmp_path / "idx" / "manifest.json").read_text())["backend"] == "faiss"
    )


def test_documents_added_from_memory_keep_the_recorded_source(tmp_path: Path, tiny_model: Path) -> None:
    """An ``Index.add`` (or a write through the server) is a run without a SOURCE: a later ``semsearch index
    --index DIR`` still reads the corpus the index was built from."""
    source = write_jsonl(tmp_path / "c.jsonl", corpus_rows(3))
    build_index(source, tmp_path / "idx", IndexOptions(model=str(tiny_model), progress=False))
    added = build_index([{"_id": "m1", "text": "added from Python"}], tmp_path / "idx", IndexOptions(progress=False))
    assert added.added == 1
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["source"] == str(source.resolve())
    again = build_index(manifest["source"], tmp_path / "idx", IndexOptions(progress=False))
    assert (again.unchanged, again.added, again.docs) == (3, 0, 4)


@pytest.mark.parametrize(
    ("name", "content", "skip_bad", "says"),
    [
        ("empty.jsonl", "", False, "holds no documents"),
        ("header.csv", "_id,text,year\n", False, "holds no documents"),
        ("bad.jsonl", '{"_id": "a", "text": ""}\n{"_id": "b", "text": " "}\n', True, "none of the 2 records"),
    ],
)
def test_a_source_without_usable_documents_is_an_error_and_leaves_nothing(
    tmp_path: Path, options: IndexOptions, name: str, content: str, skip_bad: bool, says: str
) -> None:
    source = tmp_path / name
    source.write_text(content)
    with pytest.raises(SemsearchError, match=says):
        build_index(source, tmp_path / "idx", IndexOptions(**{**options.__dict__, "skip_bad": skip_bad}))
    assert not (tmp_path / "idx").exists()


def test_no_documents_given_from_memory_is_said_so(tmp_path: Path, options: IndexOptions) -> None:
    with pytest.raises(SemsearchError, match=r"^no documents were given; nothing was indexed$"):
        build_index([], tmp_path / "idx", options)


def test_a_first_run_stopped_at_a_bad_record_leaves_no_index_but_a_later_failure_keeps_what_it_committed(
    tmp_path: Path, options: IndexOptions
) -> None:
    source = tmp_path / "c.jsonl"
    source.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b"}\n')
    with pytest.raises(BadRecordError):
        build_index(source, tmp_path / "idx", options)
    assert not (tmp_path / "idx").exists()
    rows = [*corpus_rows(20), {"_id": "broken"}]  # 20 good ones first: two batches of 8 commit before the failure
    with pytest.raises(BadRecordError):
        build_index(write_jsonl(source, rows), tmp_path / "kept", options)
    assert len(semsearch.open(tmp_path / "kept")) == 16


def test_docs_per_second_leaves_out_loading_the_model(tmp_path: Path, options: IndexOptions) -> None:
    summary = build_index(write_jsonl(tmp_path / "c.jsonl", corpus_rows(10)), tmp_path / "idx", options)
    assert 0 < summary.setup_seconds < summary.seconds
    assert summary.docs_per_second == pytest.approx(10 / (summary.seconds - summary.setup_seconds))


def test_the_progress_bar_counts_every_record_and_only_documents_encoded(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty note is read (so the bar ends at the source's count), and the counts beside the bar never run
    ahead of it (the reading thread cuts up to two batches ahead of the encoder)."""
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(7):
        (notes / f"n{i}.md").write_text(f"note {i} on topic {i % 3}" if i != 3 else "")
    build_index(notes, tmp_path / "idx", IndexOptions(model=str(tiny_model), batch_docs=2, progress=True))
    frames = [f for f in capsys.readouterr().err.replace("\r", "\n").splitlines() if f.startswith("indexing:")]
    done = [tuple(map(int, re.search(r"\| (\d+)/(\d+) ", f).groups())) for f in frames]  # type: ignore[union-attr]
    assert done[-1] == (7, 7)
    for frame, (n, _) in zip(frames, done, strict=True):
        added = re.search(r"added=(\d+)", frame)
        assert added is None or int(added.group(1)) <= n, frame
    assert "added=6" in frames[-1]
