"""The JSON API against a real server on a loopback port: search (GET and POST) answers what the library
does, every bad input is a 4xx in the one error shape, unknown names are 404s, and nothing leaks."""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from pathlib import Path

import pytest
from serve.kit import DOCS, assert_error, call, get, serve

import semsearch
from semsearch.serve.app import supports_explain


def library(tiny_index: Path, query: str, **options: object) -> dict:
    return semsearch.open(tiny_index).search(query, **options).to_json()


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_get_search_answers_what_the_library_does(server: str, tiny_index: Path, mode: str) -> None:
    answer = get(server, "/search", q="vitamin D infection", k=3, mode=mode)
    assert answer.status == 200, answer.body
    assert answer.body == library(tiny_index, "vitamin D infection", k=3, mode=mode)
    assert set(answer.body) >= {"query", "hits", "ambiguous", "senses", "notes"}
    assert len(answer.body["hits"]) == (2 if mode == "bm25" else 3)  # BM25: only v1 and v2 hold a query word
    assert set(answer.body["hits"][0]) >= {"id", "score", "text", "metadata"}


def test_post_search_takes_the_same_names_as_get(server: str, tiny_index: Path) -> None:
    body = {"q": "vitamin", "k": 5, "mode": "bm25", "where": "year >= 2015"}
    answer = call(server, "POST", "/search", body)
    assert answer.status == 200, answer.body
    assert answer.body == get(server, "/search", **body).body
    assert answer.body == library(tiny_index, "vitamin", k=5, mode="bm25", where="year >= 2015")
    assert [h["id"] for h in answer.body["hits"]] == ["v1"]


def test_feedback_searches_as_the_library_does_and_only_in_hybrid_mode(server: str, tiny_index: Path) -> None:
    answer = get(server, "/search", q="vitamin D infection", k=3, feedback="true")
    assert answer.status == 200, answer.body
    assert answer.body == library(tiny_index, "vitamin D infection", k=3, feedback=True)
    refused = call(server, "POST", "/search", {"q": "vitamin", "mode": "dense", "feedback": True})
    assert "hybrid mode only" in assert_error(refused, 400, "invalid_option")


def test_disambiguate_gives_ambiguous_and_senses(server: str) -> None:
    answer = get(server, "/search", q="vitamin D", k=4, disambiguate="true")
    assert answer.status == 200, answer.body
    assert answer.body["ambiguous"] in (True, False)
    assert isinstance(answer.body["senses"], list)


def test_every_index_answers_under_its_name_and_the_first_on_the_plain_routes(server: str) -> None:
    plain = get(server, "/search", q="aspirin heart", k=2)
    assert get(server, "/indexes/tiny/search", q="aspirin heart", k=2).body == plain.body
    assert get(server, "/indexes/again/search", q="aspirin heart", k=2).body == plain.body
    listing = get(server, "/indexes").body
    assert [(row["name"], row["default"]) for row in listing] == [("tiny", True), ("again", False)]
    assert all(row["documents"] == len(DOCS) for row in listing)
    assert "no index named 'nope'" in assert_error(get(server, "/indexes/nope/search", q="x"), 404, "not_found")


def test_documents_and_info(server: str, tiny_index: Path) -> None:
    answer = get(server, "/documents/v1")
    assert answer.status == 200
    assert answer.body == {"id": "v1", "text": DOCS[0]["text"], "metadata": {"year": 2019}}
    slashed = get(server, "/indexes/tiny/documents/" + urllib.parse.quote("d/1", safe=""))
    assert slashed.status == 200 and slashed.body["id"] == "d/1"
    assert get(server, "/documents/d/1").body == slashed.body
    assert_error(get(server, "/documents/nope"), 404, "not_found")
    info = get(server, "/info").body
    expected = semsearch.open(tiny_index).info().to_json()
    for key in ("documents", "chunks", "fields", "pooling", "precision", "version"):
        assert info[key] == expected[key], key
    assert info["model"] == {"name": expected["model"]["name"], "sha256": expected["model"]["sha256"]}
    assert {"name": "year", "kind": "number"} in info["fields"]
    assert "path" not in info and "path" not in info["model"]  # the server's folders are not the client's business
    assert str(tiny_index) not in json.dumps(info)


def test_health(server: str) -> None:
    answer = get(server, "/health")
    assert answer.status == 200
    assert answer.body["status"] == "ok" and answer.body["writes"] is False
    assert answer.body["explain"] is supports_explain()
    assert set(answer.body["indexes"]) == {"tiny", "again"}


