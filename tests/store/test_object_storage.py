"""An index on object storage (a local moto S3 server): the same index, update, delete, search and reopen
as a folder, a lease that lets one writer in at a time, and readers that see whole versions."""

from __future__ import annotations

import threading
import time

import pytest

import semsearch
from semsearch.errors import BadRecordError, IndexLockedError, IndexNotFoundError, OptionError
from semsearch.location import Remote, resolve
from semsearch.store import lease as leases

DOCS = [
    {"id": f"d{i}", "text": f"note {i} about {'cats and whiskers' if i % 2 else 'dogs and leashes'}", "year": 2000 + i}
    for i in range(30)
]


def test_an_index_on_object_storage_is_indexed_updated_searched_and_reopened(s3_server, s3_uri, tmp_path):
    idx = semsearch.index(DOCS, s3_uri, storage_options=s3_server, progress=False)
    assert len(idx) == 30 and s3_uri in repr(idx)
    local = semsearch.index(DOCS, tmp_path / "local", progress=False)
    for mode in ("dense", "bm25", "hybrid"):
        assert [h.id for h in idx.search("cats", k=5, mode=mode).hits] == [
            h.id for h in local.search("cats", k=5, mode=mode).hits
        ]
    summary = idx.add([{"id": "d3", "text": "a changed note about parrots", "year": 1999}, {"id": "n1", "text": "x y"}])
    assert (summary.updated, summary.added) == (1, 1)
    assert idx.delete(["d0", "missing"]) == 1
    again = semsearch.open(s3_uri, storage_options=s3_server)
    assert len(again) == 30
    assert again.get("d3").text == "a changed note about parrots"
    assert again.search("parrots", k=1, mode="bm25").hits[0].id == "d3"
    assert [h.id for h in again.search("note", k=40, where="year < 2002", mode="bm25").hits] == ["d1", "d3"]


def test_an_update_with_delete_missing_leaves_the_source_set(s3_server, s3_uri):
    semsearch.index(DOCS, s3_uri, storage_options=s3_server, progress=False)
    kept = DOCS[10:]
    idx = semsearch.index(kept, s3_uri, storage_options=s3_server, progress=False, delete_missing=True)
    assert idx.last_write.deleted == 10 and idx.last_write.unchanged == 20
    assert sorted(d["id"] for d in idx.export()) == sorted(d["id"] for d in kept)


def test_missing_index_and_options_for_a_folder_are_clear_errors(s3_server, s3_uri, tmp_path):
    with pytest.raises(IndexNotFoundError, match=f"no index at {s3_uri}"):
        semsearch.open(s3_uri, storage_options=s3_server)
    with pytest.raises(OptionError, match="object storage"):
        semsearch.open(tmp_path, storage_options={"aws_region": "x"})


def test_a_failed_first_run_leaves_nothing_on_object_storage(s3_server, s3_uri):
    with pytest.raises(BadRecordError):
        semsearch.index([{"id": "a", "text": "   "}], s3_uri, storage_options=s3_server, progress=False)
    remote = Remote(s3_uri, s3_server)
    assert remote.names() == []


def test_the_lease_lets_one_writer_in(s3_server, s3_uri):
    remote = Remote(s3_uri, s3_server)
    with leases.lease(remote):
        with pytest.raises(IndexLockedError, match="being written"), leases.lease(remote):
            pass
        folder = resolve(s3_uri, s3_server)
        with pytest.raises(IndexLockedError):  # a whole indexing run is refused too
            semsearch.index(DOCS[:2], folder, progress=False)
    with leases.lease(remote):  # released: the next writer gets it
        pass
    assert remote.read(leases.LEASE) is None


def test_an_expired_lease_is_taken_over(s3_server, s3_uri):
    remote = Remote(s3_uri, s3_server)
    remote.write(leases.LEASE, leases._body("a killed writer", -1.0))  # it stopped renewing: expired
    with leases.lease(remote) as taken:
        taken.check()
        assert b"killed" not in remote.read(leases.LEASE)[0]


def test_a_holder_whose_lease_was_taken_stops_before_its_next_commit(s3_server, s3_uri):
    remote = Remote(s3_uri, s3_server)
    with leases.lease(remote, ttl=0.6) as held:
        remote.write(leases.LEASE, leases._body("another writer", 60))  # taken while this one stalled
        time.sleep(0.5)  # its next renewal (every ttl/3) finds the lease no longer its own
        with pytest.raises(leases.LeaseLostError, match="taken over"):
            held.check()
    assert b"another writer" in remote.read(leases.LEASE)[0]  # the other writer's lease is left alone


def test_readers_see_whole_versions_while_a_writer_commits(s3_server, s3_uri):
    idx = semsearch.index(DOCS, s3_uri, storage_options=s3_server, progress=False, batch_docs=10)
    reader = semsearch.open(s3_uri, storage_options=s3_server)
    counts = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            fresh = semsearch.open(s3_uri, storage_options=s3_server)
            counts.add(len(fresh))

    thread = threading.Thread(target=read)
    thread.start()
    idx.add([{"id": f"n{i}", "text": f"new note {i}"} for i in range(20)], batch_docs=10)
    stop.set()
    thread.join()
    assert counts <= {30, 40, 50}  # a batch of 10 at a time, never part of one
    assert len(reader) == 30  # a handle keeps the version it opened
    reader.reload()
    assert len(reader) == 50


def test_a_uri_that_holds_another_index_since_is_never_served_from_the_old_work_folder(s3_server, s3_uri):
    semsearch.index(DOCS[:5], s3_uri, storage_options=s3_server, progress=False).search("cats", k=1)
    Remote(s3_uri, s3_server).remove_all()  # deleted on the object store, and made again with other documents
    other = [{"id": d["id"], "text": f"parrots and feathers {i}"} for i, d in enumerate(DOCS[:5])]
    semsearch.index(other, s3_uri, storage_options=s3_server, progress=False)
    reader = semsearch.open(s3_uri, storage_options=s3_server)
    assert all("parrots" in hit.text for hit in reader.search("cats", k=5, mode="dense").hits)


def test_a_corpus_on_object_storage_is_read_from_there_and_recorded(s3_server, s3_uri, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    remote = Remote(f"{s3_uri}-corpus", s3_server)
    for part in range(2):
        rows = DOCS[part * 10 : part * 10 + 10]
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / f"p{part}.parquet")
        remote.write(f"part-{part}.parquet", (tmp_path / f"p{part}.parquet").read_bytes())
    remote.write("notes.txt", b"not part of the glob")
    idx = semsearch.index(f"{s3_uri}-corpus/*.parquet", s3_uri, storage_options=s3_server, progress=False)
    assert len(idx) == 20 and idx.get("d3").metadata["year"] == 2003
    assert idx.manifest.source == f"{s3_uri}-corpus/*.parquet"
    again = semsearch.index(idx.manifest.source, s3_uri, storage_options=s3_server, progress=False)
    assert again.last_write.unchanged == 20
    with pytest.raises(semsearch.errors.SemsearchError, match="matches no object"):
        semsearch.index(f"{s3_uri}-corpus/*.csv", s3_uri, storage_options=s3_server, progress=False)


def test_opening_reads_each_small_file_once(s3_server, s3_uri, monkeypatch):
    semsearch.index(DOCS[:5], s3_uri, storage_options=s3_server, progress=False)
    reads: list[str] = []
    read = Remote.read
    monkeypatch.setattr(Remote, "read", lambda self, name: reads.append(name) or read(self, name))
    assert len(semsearch.open(s3_uri, storage_options=s3_server)) == 5
    assert sorted(reads) == sorted(set(reads)) and "manifest.json" in reads
