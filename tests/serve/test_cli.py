"""``semsearch serve`` as a user runs it: a process on a free loopback port, the model loaded once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serve.kit import TOKEN, call, get

from semsearch.cli.serve import local_folders, parse_index
from semsearch.errors import OptionError
from semsearch.serve.server import is_loopback


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str, list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "semsearch", "serve", "--port", "0", *args],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"at (http://\S+)/ \(", line)
        if found:
            return process, found.group(1), lines
    process.kill()
    pytest.fail("the server did not start: " + "".join(lines))


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=30)


def test_serve_answers_on_its_port_and_writes_only_with_the_token(tiny_index: Path) -> None:
    process, url, lines = start("--index", f"first={tiny_index}", "--index", str(tiny_index))
    try:
        assert url.startswith("http://127.0.0.1:")
        assert "read-only" in lines[-1]
        health = get(url, "/health").body
        assert health["writes"] is False and list(health["indexes"]) == ["first", "tiny"]
    finally:
        stop(process)


def test_the_token_comes_from_the_environment_and_a_short_one_is_warned_about(tiny_index: Path) -> None:
    process, url, lines = start("--index", str(tiny_index), env={"SEMSEARCH_WRITE_TOKEN": "short"})
    try:
        assert any("token is short" in line for line in lines)
        assert get(url, "/health").body["writes"] is True
        answer = call(url, "POST", "/documents/delete", {"ids": ["nope"]}, headers={"Authorization": "Bearer short"})
        assert answer.status == 200 and answer.body["deleted"] == 0 and answer.body["not_found"] == ["nope"]
        assert call(url, "POST", "/documents/delete", {"ids": ["nope"]}).status == 401
    finally:
        stop(process)
    assert TOKEN  # the fixtures' token is long: no warning for it


def test_the_indexes_come_from_semsearch_index_as_for_every_command_that_takes_index(tiny_index: Path) -> None:
    process, url, _ = start(env={"SEMSEARCH_INDEX": f"first={tiny_index} {tiny_index}"})  # several: space-separated
    try:
        assert list(get(url, "/health").body["indexes"]) == ["first", "tiny"]
    finally:
        stop(process)


def test_index_names_and_loopback() -> None:
    assert parse_index("docs=indexes/x") == ("docs", "indexes/x")
    assert parse_index("indexes/scifact") == ("scifact", "indexes/scifact")
    assert parse_index("/tmp/a=b/c")[1] == "/tmp/a=b/c"
    assert parse_index("s3://bucket/indexes/papers/") == ("papers", "s3://bucket/indexes/papers/")
    assert parse_index("p=s3://bucket/x") == ("p", "s3://bucket/x")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.168.1.10")


def test_other_commands_do_not_import_the_server() -> None:
    probe = (
        "import sys, semsearch.cli\nprint([m for m in ('fastapi', 'uvicorn', 'semsearch.serve') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_storage_options_reach_the_s3_indexes_and_are_refused_without_one(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="object storage"):
        local_folders((str(tmp_path),), ("aws_region=us-east-1",))
    [(name, folder)] = local_folders(("s3://semsearch-test/papers",), ("aws_region=us-east-1",))
    from semsearch.location import remote_of

    remote = remote_of(folder)
    assert name == "papers" and remote is not None and remote.uri == "s3://semsearch-test/papers"
    assert remote.storage_options == {"aws_region": "us-east-1"}
