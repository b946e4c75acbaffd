"""What the server's tests share: a small corpus, the app served on a free loopback port in a thread
(stopped when the block ends), and requests through the standard library's HTTP client."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN = "test-token-0123456789abcdef"

DOCS = [
    {
        "id": "v1",
        "text": "Vitamin D deficiency raises the risk of respiratory infection in older adults.",
        "year": 2019,
    },
    {"id": "v2", "text": "Vitamin D supplements and bone density in postmenopausal women.", "year": 2012},
    {"id": "g1", "text": "Gene expression profiling of breast cancer cells reveals new subtypes.", "year": 2015},
    {"id": "a1", "text": "Aspirin lowers the risk of a second heart attack after a first one.", "year": 2008},
    {"id": "s1", "text": "Statins and cholesterol in older adults: a randomised trial.", "year": 2021},
    {"id": "m1", "text": "Malaria parasites resist artemisinin in Southeast Asia.", "year": 2016},
    {"id": "n1", "text": "Sleep deprivation impairs memory consolidation in students.", "year": 2018},
    {"id": "d/1", "text": "A document whose id holds a slash, as notes in folders have.", "year": 2020},
]


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def call(url: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> Answer:  # fmt: skip
    """One request to the server at ``url``; the answer's body parsed as JSON where it is JSON."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    sent = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        content = response.read()
        kind = response.getheader("content-type", "")
        parsed = json.loads(content) if kind.startswith("application/json") else content.decode("utf-8", "replace")
        return Answer(response.status, parsed, {k.lower(): v for k, v in response.getheaders()})
    finally:
        connection.close()


def get(url: str, path: str, **params: Any) -> Answer:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return call(url, "GET", f"{path}?{query}" if query else path)


def assert_error(answer: Answer, status: int, kind: str | None = None) -> str:
    """The answer is ``status`` in the one error shape; gives its message."""
    assert answer.status == status, (answer.status, answer.body)
    assert isinstance(answer.body, dict) and set(answer.body) == {"error"}, answer.body
    assert set(answer.body["error"]) == {"type", "message"}, answer.body
    if kind is not None:
        assert answer.body["error"]["type"] == kind, answer.body
    assert "Traceback" not in answer.body["error"]["message"]
    return answer.body["error"]["message"]


@contextmanager
def serve(indexes: list[tuple[str, Path]], **options: Any) -> Iterator[str]:
    from semsearch.serve import ServeOptions, create_app, open_registry
    from semsearch.serve.server import serving

    app = create_app(open_registry(indexes), ServeOptions(**options))
    with serving(app) as url:
        yield url
