"""The search page in headless Chromium (the system's, driven by Playwright): type a query, submit with
the keyboard, see the hits and the senses of an ambiguous query, open a document. Skips only where no
Chromium is installed (Debian's package: apt-get install chromium; SEMSEARCH_CHROMIUM names another)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import write_jsonl
from serve.kit import DOCS, serve

from semsearch.serve.app import supports_explain

PLACES = (
    os.environ.get("SEMSEARCH_CHROMIUM"),
    shutil.which("chromium"),
    shutil.which("chromium-browser"),
    "/usr/bin/chromium",
)
CHROMIUM = next((p for p in PLACES if p and Path(p).is_file()), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def towns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two towns called Broken Bow and unrelated documents, with the default model (see test_senses.py)."""
    from disambiguate.test_senses import NEBRASKA, OKLAHOMA, OTHER

    from semsearch.ingest import IndexOptions, build_index

    root = tmp_path_factory.mktemp("towns")
    rows = [{"id": f"ne{i}", "text": t, "state": "Nebraska"} for i, t in enumerate(NEBRASKA)]
    rows += [{"id": f"ok{i}", "text": t, "state": "Oklahoma"} for i, t in enumerate(OKLAHOMA)]
    rows += [{"id": f"x{i}", "text": t, "state": "none"} for i, t in enumerate(OTHER)]
    build_index(write_jsonl(root / "towns.jsonl", rows), root / "towns", IndexOptions(progress=False))
    with serve([("towns", root / "towns")], refresh_seconds=0) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system's Chromium, headless, driven by Playwright (which downloads no browser of its own here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


def test_search_page_shows_hits_senses_and_a_document(browser: Any, towns_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    try:
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(towns_server + "/")
        expect(page.locator("#about")).to_contain_text("14 documents")
        expect(page.locator("#fields")).to_contain_text("state (string)")
        for unused in ("#index-choice", "#label-choice"):  # one index, no classifier labels
            expect(page.locator(unused)).to_be_hidden()
        explain = page.locator("#explain-choice")
        expect(explain).to_be_visible() if supports_explain() else expect(explain).to_be_hidden()
        # keyboard only: the box has focus; Tab to "Group by sense", Space ticks it, "/" goes back to the box,
        # Enter submits
        expect(page.locator("#q")).to_be_focused()
        page.keyboard.type("What is the population of Broken Bow?")
        for _ in range(8):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "disambiguate":
                break
        expect(page.locator("#disambiguate")).to_be_focused()
        page.keyboard.press("Space")
        expect(page.locator("#disambiguate")).to_be_checked()
        page.keyboard.press("/")
        expect(page.locator("#q")).to_be_focused()
        page.keyboard.press("Enter")
        senses = page.locator("section.sense")
        expect(senses).to_have_count(2)
        expect(page.locator("#status")).to_contain_text("2 senses")
        labels = senses.locator("h2").all_inner_texts()
        assert all(label.startswith("Sense ") for label in labels), labels
        ids = [set(s.locator(".hit-title").all_inner_texts()) for s in senses.all()]
        assert {frozenset(i[:2] for i in group) for group in ids} == {frozenset({"ne"}), frozenset({"ok"})}
        expect(page.locator("mark").first).to_be_visible()
        assert "broken" in page.locator("mark").first.inner_text().lower()
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        # the document view, by keyboard: focus a hit, Enter opens it, Escape closes it
        first = page.locator(".hit-title").first
        first.focus()
        page.keyboard.press("Enter")
        dialog = page.locator("dialog#doc")
        expect(dialog).to_be_visible()
        expect(page.locator("#doc-title")).to_have_text(first.inner_text())
        expect(page.locator("#doc-text")).to_contain_text("Broken Bow")
        expect(page.locator("#doc-meta")).to_contain_text("state")
        page.screenshot(path=str(tmp_path / "document.png"))
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(first).to_be_focused()
        # an invalid filter is said on the page, not thrown
        page.locator("#where").fill("state >>> 3")
        page.locator("#where").press("Enter")
        expect(page.locator("#status")).to_have_class(re.compile("error"))
        assert errors == [] or all("400" in e for e in errors), errors  # the 400 itself is logged by Chromium
        keep = os.environ.get("SEMSEARCH_SCREENSHOTS")
        if keep:
            for name in ("page.png", "document.png"):
                shutil.copy(tmp_path / name, Path(keep) / name)
    finally:
        page.close()


def test_a_hit_with_an_explanation_shows_its_window_with_the_bm25_matches_marked(
    browser: Any, tiny_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's hook for search(explain=True) (not in every version): a server whose hits carry an
    explanation is stood in for by one that adds a made-up explanation to each hit."""
    from playwright.sync_api import expect

    import semsearch.serve.app as app_module

    plain = app_module.search

    def with_explanation(served: Any, params: Any) -> dict:
        result = plain(served, params.model_copy(update={"explain": False}))
        for hit in result["hits"]:
            at = hit["text"].lower().find("vitamin")
            spans = [[at, at + len("vitamin")]] if 0 <= at < 30 - len("vitamin") else []
            hit["explanation"] = {"window": [0, 30], "bm25_terms": [{"term": "vitamin", "score": 1.0, "spans": spans}]}
        return result

    monkeypatch.setattr(app_module, "supports_explain", lambda: True)
    monkeypatch.setattr(app_module, "search", with_explanation)
    with serve([("tiny", tiny_index)], refresh_seconds=0) as url:
        page = browser.new_page()
        try:
            page.goto(url + "/?q=vitamin+D&mode=bm25&k=2&explain=true")
            expect(page.locator("#explain-choice")).to_be_visible()
            expect(page.locator("#explain")).to_be_checked()
            shown = page.locator(".snippet.explained")
            expect(shown).to_have_count(2)
            windows = {doc["text"][:30] + " …" for doc in DOCS if doc["id"] in ("v1", "v2")}  # characters 0-30
            assert set(shown.all_inner_texts()) == windows
            assert shown.locator("mark.matched").all_inner_texts() == ["Vitamin", "Vitamin"]
        finally:
            page.close()


def test_without_javascript_the_page_says_so_and_points_to_the_json_api(browser: Any, server: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server + "/")
        notice = page.locator("#noscript")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("needs JavaScript")
        page.locator("#noscript a", has_text="/search?q=").click()
        assert page.url.startswith(server + "/search?q=")  # the link reaches the API, which answers the search
        assert '"hits"' in page.content()
    finally:
        context.close()