@pytest.mark.parametrize(
    ("params", "kind", "words"),
    [
        ({"q": "x", "where": "year >>= 2"}, "invalid_filter", ""),
        ({"q": "x", "where": "colour = 'red'"}, "invalid_filter", "colour"),
        ({"q": "x", "where": "year = 1; DROP TABLE docs"}, "invalid_filter", ""),
        ({"q": "x", "k": 0}, "invalid_option", "k: "),  # out of range, below or above: one type
        ({"q": "x", "k": 101}, "invalid_option", "limit of 100"),
        ({"q": "x", "min_prob": -0.5}, "invalid_option", "min_prob: "),
        ({"q": "x", "k": "ten"}, "invalid_request", "k"),
        ({"q": "x", "mode": "fuzzy"}, "invalid_request", "mode"),
        ({"q": "x", "min_prob": 2}, "invalid_option", "min_prob: "),
        ({"q": "x", "k": 0, "mode": "fuzzy"}, "invalid_request", "mode: "),  # a wrong value besides: not only range
        ({"q": "x", "frobnicate": 1}, "invalid_request", "frobnicate"),
        ({"q": "   "}, "invalid_option", "empty"),
        ({"q": "q" * 2001}, "invalid_option", "limit of 2000"),
        ({"q": "x", "where": "year = " + "1" * 2001}, "invalid_option", "limit"),
        ({"k": 3}, "invalid_request", "q"),
        ({"q": "vitamin", "sense": "nonsense"}, "invalid_option", ""),
    ],
)
def test_bad_search_input_is_a_400_in_the_one_shape(server: str, params: dict, kind: str, words: str) -> None:
    for answer in (get(server, "/search", **params), call(server, "POST", "/search", params)):
        message = assert_error(answer, 400, kind)
        assert words in message


def test_bodies_that_are_not_json_objects_are_400s_that_say_so_plainly(server: str) -> None:
    json_type = {"Content-Type": "application/json"}
    for raw in (b"{not json", b'{"q": "x",}', b'{"q": "x"'):  # pydantic locates these at a character: not a field
        message = assert_error(call(server, "POST", "/search", raw=raw, headers=json_type), 400, "invalid_request")
        assert message == "the body is not valid JSON", raw
    not_an_object = "the body must be a JSON object (with Content-Type: application/json)"
    assert assert_error(call(server, "POST", "/search", ["vitamin"]), 400, "invalid_request") == not_an_object
    assert assert_error(call(server, "POST", "/search", "vitamin"), 400) == not_an_object
    text = call(server, "POST", "/search", raw=b"q=vitamin", headers={"Content-Type": "text/plain"})
    assert assert_error(text, 400, "invalid_request") == not_an_object
    missing = call(server, "POST", "/search", headers=json_type)
    assert assert_error(missing, 400, "invalid_request") == "a JSON object is required as the body"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"q": "x", "k": "5"}, "k: Input should be a valid integer"),
        ({"q": "x", "k": True}, "k: Input should be a valid integer"),
        ({"q": "x", "k": 2.0}, "k: Input should be a valid integer"),
        ({"q": 5}, "q: Input should be a valid string"),
        ({"q": "x", "disambiguate": "yes"}, "disambiguate: Input should be a valid boolean"),
        ({"q": "x", "explain": 1}, "explain: Input should be a valid boolean"),
        ({"q": "x", "feedback": "true"}, "feedback: Input should be a valid boolean"),
        ({"q": "x", "min_prob": "0.5"}, "min_prob: Input should be a valid number"),
        ({"q": "x", "where": 2015}, "where: Input should be a valid string"),
        ({"q": "x", "sense": True}, "sense: Input should be a valid string or a valid integer"),  # no "sense.str"
    ],
)
def test_a_json_body_takes_json_types_only(server: str, body: dict, message: str) -> None:
    assert assert_error(call(server, "POST", "/search", body), 400, "invalid_request") == message


def test_a_query_string_is_text_and_still_reads_numbers_and_booleans(server: str) -> None:
    answer = get(server, "/search", q="vitamin", k="5", disambiguate="true", mode="bm25")
    assert answer.status == 200, answer.body
    assert answer.body == call(server, "POST", "/search", {"q": "vitamin", "k": 5, "disambiguate": True,
                                                           "mode": "bm25"}).body  # fmt: skip
    assert answer.body["ambiguous"] is not None  # disambiguate=true was read as true


