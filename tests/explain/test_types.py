"""The explanation types: JSON shape, and light enough for semsearch.types to name."""

from __future__ import annotations

import subprocess
import sys

from semsearch.explain.types import Channel, Explanation, TermContribution, TokenShare
from semsearch.types import Hit


def explanation() -> Explanation:
    return Explanation(
        doc_id="d", mode="bm25", score=1.5, window=(0, 20), window_number=0, snippet="vitamin and vitamins",
        snippet_span=(0, 20), highlights=(), channels={"bm25": Channel(1.5, 1)},
        bm25_terms=(TermContribution("vitamin", 1.5, ((0, 7), (12, 20)), ("vitamin", "vitamins")),),
        dense_tokens=(TokenShare("[CLS]", 0, 0, 0.1, special=True), TokenShare("vitamin", 0, 7, 0.4),
                      TokenShare("and", 8, 11, -0.05), TokenShare("vitamins", 12, 20, 0.3)),
        dense=None, query_words=(),
    )  # fmt: skip


def test_to_json_and_the_hit_field() -> None:
    e = explanation()
    data = e.to_json()
    assert data["window"] == [0, 20] and data["bm25_terms"][0]["spans"] == [[0, 7], [12, 20]]
    assert data["dense_tokens"][0] == {
        "text": "[CLS]",
        "start": 0,
        "end": 0,
        "score": 0.1,
        "pieces": 1,
        "special": True,
    }
    assert data["channels"] == {"bm25": {"score": 1.5, "rank": 1, "fused": None}}
    assert [t.text for t in e.top_words(2)] == ["vitamin", "vitamins"]  # specials and negative shares left out
    assert "explanation" not in Hit("d", 1.5, "t", {}).to_json()
    assert Hit("d", 1.5, "t", {}, explanation=e).to_json()["explanation"] == data


def test_the_types_import_nothing_heavy() -> None:
    code = "import sys, semsearch.types, semsearch.explain.types; print(sorted({'numpy', 'torch'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
