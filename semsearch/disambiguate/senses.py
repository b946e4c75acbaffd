"""Finding the senses among a query's candidates, choosing each one's leader, and reordering the list."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from semsearch.disambiguate.labels import label_senses, phrases
from semsearch.disambiguate.model import (
    Candidate,
    Disambiguation,
    DisambiguationConfig,
    SenseGroup,
    SenseNotFoundError,
    TermStatistics,
    relevance,
)
from semsearch.disambiguate.terms import (
    COPY_JACCARD,
    TOKEN,
    Vocabulary,
    group,
    jaccard,
    overlap,
    specific_terms,
    word_set,
)


def distinct_first(senses: Sequence[SenseGroup], terms: dict[int, frozenset[str]]) -> list[SenseGroup]:
    """The sense of the best document first, then repeatedly the one whose specific terms overlap least
    with those already placed (ties by rank): a spurious split of one sense shares some terms with its
    sibling, a true second sense usually none, so the true one wins the early places."""
    pooled = {s.members: frozenset().union(*(terms[m] for m in s.members)) for s in senses}
    ordered = [min(senses, key=lambda s: s.members[0])]
    rest = [s for s in senses if s is not ordered[0]]
    while rest:
        closest = {s.members: max(overlap(pooled[s.members], pooled[o.members]) for o in ordered) for s in rest}
        chosen = min(rest, key=lambda s: (closest[s.members], s.members[0]))
        ordered.append(chosen)
        rest.remove(chosen)
    return ordered


def corroborated(
    best: int, words: Sequence[frozenset[str]], witnesses: Sequence[int], exclude: frozenset[int] = frozenset()
) -> int:
    """The version to lead with among ``best`` and its near-copies in ``words`` (candidates sharing
    at least ``COPY_JACCARD`` of their distinct words with it), ``exclude`` left out.

    Each version's own words (those none of the other versions has: where an altered copy differs)
    count +1 when one of the ``witnesses`` (other relevant candidates) has them too and -1 when none
    does; the highest total wins, ties going to the better ranked (lower position)."""
    versions = [best] + [
        i
        for i in range(len(words))
        if i != best and i not in exclude and jaccard(words[best], words[i]) >= COPY_JACCARD
    ]
    if len(versions) == 1:
        return best
    seen: frozenset[str] = frozenset().union(*(words[w] for w in witnesses if w not in versions))

    def support(version: int) -> int:
        own = words[version] - frozenset().union(*(words[v] for v in versions if v != version))
        repeated = len(own & seen)
        return repeated - (len(own) - repeated)

    return max(versions, key=lambda v: (support(v), -v))


def lead_with_corroborated(
    senses: Sequence[SenseGroup], texts: Sequence[str], witnesses: Sequence[int]
) -> list[SenseGroup]:
    """``senses`` with each one's members starting with its :func:`corroborated` version (which may be a
    candidate outside the sense: a near-copy belongs to the same sense). A version that leads an
    earlier sense, or is a member of another sense, is not taken: no document is in two senses."""
    words = [word_set(text) for text in texts]
    led: list[SenseGroup] = []
    taken: set[int] = set()
    for sense in senses:
        elsewhere = {m for other in senses if other is not sense for m in other.members}
        leader = corroborated(sense.members[0], words, witnesses, frozenset(taken | elsewhere))
        if leader in taken:
            leader = next((m for m in sense.members if m not in taken), sense.members[0])
        taken.add(leader)
        led.append(SenseGroup(sense.label, (leader, *(m for m in sense.members if m != leader))))
    return led


def diversify(n: int, leaders: Sequence[int]) -> tuple[int, ...]:
    """``leaders`` first, in the given order (each once), then every other position in rank order."""
    first = list(dict.fromkeys(leaders))
    placed = set(first)
    return tuple(first + [i for i in range(n) if i not in placed])


def find_senses(
    query: str,
    candidates: Sequence[Candidate],
    stats: TermStatistics,
    config: DisambiguationConfig | None = None,
) -> Disambiguation:
    """The senses of ``query`` among ``candidates`` (best first) and the diversified order."""
    config = config or DisambiguationConfig()
    n = len(candidates)
    if n < 3:  # too few documents to tell a sense from the background
        return Disambiguation(senses=(), order=tuple(range(n)))
    scores = relevance([c.dense for c in candidates], [c.lexical for c in candidates])
    unchanged = Disambiguation(senses=(), order=tuple(range(n)), relevance=tuple(map(float, scores)))
    if int(np.sum(scores >= config.strong)) < 2:
        return unchanged
    relevant = [i for i in range(n) if scores[i] >= config.relevant]
    vocabulary = Vocabulary(stats, [candidates[i].text for i in relevant], config)
    exclude = set(stats.normalize([m.group().lower() for m in TOKEN.finditer(query)]))
    tokens = {i: vocabulary.tokens(candidates[i].text) for i in relevant}
    terms = {i: specific_terms(tokens[i], vocabulary, exclude) for i in relevant}
    members = [i for i in relevant if len(terms[i]) >= config.min_terms]
    groups = [[members[j] for j in g] for g in group([terms[i] for i in members], config.link)]
    doc_phrases = {i: phrases(tokens[i], candidates[i].text, exclude, vocabulary) for i in members}
    labels = label_senses(groups, doc_phrases, vocabulary)
    senses = [SenseGroup(label, tuple(g)) for g, label in zip(groups, labels, strict=True) if label is not None]
    if sum(max(scores[i] for i in s.members) >= config.strong for s in senses) < 2:
        return unchanged
    senses = lead_with_corroborated(distinct_first(senses, terms), [c.text for c in candidates], relevant)
    order = diversify(n, [s.members[0] for s in senses])
    return Disambiguation(senses=tuple(senses), order=order, relevance=tuple(map(float, scores)))


def narrow(n: int, senses: Sequence[SenseGroup], choice: str | int) -> tuple[int, ...]:
    """The order that puts the chosen sense's documents first (``choice``: a label, case-insensitive,
    or a 0-based index), every other document after them in rank order."""
    chosen = find_sense(senses, choice)
    first = list(chosen.members)
    return tuple(first + [i for i in range(n) if i not in set(first)])


def qualifier(label: str) -> str:
    """The part of a label in its last parentheses: "Nebraska" of "Broken Bow (Nebraska)"."""
    return label[label.rindex("(") + 1 : -1]


def find_sense(senses: Sequence[SenseGroup], choice: str | int) -> SenseGroup:
    if not senses:
        raise SenseNotFoundError("this query has a single sense among its results; search without a sense")
    names = ", ".join(f"{i}: {s.label!r}" for i, s in enumerate(senses))
    if isinstance(choice, int) or (isinstance(choice, str) and choice.isdigit()):
        index = int(choice)
        if 0 <= index < len(senses):
            return senses[index]
        raise SenseNotFoundError(f"no sense {index}; this query's senses are {names}")
    wanted = choice.strip().casefold()
    for sense in senses:
        if sense.label.casefold() == wanted:
            return sense
    for sense in senses:  # "Nebraska" for "Broken Bow (Nebraska)": the qualifier alone
        if sense.label.endswith(")") and "(" in sense.label and qualifier(sense.label).casefold() == wanted:
            return sense
    raise SenseNotFoundError(f"no sense labelled {choice!r}; this query's senses are {names}")
