"""Mentions of the query's name in its candidates, and the encoder's view of each one.

Two documents about different towns called Broken Bow share the name; what tells them apart is what the
text says around it ("a city in Custer County, Nebraska"). The encoder's token vectors of the name,
read in the words around one of its mentions, carry that context: a *mention vector*. Mention vectors
of documents about one referent lie close together; those of two referents lie further apart.

Only a short context around the mention is encoded (``CONTEXT_WORDS`` on each side), every candidate's
in ONE batch: a query's whole top 20 windows would cost far more than the search itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from semsearch.disambiguate.terms import TOKEN

CONTEXT_WORDS = 4  # words of text kept on each side of a mention when it is encoded

# Question words and verbs that open a question capitalised without naming anything.
QUESTION_WORDS = frozenset({"what", "who", "whom", "whose", "when", "where", "which", "why", "how", "is", "are",
                            "was", "were", "did", "does", "do", "in", "the", "a", "an", "name", "list"})  # fmt: skip
JOINERS = frozenset({"of", "the", "and", "de", "la", "le", "von", "van", "for", "on", "in", "at"})
QUOTED = re.compile(r"[\"\u201c\u2018']([^\"\u201d\u2019']{2,})[\"\u201d\u2019']")


TokenVectors = Callable[[Sequence[str]], list[tuple[np.ndarray, list[tuple[int, int]]]]]
"""The encoder's last hidden state of each text (tokens x dim, special tokens included) and each
token's character span in that text ((0, 0) for special tokens); all texts in one batch."""


def name_words(query: str) -> frozenset[str]:
    """The lower-cased words of the query's name-like spans: quoted titles, and capitalised words or
    numbers past the question's opening word ("What is the population of Broken Bow?" -> broken, bow).
    Empty when the query names nothing (a claim or a plain question): then nothing can be ambiguous."""
    words: set[str] = set()
    for match in QUOTED.finditer(query):
        words.update(m.group().lower() for m in TOKEN.finditer(match.group(1)))
    tokens = list(TOKEN.finditer(query))
    for position, match in enumerate(tokens):
        word = match.group()
        if position == 0 and word.lower() in QUESTION_WORDS:
            continue
        if word[0].isupper() or word[0].isdigit():
            words.add(word.lower())
    return frozenset(w for w in words if w not in ENGLISH_STOP_WORDS)


@dataclass(frozen=True)
class Mention:
    """Where a document names the query's subject: the longest run of consecutive name words."""

    start: int  # characters of the document's text
    end: int
    words: int  # name words in the run


def find_mention(text: str, names: frozenset[str]) -> Mention | None:
    """The first longest run of consecutive words of ``names`` in ``text`` (a single joining word such as
    "of" may sit inside a run but not start or end it); None when the text has none of them."""
    best: Mention | None = None
    run: list[re.Match[str]] = []

    def close() -> None:
        nonlocal best
        while run and run[-1].group().lower() not in names:
            run.pop()
        count = sum(m.group().lower() in names for m in run)
        if run and (best is None or count > best.words):
            best = Mention(run[0].start(), run[-1].end(), count)
        run.clear()

    for match in TOKEN.finditer(text):
        word = match.group().lower()
        if word in names:
            run.append(match)
        elif run and word in JOINERS and run[-1].group().lower() in names:
            run.append(match)  # "Lincoln County High School of Hamlin": one joining word may continue it
        elif run:
            close()
    close()
    return best


def context(text: str, mention: Mention, words_each_side: int = CONTEXT_WORDS) -> tuple[str, int, int]:
    """The words around ``mention`` (``words_each_side`` each side) and the mention's span in that snippet."""
    words = list(re.finditer(r"\S+", text))
    first = next(i for i, w in enumerate(words) if w.end() > mention.start)
    last = max(i for i, w in enumerate(words) if w.start() < mention.end)
    begin = words[max(0, first - words_each_side)].start()
    end = words[min(len(words) - 1, last + words_each_side)].end()
    return text[begin:end], mention.start - begin, mention.end - begin


def mention_vectors(texts: Sequence[str], mentions: Sequence[Mention | None], encode: TokenVectors,
                    words_each_side: int = CONTEXT_WORDS) -> np.ndarray:  # fmt: skip
    """One unit vector per text: the mean of the encoder's token vectors over its mention, read in its
    context (ONE call of ``encode`` for all); a row of zeros where a text has no mention."""
    snippets = [(i, *context(texts[i], m, words_each_side)) for i, m in enumerate(mentions) if m is not None]
    if not snippets:
        return np.zeros((len(texts), 0), dtype=np.float32)
    encoded = encode([s for _, s, _, _ in snippets])
    out = np.zeros((len(texts), encoded[0][0].shape[1]), dtype=np.float32)
    for (i, _, start, end), (hidden, offsets) in zip(snippets, encoded, strict=True):
        inside = [t for t, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
        vector = hidden[inside].mean(axis=0) if inside else hidden.mean(axis=0)
        norm = float(np.linalg.norm(vector))
        out[i] = vector / norm if norm > 0 else vector
    return out