def test_the_embeddings_body_is_strict_and_its_limits_are_invalid_option(server: str) -> None:
    refused = call(server, "POST", "/v1/embeddings", {"input": "vitamin", "dimensions": "8"})
    assert assert_error(refused, 400, "invalid_request") == "dimensions: Input should be a valid integer"
    union = call(server, "POST", "/v1/embeddings", {"input": 5})
    assert assert_error(union, 400, "invalid_request") == "input: Input should be a valid string or a valid list"
    many = call(server, "POST", "/v1/embeddings", {"input": ["x"] * 257})
    assert "over the limit of 256" in assert_error(many, 400, "invalid_option")
    long = call(server, "POST", "/v1/embeddings", {"input": ["word " * 5000]})
    assert "input[0]: 25000 characters" in assert_error(long, 400, "invalid_option")
    assert call(server, "POST", "/v1/embeddings", {"input": "vitamin", "user": "u1", "extra": 1}).status == 200


def test_the_search_page_says_it_needs_javascript_and_where_the_api_is(server: str) -> None:
    answer = get(server, "/")
    assert answer.status == 200
    notice = re.search(r"<noscript>(.*?)</noscript>", answer.body, re.S)
    assert notice is not None, "no <noscript> notice"
    assert "needs JavaScript" in notice.group(1)
    assert 'href="/search?q=' in notice.group(1) and "/openapi.json" in notice.group(1)


def test_an_oversized_body_is_a_413_whether_declared_or_streamed(server: str) -> None:
    big = {"q": "vitamin", "where": "x" * (1024 * 1024 + 10)}
    assert_error(call(server, "POST", "/search", big), 413, "request_too_large")
    parts = urllib.parse.urlsplit(server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    chunk = b" " * 65536
    connection.request("POST", "/search", body=iter([b'{"q": "vitamin"'] + [chunk] * 20 + [b"}"]),
                       headers={"Content-Type": "application/json"}, encode_chunked=True)  # fmt: skip
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 413 and body["error"]["type"] == "request_too_large"


def test_unknown_routes_and_methods_are_in_the_one_shape(server: str) -> None:
    assert_error(get(server, "/etc/passwd"), 404, "not_found")
    assert_error(get(server, "/static/../app.py"), 404)
    assert_error(get(server, "/static/registry.py"), 404)
    assert_error(call(server, "PUT", "/search"), 405, "method_not_allowed")


def test_explain_is_passed_on_only_where_the_library_takes_it(server: str) -> None:
    answer = get(server, "/search", q="vitamin", k=2, explain="true")
    if supports_explain():
        assert answer.status == 200 and "explanation" in answer.body["hits"][0]
    else:
        assert assert_error(answer, 400) == "explain is not available in this version"


def test_a_host_header_naming_another_server_is_refused(server: str) -> None:
    assert_error(call(server, "GET", "/health", headers={"Host": "evil.example"}), 400, "invalid_host")
    assert call(server, "GET", "/health", headers={"Host": "localhost"}).status == 200


def test_security_headers_and_no_cors_unless_asked(server: str, tiny_index: Path) -> None:
    answer = call(server, "GET", "/search?q=vitamin", headers={"Origin": "https://elsewhere.example"})
    assert answer.status == 200
    assert "access-control-allow-origin" not in answer.headers
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    with serve([("tiny", tiny_index)], cors_origins=("https://ok.example",), refresh_seconds=0) as url:
        allowed = call(url, "GET", "/search?q=vitamin", headers={"Origin": "https://ok.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://ok.example"
        other = call(url, "GET", "/search?q=vitamin", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


def test_an_unexpected_failure_is_a_generic_500_and_its_traceback_stays_in_the_log(
    server: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import semsearch.serve.app as app_module

    def broken(*args: object) -> dict:
        raise RuntimeError("secret detail /srv/indexes/private")

    monkeypatch.setattr(app_module, "search", broken)
    with caplog.at_level("ERROR", logger="semsearch.serve"):
        answer = get(server, "/search", q="vitamin")
    message = assert_error(answer, 500, "internal_error")
    assert "secret" not in message and "/srv" not in json.dumps(answer.body)
    assert "secret detail" in caplog.text and "Traceback" in caplog.text


def test_the_openapi_schema_documents_the_routes(server: str) -> None:
    schema = get(server, "/openapi.json").body
    paths = schema["paths"]
    for path in ("/search", "/documents/{doc_id}", "/info", "/health", "/v1/embeddings", "/v1/models",
                 "/indexes/{name}/search", "/indexes/{name}/documents", "/documents"):  # fmt: skip
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/search"])
    params = {p["name"] for p in paths["/search"]["get"]["parameters"]}
    assert {"q", "k", "mode", "where", "label", "min_prob", "disambiguate", "sense", "explain"} <= params
    assert get(server, "/docs").status == 404  # no interactive docs: they would load scripts from a CDN
