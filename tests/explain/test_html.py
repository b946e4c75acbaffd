"""The explanation page: self-contained, and its highlighted tokens are the explanation's top words."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import semsearch
from semsearch.explain import Explanation
from semsearch.facade.explain import explanation_page

QUERY = "vitamin D levels and infection rates"


class Page(HTMLParser):
    """Collects the marked-up elements of the page: outlined tokens, every token's share, heads, links."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict[str, str]] = []
        self.top: list[str] = []
        self.shares: list[float] = []
        self.heads: set[tuple[str, str]] = set()
        self.external: list[str] = []
        self.scripts_with_src = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        classes = found.get("class", "").split()
        if "tok" in classes:
            self.shares.append(float(found["data-share"]))
        if "head" in classes:
            self.heads.add((found["data-layer"], found["data-head"]))
        for name in ("src", "href"):
            if name in found:
                self.external.append(found[name])
        self.scripts_with_src += tag == "script" and "src" in found
        self.stack.append({"tag": tag, "top": str("top" in classes and "tok" in classes), "text": ""})

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            element = self.stack.pop()
            if element["top"] == "True":
                self.top.append(element["text"])
            if element["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element["text"] += data


@pytest.fixture(scope="module")
def page_file(explain_index: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Explanation]:
    index = semsearch.open(explain_index)
    found = index.explain(QUERY, "long")
    target = tmp_path_factory.mktemp("page") / "explain.html"
    target.write_text(explanation_page(index, QUERY, "long", found), encoding="utf-8")
    return target, found


def test_the_page_marks_the_top_words_and_every_head(page_file: tuple[Path, Explanation]) -> None:
    path, found = page_file
    parsed = Page()
    parsed.feed(path.read_text(encoding="utf-8"))
    expected = [t.text for t in sorted(found.top_words(5), key=lambda t: t.start)]
    assert parsed.top == expected and len(expected) == 5
    assert sum(parsed.shares) == pytest.approx(found.dense.score, abs=1e-4)
    assert parsed.heads == {(str(layer), str(head)) for layer in range(2) for head in range(2)}  # the tiny BERT
    assert parsed.external == [] and parsed.scripts_with_src == 0  # nothing to fetch: it opens offline


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed")
def test_chromium_renders_the_highlighted_tokens(page_file: tuple[Path, Explanation]) -> None:
    path, found = page_file
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--dump-dom", path.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    parsed = Page()
    parsed.feed(dom)
    expected = [t.text for t in sorted(found.top_words(5), key=lambda t: t.start)]
    assert parsed.top == expected
    assert re.search(r'<body[^>]* data-ready="1"', dom)  # its script ran without an error


def test_a_bm25_page_marks_the_matches(explain_index: Path) -> None:
    index = semsearch.open(explain_index)
    found = index.explain("infection", "flu", mode="bm25")
    html = explanation_page(index, "infection", "flu", found)
    assert re.findall(r'<mark class="term" data-term="infect">([^<]+)</mark>', html) == ["infections", "infected"]
    assert "<svg" not in html and 'class="tok' not in html  # no dense side, no attention
