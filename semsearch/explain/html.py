"""A self-contained HTML page of an explanation: the token shares over the text, the query's words, the BM25
terms and, per layer and head, the attention from the query-relevant tokens.

One file, no external script, style sheet, font or CDN, so it opens offline and can be mailed. Everything
is drawn without script (coloured spans, one SVG per layer); a short inline script only lets a click on a
head colour the window's pieces by that head's attention. Marked-up elements carry their numbers in
``data-`` attributes, which the tests read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from semsearch.explain.attention import AttentionView, Piece
from semsearch.explain.types import Explanation, QueryWord, TokenShare

CELL = 6  # pixels per piece in the attention strips
ROW = 10  # pixels per head

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.6em; } code { background: #f3f3f3; }
.summary, .legend { color: #444; }
.text { border: 1px solid #ddd; padding: .8em; border-radius: 4px; }
.outside { color: #999; }
.tok, .qtok, .piece { border-radius: 3px; padding: 0 1px; }
.tok.top { outline: 2px solid #1a7f37; font-weight: 600; }
.special { font-size: .75em; color: #666; border: 1px dashed #aaa; margin: 0 2px; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid #eee; padding: 2px 10px; text-align: left; }
.layer { margin: .4em 0; } .layer h3 { font-size: .9em; margin: .2em 0; }
.head { cursor: pointer; } .head:hover rect.bg { fill: #ffe08a; }
.note { color: #8a5a00; }
"""

SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('attention-data').textContent);
  var pieces = document.querySelectorAll('#attention-text .piece');
  var label = document.getElementById('attention-label');
  function show(layer, head) {
    var row = data.weights[layer][head], top = Math.max.apply(null, row) || 1;
    pieces.forEach(function (el, i) {
      el.style.background = 'rgba(31, 111, 235, ' + (row[i] / top).toFixed(3) + ')';
      el.title = (row[i] * 100).toFixed(1) + '% of the attention';
    });
    label.textContent = 'layer ' + (layer + 1) + ', head ' + (head + 1);
  }
  document.querySelectorAll('.head').forEach(function (el) {
    el.addEventListener('click', function () { show(+el.dataset.layer, +el.dataset.head); });
  });
  document.body.dataset.ready = '1';
})();
"""


def page(query: str, doc_id: str, text: str, explanation: Explanation, attention: AttentionView | None) -> str:
    """The whole page, as one string."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>semsearch explain: {escape(query)} / {escape(doc_id)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Why <code>{escape(doc_id)}</code> matches &ldquo;{escape(query)}&rdquo;</h1>",
        f'<p class="summary">{escape(summary(explanation))}</p>',
        *[f'<p class="note">note: {escape(note)}</p>' for note in explanation.notes],
        "<h2>Query words</h2>",
        _query(explanation.query_words, query),
    ]
    if explanation.dense is not None:
        d = explanation.dense
        parts += [
            "<h2>Token shares over the scored window</h2>",
            '<p class="legend">Each word has an additive share of the cosine (hover to see it). Green: a share '
            "above what as many tokens have at the window's average share, red: below it (a word is worth about "
            f"its length in tokens times the average); outlined: the {len(_top(explanation))} largest shares. "
            f"Method {escape(d.method)}: the shares sum to {d.shares_sum:.6f}, the window's "
            f"cosine is {d.score:.6f} (gap {d.gap:.1e}); the stored vector's cosine is "
            f"{_number(d.stored_score)}.</p>",
            _tokens(text, explanation),
        ]
    if explanation.bm25_terms:
        parts += ["<h2>BM25 terms</h2>", _terms(explanation)]
        if explanation.dense is None:
            parts.append(_matches(text, explanation))
    if attention is not None:
        parts += _attention(text, attention)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def summary(explanation: Explanation) -> str:
    """One line: the mode's score and each channel's part."""
    pieces = []
    for name, channel in explanation.channels.items():
        rank = f"rank {channel.rank}" if channel.rank is not None else "unranked"
        fused = f"{channel.fused:.4f} from " if channel.fused is not None else ""
        pieces.append(f"{name} {fused}{rank}, score {_number(channel.score)}")
    carried = f"; carried by {explanation.carried_by}" if explanation.carried_by else ""
    return f"{explanation.mode} score {explanation.score:.4f}: " + " + ".join(pieces) + carried


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:.4f}"


def _top(explanation: Explanation) -> set[tuple[int, int]]:
    return {(t.start, t.end) for t in explanation.top_words(5)}


def _colour(share: float, largest: float) -> str:
    alpha = min(1.0, abs(share) / largest) if largest > 0 else 0.0
    return f"rgba(26, 160, 60, {alpha:.3f})" if share >= 0 else f"rgba(215, 45, 45, {alpha:.3f})"


def _tokens(text: str, explanation: Explanation) -> str:
    """The window's words coloured by how far their share is above (green) or below (red) what as many
    tokens would have at the window's average share, the rest of the text greyed around it."""
    tokens = explanation.dense_tokens
    score = explanation.dense.score if explanation.dense is not None else 0.0
    average = score / max(1, sum(t.pieces for t in tokens))
    relative = {id(t): t.score - t.pieces * average for t in tokens}
    largest = max((abs(relative[id(t)]) for t in tokens if not t.special), default=0.0)
    top = _top(explanation)
    start, end = explanation.window
    out = [f'<div class="text" id="shares"><span class="outside">{escape(text[:start])}</span>']
    at = start
    for token in tokens:
        if token.special:
            out.append(_token_span(token, "tok special", token.text, relative[id(token)], largest))
            continue
        out.append(escape(text[at : token.start]))
        kind = "tok top" if (token.start, token.end) in top else "tok"
        out.append(_token_span(token, kind, text[token.start : token.end], relative[id(token)], largest))
        at = token.end
    out.append(escape(text[at:end]) + f'<span class="outside">{escape(text[end:])}</span></div>')
    return "".join(out)


