"""The contextual method: mention vectors beside specific terms, decisions by the fitted models.

Stages, each a pure function of its inputs so that ``benchmarks/disambiguation_fit.py`` can replay
them on cached candidates:

1. :func:`evidence`: the relevant candidates that mention the query's name, their specific terms,
   phrases and mention vectors (ONE encoder call), and the pairwise features.
2. :func:`senses_of`: same-referent probabilities, groups, labels, the senses with a strong document,
   and the query's features for the ambiguity model.
3. :func:`decide`: the ambiguity model's verdict, the senses' order and leaders, the new ranking.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from semsearch.disambiguate.labels import Phrase, label_senses, phrases
from semsearch.disambiguate.learned import QUERY_FEATURES, Fitted, pair_rows
from semsearch.disambiguate.mentions import JOINERS, QUOTED, Mention, find_mention, name_words
from semsearch.disambiguate.model import (
    Candidate,
    Disambiguation,
    DisambiguationConfig,
    SenseGroup,
    TermStatistics,
    relevance,
)
from semsearch.disambiguate.senses import distinct_first, diversify, lead_with_corroborated
from semsearch.disambiguate.terms import TOKEN, Vocabulary, group_by_similarity, overlap, specific_terms

# A label phrase met anywhere in a sense's documents counts 1, near the name 2, right after it 4: the
# phrase that qualifies the name ("Broken Bow, Nebraska") names the referent.
LABEL_WEIGHTS = (1.0, 2.0, 4.0)

MentionVectors = Callable[[Sequence[int], Sequence[Mention]], np.ndarray]
"""Unit mention vectors of the candidates at these positions, given their mentions (one batch)."""


@dataclass(frozen=True)
class Evidence:
    """What is known of a query's relevant candidates that mention its name."""

    scores: np.ndarray  # relevance of every candidate
    members: tuple[int, ...]  # relevant candidates with a mention, best first
    terms: dict[int, frozenset[str]]
    phrases: dict[int, list[Phrase]]
    name: str  # the name as the query writes it: what every label starts with
    pairs: np.ndarray  # (m, m, PAIR_FEATURES) over members
    vocabulary: Vocabulary


def unchanged(n: int, scores: Sequence[float] | np.ndarray, reason: str) -> Disambiguation:
    return Disambiguation(senses=(), order=tuple(range(n)), relevance=tuple(map(float, scores)), reason=reason)


def evidence(query: str, candidates: Sequence[Candidate], stats: TermStatistics, config: DisambiguationConfig,
             fitted: Fitted, vectors: MentionVectors) -> Evidence | Disambiguation:  # fmt: skip
    """The evidence of stage 1, or the unchanged ranking with the reason there is nothing to split."""
    n = len(candidates)
    if n < 3:
        return unchanged(n, [], f"{n} candidate(s): too few to tell senses apart")
    scores = relevance([c.dense for c in candidates], [c.lexical for c in candidates])
    names = name_words(query)
    if not names:
        return unchanged(n, scores, "the query names nothing (no capitalised or quoted words)")
    if int(np.sum(scores >= fitted.strong)) < 2:
        return unchanged(n, scores, "one sense: fewer than two documents stand out")
    relevant = [i for i in range(n) if scores[i] >= fitted.relevant]
    mentions = {i: m for i in relevant if (m := find_mention(candidates[i].text, names)) is not None}
    members = tuple(i for i in relevant if i in mentions)
    if sum(scores[i] >= fitted.strong for i in members) < 2:
        return unchanged(n, scores, "one sense: fewer than two relevant documents mention the query's name")
    vocabulary = Vocabulary(stats, [candidates[i].text for i in members], config)
    exclude = set(stats.normalize([m.group().lower() for m in TOKEN.finditer(query)]))
    tokens = {i: vocabulary.tokens(candidates[i].text) for i in members}
    terms = {i: specific_terms(tokens[i], vocabulary, exclude) for i in members}
    doc_phrases = {i: phrases(tokens[i], candidates[i].text, exclude, vocabulary) for i in members}
    found = vectors(members, [mentions[i] for i in members]) if fitted.uses_mentions else np.zeros((len(members), 0))
    cosines = np.clip(found @ found.T, -1.0, 1.0) if found.shape[1] else np.zeros((len(members), len(members)))
    overlaps = np.array([[overlap(terms[i], terms[j]) for j in members] for i in members])
    stored = [candidates[i].vector for i in members]
    if all(v is not None for v in stored):
        matrix = np.stack([np.asarray(v, dtype=np.float64) for v in stored if v is not None])
        windows = np.clip(matrix @ matrix.T, -1.0, 1.0)
    else:
        windows = np.zeros((len(members), len(members)))
    pairs = pair_rows(overlaps, cosines, [len(terms[i]) for i in members], config.min_terms, windows)
    return Evidence(scores, members, terms, doc_phrases, name_in(query, names), pairs, vocabulary)


