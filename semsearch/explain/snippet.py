"""The snippet: the stretch of the scored window that holds most of the marked words, and its rendering.

A window is 128 tokens, several lines of text; a result list shows a few hundred characters of it. The
stretch chosen is the one of at most ``width`` characters holding the most highlights, cut at spaces.
Rendering takes the marker as a function, so the same text becomes terminal colours, plain ``**word**``
markers or HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from semsearch.explain.types import Highlight, Span

SNIPPET_WIDTH = 300  # characters
DENSE_MARKS = 6  # the words with the largest dense shares that are marked


def highlights(dense: Sequence[Span], lexical: Sequence[Span]) -> list[Highlight]:
    """Marks for the top dense words and the BM25 matches, in text order; a word in both is ``both``."""
    kinds: dict[Span, str] = {span: "dense" for span in dense}
    for span in lexical:
        kinds[span] = "both" if kinds.get(span) in ("dense", "both") else "bm25"
    kept: list[Highlight] = []
    for (start, end), kind in sorted(kinds.items()):  # a dense word may hold a BM25 one ("vitamin-d"): merge
        if kept and start < kept[-1].end:
            last = kept[-1]
            kept[-1] = Highlight(last.start, max(last.end, end), last.kind if last.kind == kind else "both")
            continue
        kept.append(Highlight(start, end, kind))
    return kept


def excerpt(text: str, window: Span, marks: Sequence[Highlight], width: int = SNIPPET_WIDTH) -> Span:
    """The span of at most ``width`` characters inside ``window`` holding the most ``marks`` (the earliest
    such), widened back to the word it cuts at either end; the whole window when it is short enough."""
    begin, end = window
    if end - begin <= width:
        return window
    inside = [m for m in marks if begin <= m.start and m.end <= end]
    starts = [begin] + [max(begin, m.start - width // 4) for m in inside]
    best, best_count = begin, -1
    for start in starts:
        count = sum(start <= m.start and m.end <= start + width for m in inside)
        if count > best_count:
            best, best_count = start, count
    stop = min(end, best + width)
    while best > begin and not text[best - 1].isspace():
        best -= 1  # back to the start of the word it cut
    while stop < end and not text[stop - 1].isspace() and not text[stop].isspace():
        stop -= 1  # drop the word it cut
    return best, max(stop, best + 1)


def render(text: str, span: Span, marks: Sequence[Highlight], mark: Callable[[str, str], str]) -> str:
    """``text[span]`` on one line (runs of white space as one space), each highlight inside it replaced by
    ``mark(word, kind)``."""
    start, end = span
    pieces: list[str] = []
    at = start
    for highlight in sorted(marks, key=lambda m: m.start):
        if highlight.start < at or highlight.end > end:
            continue
        pieces.append(_flat(text[at : highlight.start]))
        pieces.append(mark(_flat(text[highlight.start : highlight.end]), highlight.kind))
        at = highlight.end
    pieces.append(_flat(text[at:end]))
    return "".join(pieces).strip()


def _flat(piece: str) -> str:
    """White space runs as one space, keeping a single leading or trailing one."""
    words = piece.split()
    if not words:
        return " " if piece else ""
    return (" " if piece[0].isspace() else "") + " ".join(words) + (" " if piece[-1].isspace() else "")