def _token_span(token: TokenShare, kind: str, shown: str, relative: float, largest: float) -> str:
    title = f"share {token.score:+.5f} ({relative:+.5f} against the average)"
    return (
        f'<span class="{kind}" data-share="{token.score:.6g}" data-start="{token.start}" data-end="{token.end}" '
        f'title="{title}" style="background: {_colour(relative, largest)}">{escape(shown)}</span>'
    )


def _query(words: Sequence[QueryWord], query: str) -> str:
    largest = max((abs(w.dense or 0.0) for w in words if not w.special), default=0.0)
    out = ['<p class="query">']
    at = 0
    for word in words:
        if word.special:
            continue
        out.append(escape(query[at : word.start]))
        title = f"dense {'none' if word.dense is None else f'{word.dense:+.5f}'}, " + (
            f"BM25 {'none' if word.bm25 is None else f'{word.bm25:.4f}'}"
        )
        out.append(
            f'<span class="qtok" data-dense="{word.dense}" data-bm25="{word.bm25}" title="{title}" '
            f'style="background: {_colour(word.dense or 0.0, largest)}">{escape(query[word.start : word.end])}</span>'
        )
        at = word.end
    out.append(escape(query[at:]) + "</p>")
    rows = "".join(
        f"<tr><td>{escape(w.text)}</td><td>{_number(w.dense)}</td><td>{_number(w.bm25)}</td></tr>"
        for w in words
        if not w.special
    )
    return "".join(out) + f"<table><tr><th>query word</th><th>dense share</th><th>BM25</th></tr>{rows}</table>"


def _terms(explanation: Explanation) -> str:
    rows = "".join(
        f"<tr><td>{escape(t.term)}</td><td>{t.score:.4f}</td><td>{escape(', '.join(t.words)) or '-'}</td>"
        f"<td>{len(t.spans)}</td></tr>"
        for t in explanation.bm25_terms
    )
    total = sum(t.score for t in explanation.bm25_terms)
    return (
        "<table><tr><th>term (stem)</th><th>score</th><th>words in the document</th><th>matches</th></tr>"
        f"{rows}<tr><th>sum</th><th>{total:.4f}</th><th></th><th></th></tr></table>"
    )


def _matches(text: str, explanation: Explanation) -> str:
    """The whole text with the BM25 matches marked (a BM25 explanation has no token shares to show)."""
    spans = sorted((start, end, t.term) for t in explanation.bm25_terms if t.score > 0 for start, end in t.spans)
    out = ['<div class="text" id="matches">']
    at = 0
    for start, end, term in spans:
        out.append(escape(text[at:start]))
        out.append(f'<mark class="term" data-term="{escape(term)}">{escape(text[start:end])}</mark>')
        at = end
    out.append(escape(text[at:]) + "</div>")
    return "".join(out)


def _attention(text: str, view: AttentionView) -> list[str]:
    """The pieces (coloured by the mean over every layer and head until a head is clicked) and one SVG
    strip per layer: a row per head, a cell per piece, darker where the sources attend more."""
    weights = view.weights
    layers, heads, count = weights.shape
    mean = weights.mean(axis=(0, 1))
    top = float(mean.max()) or 1.0
    sources = ", ".join(escape(_shown(text, view.pieces[i])) for i in view.sources)
    out = [
        "<h2>Attention from the query-relevant tokens</h2>",
        f'<p class="legend">Sources: the pieces of the top words ({sources}). Each strip is a layer, each row a '
        "head, each cell a piece of the window; darker: more attention from the sources. Click a row to colour "
        'the pieces by that head; shown: <span id="attention-label">the mean over every layer and head</span>.</p>',
        '<div class="text" id="attention-text">',
    ]
    for i, piece in enumerate(view.pieces):
        kind = "piece source" if i in view.sources else "piece"
        out.append(
            f'<span class="{kind}" data-i="{i}" style="background: rgba(31, 111, 235, {mean[i] / top:.3f})">'
            f"{escape(_shown(text, piece))}</span> "
        )
    out.append("</div>")
    for layer in range(layers):
        out.append(f'<div class="layer"><h3>layer {layer + 1}</h3>')
        out.append(f'<svg width="{40 + count * CELL}" height="{heads * ROW}" xmlns="http://www.w3.org/2000/svg">')
        for head in range(heads):
            row = weights[layer, head]
            peak = float(row.max()) or 1.0
            y = head * ROW
            cells = "".join(
                f'<rect x="{40 + i * CELL}" y="{y}" width="{CELL}" height="{ROW - 1}" '
                f'fill-opacity="{row[i] / peak:.2f}"/>'
                for i in range(count)
                if row[i] / peak >= 0.01
            )
            out.append(
                f'<g class="head" data-layer="{layer}" data-head="{head}"><rect class="bg" x="0" y="{y}" '
                f'width="{40 + count * CELL}" height="{ROW - 1}" fill="#f6f6f6"/>'
                f'<text x="2" y="{y + ROW - 2}" font-size="8">h{head + 1}</text><g fill="#1f6feb">{cells}</g></g>'
            )
        out.append("</svg></div>")
    data = {"weights": [[[round(float(w), 4) for w in row] for row in layer] for layer in weights]}
    out.append(f'<script type="application/json" id="attention-data">{json.dumps(data)}</script>')
    out.append(f"<script>{SCRIPT}</script>")
    return out


def _shown(text: str, piece: Piece) -> str:
    return piece.token if piece.special else text[piece.start : piece.end]