@dataclass(frozen=True)
class Split:
    """Stage 2: the senses (positions in the candidate list) and the query's features."""

    senses: tuple[SenseGroup, ...]
    features: np.ndarray  # QUERY_FEATURES


def senses_of(found: Evidence, fitted: Fitted) -> Split:
    members = found.members
    same = fitted.pair.probability(found.pairs)
    np.fill_diagonal(same, 1.0)
    groups = [[members[j] for j in g] for g in group_by_similarity(same, fitted.link)]
    labels = label_senses(groups, found.phrases, found.vocabulary, LABEL_WEIGHTS)
    scores = found.scores
    kept = [
        (g, label)
        for g, label in zip(groups, labels, strict=True)
        if label is not None and max(scores[i] for i in g) >= fitted.strong
    ]
    senses = tuple(SenseGroup(f"{found.name} ({label})", tuple(g)) for g, label in kept)
    if len(senses) < 2:
        return Split(senses, np.zeros(len(QUERY_FEATURES)))
    best = sorted(senses, key=lambda s: -max(scores[i] for i in s.members))[:2]
    where = {m: k for k, m in enumerate(members)}
    a, b = ([where[i] for i in s.members] for s in best)
    leaders = [where[s.members[0]] for s in best]
    features = np.array([
        max(scores[i] for i in best[1].members),
        1.0 - float(same[np.ix_(a, b)].mean()),
        float(found.pairs[leaders[0], leaders[1], 1]),
        float(found.pairs[leaders[0], leaders[1], 0]),
        float(min(len(senses), 3)),
    ])  # fmt: skip
    return Split(senses, features)


def name_in(query: str, names: frozenset[str]) -> str:
    """The name as the query writes it: a quoted title whole, else the run of its capitalised words
    (and joining words such as "of") holding the most name words ("Rage Against the Machine")."""
    quoted = QUOTED.search(query)
    if quoted:
        return quoted.group(1).strip()
    best: tuple[int, int, int] = (0, 0, 0)  # (name words, start, end)
    run: list[re.Match[str]] = []
    tokens: list[re.Match[str] | None] = [*TOKEN.finditer(query), None]
    for position, match in enumerate(tokens):
        word = match.group() if match is not None else ""
        named = word.lower() in names or (bool(word) and word[0].isupper() and position > 0)
        if match is not None and (named or (run and word.lower() in JOINERS)):
            run.append(match)
            continue
        while run and run[-1].group().lower() in JOINERS:
            run.pop()
        count = sum(m.group().lower() in names for m in run)
        if run and count > best[0]:
            best = (count, run[0].start(), run[-1].end())
        run = []
    return query[best[1] : best[2]] if best[0] else " ".join(sorted(names))


def decide(n: int, texts: Sequence[str], found: Evidence, split: Split, fitted: Fitted) -> Disambiguation:
    """Stage 3: more than one sense when the ambiguity model says so at probability 0.5 or more."""
    if len(split.senses) < 2:
        return unchanged(n, found.scores, "one sense: the documents that mention the name agree")
    if float(fitted.query.probability(split.features[None, :])[0]) < 0.5:
        return unchanged(n, found.scores, "one sense: the senses found are too alike or too weak")
    relevant = [i for i in range(n) if found.scores[i] >= fitted.relevant]
    senses = lead_with_corroborated(distinct_first(split.senses, found.terms), texts, relevant)
    order = diversify(n, [s.members[0] for s in senses])
    return Disambiguation(senses=tuple(senses), order=order, relevance=tuple(map(float, found.scores)))


def find_senses_in_context(query: str, candidates: Sequence[Candidate], stats: TermStatistics,
                           config: DisambiguationConfig, fitted: Fitted,
                           vectors: MentionVectors) -> Disambiguation:  # fmt: skip
    """The senses of ``query`` among ``candidates`` (best first) by the contextual method."""
    found = evidence(query, candidates, stats, config, fitted, vectors)
    if isinstance(found, Disambiguation):
        return found
    split = senses_of(found, fitted)
    return decide(len(candidates), [c.text for c in candidates], found, split, fitted)
