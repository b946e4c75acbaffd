"""Fixtures for the server: a small index made with the tiny model, served read-only or with the write
token (see serve/kit.py for the helpers)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import write_jsonl
from serve.kit import DOCS, TOKEN, serve


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """DOCS indexed with the tiny model at fp32 (no precision measuring)."""
    from semsearch.ingest import IndexOptions, build_index

    root = tmp_path_factory.mktemp("serve")
    build_index(write_jsonl(root / "docs.jsonl", DOCS), root / "tiny",
                IndexOptions(model=str(tiny_model), precision="fp32", progress=False))  # fmt: skip
    return root / "tiny"


@pytest.fixture(scope="module")
def server(tiny_index: Path) -> Iterator[str]:
    """The tiny index served read-only (also as a second name, to test the routes by index name)."""
    with serve([("tiny", tiny_index), ("again", tiny_index)], refresh_seconds=0) as url:
        yield url


@pytest.fixture()
def writable(tiny_index: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A copy of the tiny index served with the write token; gives (url, directory)."""
    copy = tmp_path / "tiny"
    shutil.copytree(tiny_index, copy)
    with serve([("tiny", copy)], write_token=TOKEN, refresh_seconds=0.2) as url:
        yield url, copy
