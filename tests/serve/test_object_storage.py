"""An index on object storage (the local moto S3 server of tests/conftest.py) served like a folder: searched,
written through the API, and the write is on object storage for any other reader."""

from __future__ import annotations

from pathlib import Path

from serve.kit import DOCS, TOKEN, call, get, serve

import semsearch
from semsearch.location import resolve


def test_an_index_on_object_storage_is_served_and_written(s3_server: dict, s3_uri: str, tiny_model: Path) -> None:
    semsearch.index(DOCS, s3_uri, storage_options=s3_server, model=str(tiny_model), precision="fp32", progress=False)
    with serve([("remote", resolve(s3_uri, s3_server))], write_token=TOKEN, refresh_seconds=0) as url:
        assert [h["id"] for h in get(url, "/search", q="aspirin heart attack", k=1, mode="bm25").body["hits"]] == ["a1"]
        new = {"id": "o1", "text": "Octopuses taste with their arms.", "year": 2023}
        added = call(url, "POST", "/documents", {"documents": [new]}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert added.status == 200 and added.body["added"] == 1, added.body
        assert get(url, "/search", q="octopuses", k=1, mode="bm25").body["hits"][0]["id"] == "o1"
        assert "path" not in get(url, "/info").body
    again = semsearch.open(s3_uri, storage_options=s3_server)
    assert len(again) == len(DOCS) + 1 and again.get("o1") is not None
