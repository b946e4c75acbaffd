"""Writes through the server: only with the token, one commit per request, searchable when answered;
commits by other processes are picked up without a restart; readers never fail meanwhile."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from serve.kit import TOKEN, assert_error, call, get

import semsearch

AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW = {"id": "z1", "text": "Zebrafish regenerate their heart muscle after injury.", "year": 2022}


def test_a_read_only_server_refuses_writes(server: str) -> None:
    for path in ("/documents", "/indexes/tiny/documents"):
        assert_error(call(server, "POST", path, {"documents": [NEW]}, headers=AUTH), 403, "writes_disabled")
    assert_error(call(server, "POST", "/documents/delete", {"ids": ["v1"]}), 403)
    assert_error(call(server, "DELETE", "/documents/v1", headers=AUTH), 403)
    assert get(server, "/documents/v1").status == 200


def test_a_write_without_the_right_token_is_refused(writable: tuple[str, Path]) -> None:
    url, directory = writable
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": TOKEN}, {"Authorization": f"Bearer {TOKEN}x"}):  # fmt: skip
        answer = call(url, "POST", "/documents", {"documents": [NEW]}, headers=headers)
        assert_error(answer, 401, "unauthorized")
        assert answer.headers["www-authenticate"] == "Bearer"
    assert_error(call(url, "DELETE", "/documents/v1"), 401)
    assert len(semsearch.open(directory)) == 8  # nothing was written


def test_add_with_the_token_then_find_update_and_delete(writable: tuple[str, Path]) -> None:
    url, directory = writable
    before = get(url, "/health").body["indexes"]["tiny"]["version"]
    answer = call(url, "POST", "/documents", {"documents": [NEW]}, headers=AUTH)
    assert answer.status == 200, answer.body
    assert answer.body["added"] == 1 and answer.body["documents"] == 9
    assert answer.body["version"] > before
    assert get(url, "/health").body["indexes"]["tiny"]["version"] == answer.body["version"]
    hits = get(url, "/search", q="zebrafish heart", k=1, mode="bm25").body["hits"]
    assert [h["id"] for h in hits] == ["z1"]
    assert get(url, "/documents/z1").body == {"id": "z1", "text": NEW["text"], "metadata": {"year": 2022}}
    assert get(url, "/search", q="zebrafish", where="year = 2022", mode="bm25").body["hits"][0]["id"] == "z1"

    changed = {**NEW, "text": "Zebrafish regrow fins and heart tissue."}
    updated = call(url, "POST", "/documents", {"documents": [changed]}, headers=AUTH).body
    assert updated["updated"] == 1 and updated["documents"] == 9
    assert get(url, "/documents/z1").body["text"] == changed["text"]

    deleted = call(url, "DELETE", "/documents/z1", headers=AUTH)
    assert deleted.status == 200 and deleted.body["deleted"] == 1 and deleted.body["documents"] == 8
    assert_error(get(url, "/documents/z1"), 404)
    assert_error(call(url, "DELETE", "/documents/z1", headers=AUTH), 404)
    many = call(url, "POST", "/documents/delete", {"ids": ["v1", "v2", "unknown"]}, headers=AUTH).body
    assert many["deleted"] == 2 and many["documents"] == 6
    assert len(semsearch.open(directory)) == 6


def test_delete_says_which_ids_the_index_did_not_hold(writable: tuple[str, Path]) -> None:
    url, directory = writable
    body = {"ids": ["nope", "v1", "gone", "nope", "v1"]}  # repeats are one id each, as the library counts them
    answer = call(url, "POST", "/documents/delete", body, headers=AUTH)
    assert answer.status == 200, answer.body
    assert answer.body["deleted"] == 1 and answer.body["not_found"] == ["nope", "gone"]
    assert answer.body["documents"] == 7 == len(semsearch.open(directory))
    again = call(url, "POST", "/documents/delete", {"ids": ["v1"]}, headers=AUTH).body
    assert again["deleted"] == 0 and again["not_found"] == ["v1"]  # deleted above: not there now
    one = call(url, "DELETE", "/documents/v2", headers=AUTH).body
    assert one["deleted"] == 1 and one["not_found"] == []


def test_write_bodies_are_strict_and_their_limits_are_invalid_option(writable: tuple[str, Path]) -> None:
    url, directory = writable
    version = semsearch.open(directory).store.version
    mixed = call(url, "POST", "/documents/delete", {"ids": ["v1", 2]}, headers=AUTH)
    assert assert_error(mixed, 400, "invalid_request") == "ids[1]: Input should be a valid string"
    many = call(url, "POST", "/documents/delete", {"ids": [f"x{i}" for i in range(1001)]}, headers=AUTH)
    assert assert_error(many, 400, "invalid_option") == "ids: 1001, over the limit of 1000"
    docs = call(url, "POST", "/documents", {"documents": [NEW] * 1001}, headers=AUTH)
    assert assert_error(docs, 400, "invalid_option") == "documents: 1001, over the limit of 1000"
    assert semsearch.open(directory).store.version == version  # nothing was written


def test_bad_documents_are_400s_and_commit_nothing(writable: tuple[str, Path]) -> None:
    url, directory = writable
    version = semsearch.open(directory).store.version
    for body in ({"documents": []}, {"documents": "docs.jsonl"}, {"documents": ["text"]}, {"docs": [NEW]},
                 {"documents": [NEW, {"text": "no id"}]}, {"documents": [{"id": "e", "text": ""}]}):  # fmt: skip
        assert_error(call(url, "POST", "/documents", body, headers=AUTH), 400)
    assert_error(call(url, "POST", "/documents", {"documents": [NEW] * 1001}, headers=AUTH), 400)
    assert semsearch.open(directory).store.version == version
    assert_error(get(url, "/documents/z1"), 404)


def test_only_a_write_with_the_token_may_send_the_larger_body(writable: tuple[str, Path]) -> None:
    url, _ = writable
    docs = [{"id": f"big{i}", "text": "word " * 250} for i in range(1001)]  # 1.3 MB: over the 1 MiB of a read
    assert_error(call(url, "POST", "/documents", {"documents": docs}), 413, "request_too_large")
    with_token = call(url, "POST", "/documents", {"documents": docs}, headers=AUTH)  # read, then refused: 1,001 docs
    assert "over the limit of 1000" in assert_error(with_token, 400)


def test_a_commit_by_another_process_is_served_without_a_restart(writable: tuple[str, Path]) -> None:
    url, directory = writable
    semsearch.open(directory).add([{"id": "ext", "text": "Okapi live in the Ituri rainforest.", "year": 2001}])
    deadline = time.monotonic() + 30
    while get(url, "/documents/ext").status != 200:
        assert time.monotonic() < deadline, "the server never picked up the new version"
        time.sleep(0.1)
    assert get(url, "/search", q="okapi", mode="bm25", k=1).body["hits"][0]["id"] == "ext"


def test_readers_never_fail_while_documents_are_added(writable: tuple[str, Path]) -> None:
    url, _ = writable
    failures: list[object] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            answer = get(url, "/search", q="heart muscle zebrafish", k=5)
            if answer.status != 200:
                failures.append(answer.body)
            for hit in answer.body.get("hits", []):
                if not hit["text"]:
                    failures.append(hit)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for batch in range(3):
            docs = [
                {"id": f"b{batch}-{i}", "text": f"Batch {batch} note {i} about zebrafish hearts."} for i in range(5)
            ]
            answer = call(url, "POST", "/documents", {"documents": docs}, headers=AUTH)
            assert answer.status == 200, answer.body
            for doc in docs:  # searchable as soon as the write is answered
                assert get(url, "/documents/" + doc["id"]).status == 200
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert failures == []
