"""A small real index (default model) holding two towns called Broken Bow and unrelated documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from disambiguation_fixtures import NEBRASKA, OKLAHOMA, OTHER
from helpers import write_jsonl


@pytest.fixture(scope="module")
def towns_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from semsearch.ingest import IndexOptions, build_index

    root = tmp_path_factory.mktemp("towns")
    rows = [{"id": f"ne{i}", "text": t} for i, t in enumerate(NEBRASKA)]
    rows += [{"id": f"ok{i}", "text": t} for i, t in enumerate(OKLAHOMA)]
    rows += [{"id": f"x{i}", "text": t} for i, t in enumerate(OTHER)]
    build_index(write_jsonl(root / "towns.jsonl", rows), root / "index", IndexOptions(progress=False))
    return root / "index"
