"""What a cheap operation imports: reading a manifest, opening an index, a BM25 search or an error
must not load torch, transformers or the classifier (each costs seconds and hundreds of MB).

The layering itself (which package may import which) is import-linter's contract in pyproject.toml,
checked by ``make lint``; this checks what actually gets imported at run time, in a fresh process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "index-v0.1"
HEAVY = ["torch", "transformers", "sentence_transformers", "openvino", "sklearn", "semsearch.classify.classifier",
         "semsearch.encoder"]  # fmt: skip


def imported_after(code: str, tmp_path: Path, heavy: list[str] = HEAVY) -> list[str]:
    probe = code + f"\nimport sys, json\nprint(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "SEMSEARCH_CACHE": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture()
def index_copy(tmp_path: Path) -> Path:
    target = tmp_path / "idx"
    shutil.copytree(FIXTURE, target)
    return target


def test_the_package_and_its_value_types_import_nothing_heavy(tmp_path: Path) -> None:
    code = "import semsearch\nfrom semsearch import Mode, SearchResult, SemsearchError\nimport semsearch.classify"
    assert imported_after(code, tmp_path) == []


def test_reading_a_manifest_and_opening_an_index_import_nothing_heavy(index_copy: Path, tmp_path: Path) -> None:
    code = (
        "from pathlib import Path\nimport semsearch\nfrom semsearch.manifest import Manifest\n"
        f"Manifest.load(Path({str(index_copy)!r}))\n"
        f"idx = semsearch.open({str(index_copy)!r})\nlen(idx); idx.fields(); idx.labels(); idx.info()\n"
    )
    assert imported_after(code, tmp_path) == []


def test_a_bm25_search_and_a_filter_on_labels_import_no_model(index_copy: Path, tmp_path: Path) -> None:
    code = (
        f"import semsearch\nidx = semsearch.open({str(index_copy)!r})\n"
        "hits = idx.search('blood cells', k=3, mode='bm25', label='even', where='year >= 2012').hits\n"
        "assert hits, 'no hits'\n"
    )
    assert imported_after(code, tmp_path) == []


def test_an_error_imports_no_model(tmp_path: Path) -> None:
    code = (
        "import semsearch\ntry:\n    semsearch.open('missing')\nexcept semsearch.SemsearchError as e:\n    print(e)\n"
    )
    assert imported_after(code, tmp_path) == []


def test_a_dense_query_imports_neither_torch_nor_transformers(index_copy: Path, tmp_path: Path) -> None:
    """At fp32 a query runs in OpenVINO, tokenised by the tokenizers library: a cold search starts fast."""
    from semsearch.encoder import Encoder
    from semsearch.runtime import openvino_runtime

    if not openvino_runtime.available():
        pytest.skip("OpenVINO is not installed: queries run in torch")
    os.environ["SEMSEARCH_CACHE"] = str(tmp_path / "cache")
    try:
        Encoder(precision="fp32", threads=1).encode(["make the OpenVINO graph once, as the first query does"])
    finally:
        del os.environ["SEMSEARCH_CACHE"]
    code = f"import semsearch\nassert semsearch.open({str(index_copy)!r}).search('blood cells', k=3).hits\n"
    assert imported_after(code, tmp_path, ["torch", "transformers", "sentence_transformers", "sklearn"]) == []
