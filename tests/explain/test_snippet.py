"""The snippet: the stretch of the window with the most marks, marked as asked."""

from __future__ import annotations

from semsearch.explain.snippet import excerpt, highlights, render
from semsearch.explain.types import Highlight

TEXT = ("filler words here " * 30) + "the vitamin D deficiency and infection risk " + ("more filler text " * 30)


def span_of(word: str) -> tuple[int, int]:
    start = TEXT.index(word)
    return start, start + len(word)


def test_highlights_merge_channels() -> None:
    marks = highlights([span_of("vitamin"), span_of("deficiency")], [span_of("vitamin"), span_of("infection")])
    assert [(TEXT[m.start : m.end], m.kind) for m in marks] == [
        ("vitamin", "both"), ("deficiency", "dense"), ("infection", "bm25"),
    ]  # fmt: skip
    nested = highlights([(0, 12)], [(0, 6)])  # a dense word holding a BM25 word
    assert nested == [Highlight(0, 12, "both")]


def test_excerpt_holds_the_marks_within_the_window_and_width() -> None:
    marks = highlights([span_of("vitamin"), span_of("infection")], [])
    window = (10, len(TEXT) - 10)
    start, end = excerpt(TEXT, window, marks, width=120)
    assert window[0] <= start < end <= window[1] and end - start <= 140
    assert all(start <= m.start and m.end <= end for m in marks)
    assert TEXT[start - 1].isspace() and (end == window[1] or TEXT[end].isspace() or TEXT[end - 1].isspace())
    assert excerpt("short text", (0, 10), marks, width=120) == (0, 10)


def test_render_marks_each_word_once_on_one_line() -> None:
    text = "Vitamin D\n\n  and   infection."
    at = text.index("infection")
    marks = [Highlight(0, 7, "both"), Highlight(at, at + 9, "bm25")]
    assert render(text, (0, len(text)), marks, lambda w, k: f"**{w}**") == "**Vitamin** D and **infection**."
    assert render(text, (0, len(text)), marks, lambda w, k: f"<{k}>") == "<both> D and <bm25>."
    assert render(text, (8, len(text)), marks, lambda w, k: "#") == "D and #."  # a mark outside is left out
