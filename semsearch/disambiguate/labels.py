"""Sense labels: the phrase of capitalised words a group's documents use and no other group's do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from semsearch.disambiguate.terms import Token, Vocabulary

MAX_LABEL_WORDS = 4


NEAR_TOKENS = 8  # a phrase this close to a query term qualifies the name ("Broken Bow, Nebraska")
NEXT_TOKENS = 2  # a phrase starting this close after a query term names it outright ("X (Kentucky)")


@dataclass(frozen=True)
class Phrase:
    """A candidate label met in a document."""

    text: str  # as written
    terms: tuple[str, ...]  # normalised
    near: bool  # within NEAR_TOKENS of one of the query's terms: what is said next to the name
    next: bool = False  # starts right after one of the query's terms: "Broken Bow, Nebraska", "X (Kentucky)"


def phrases(tokens: Sequence[Token], text: str, exclude: set[str], vocabulary: Vocabulary) -> list[Phrase]:
    """The candidate labels of a document, in text order: runs of capitalised words without digits,
    separated only by spaces and split at the query's terms, stop words trimmed from both ends, of at
    most MAX_LABEL_WORDS words (longer runs are headings and menus) and holding a specific proper name
    ("West Virginia", "Barbra Streisand")."""
    anchors = [i for i, t in enumerate(tokens) if t.term in exclude]
    found: list[Phrase] = []
    run: list[int] = []

    def close() -> None:
        while run and tokens[run[0]].word.lower() in ENGLISH_STOP_WORDS:
            run.pop(0)
        while run and tokens[run[-1]].word.lower() in ENGLISH_STOP_WORDS:
            run.pop()
        named = any(vocabulary.is_name(tokens[i]) and tokens[i].term in vocabulary.specific for i in run)
        if named and len(run) <= MAX_LABEL_WORDS:
            near = any(run[0] - NEAR_TOKENS <= a <= run[-1] + NEAR_TOKENS for a in anchors)
            after = any(0 < run[0] - a <= NEXT_TOKENS for a in anchors)
            first, last = tokens[run[0]], tokens[run[-1]]
            found.append(Phrase(text[first.start : last.end], tuple(tokens[i].term for i in run), near, after))
        run.clear()

    for i, token in enumerate(tokens):
        usable = token.word[0].isupper() and not any(c.isdigit() for c in token.word) and token.term not in exclude
        joined = bool(run) and text[tokens[run[-1]].end : token.start].strip() == ""
        if not usable or not joined:
            close()
        if usable:
            run.append(i)
    close()
    return found


def label_senses(
    groups: Sequence[Sequence[int]],
    doc_phrases: Mapping[int, list[Phrase]],
    vocabulary: Vocabulary,
    weights: tuple[float, float, float] = (1.0, 2.0, 2.0),
) -> list[str | None]:
    """A distinguishing phrase per group (None when it has none), c-TF-IDF style: among phrases with a
    specific word that no other group's documents contain, the one met most often in the group's
    documents, an occurrence near the query's own words counting ``weights[1]`` and one right after them
    ``weights[2]`` instead of ``weights[0]`` (that is where a text says which Broken Bow it means);
    ties go to the phrase met first."""
    elsewhere: list[set[tuple[str, ...]]] = []
    for index in range(len(groups)):
        seen = {p.terms for j, members in enumerate(groups) if j != index for m in members for p in doc_phrases[m]}
        elsewhere.append(seen)
    labels: list[str | None] = []
    for index, members in enumerate(groups):
        weight: dict[tuple[str, ...], float] = {}
        first: dict[tuple[str, ...], tuple[int, str]] = {}
        for position in members:
            for phrase in doc_phrases[position]:
                if phrase.terms in elsewhere[index]:
                    continue
                gain = weights[2] if phrase.next else weights[1] if phrase.near else weights[0]
                weight[phrase.terms] = weight.get(phrase.terms, 0.0) + gain
                first.setdefault(phrase.terms, (len(first), phrase.text))
        if not weight:
            labels.append(None)
            continue
        best = max(weight, key=lambda terms: (weight[terms], -first[terms][0]))
        labels.append(first[best][1])
    return labels
