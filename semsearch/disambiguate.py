"""Query disambiguation: find the senses among a query's top documents, label them, diversify the list.

"What is the population of Broken Bow?" is answered by documents about a town in Nebraska and by
documents about one in Oklahoma. A ranked list shows whichever scores higher; this module decides
whether the top candidates carry more than one sense, names each sense with a phrase taken from its
documents, and reorders the list so that every sense's best document comes first.

How, and why this way (measured on RAMDocs by ``benchmarks/disambiguation.py``):

- **Relevance.** Only documents about the query's subject can carry one of its senses; the rest of
  the top candidates are background. A candidate's relevance adds two scores made comparable across
  queries: its dense score scaled between the candidates' median (0) and best (1), and its BM25 score
  over the best one. Both are high only for documents close in meaning *and* sharing the query's rare
  words (the ambiguous name). Documents at ``relevant`` or above may belong to a sense.
- **Sense similarity is lexical.** Documents about two senses of one name are often close in
  embedding space (two "X is a 1931 film directed by Y" leads), while two documents about the same
  entity often are not (a lead paragraph and a statistics page). What two documents about one entity
  do share are its *specific* terms: proper names (capitalised words these documents never write in
  lower case) and numbers that few documents of the corpus contain (Custer, Nebraska, 1882), the
  query's own words left out. Documents are compared by the overlap coefficient of those term sets and
  grouped by average linkage; one with fewer than ``min_terms`` of them is not placed at all, since a
  lack of overlap between two tiny sets proves nothing (scientific abstracts, say).
- **Ambiguous** means: at least two groups that can be named, each with a ``strong`` document. One
  sense (or none) leaves the ranking exactly as it was.
- **Labels**, c-TF-IDF style: of the phrases of capitalised words holding a specific name and found in
  no other group's documents, the one met most often in the group's documents, an occurrence next to
  the query's own words counting double (that is where a text says *which* Broken Bow); ties go to the
  phrase met first.
- **Diversification** puts the sense of the best document first, then repeatedly the sense sharing
  fewest specific terms with those already placed (a spurious split of one sense shares some, a real
  second sense usually none), moves each sense's leader to the front in that order and keeps every
  other document where the ranking put it: only sense leaders move, nothing is swapped in.
- **Conflicting copies.** A sense's leader is its best document, unless that document has near-copies
  among the candidates (most of their words shared) that differ from it in a detail: a date, a place,
  an answer. Copies that disagree cannot all be right, so the leader is the version whose own words
  (those its twins lack) the other relevant documents repeat most: the account more sources
  corroborate, ties going to the better ranked. On RAMDocs, whose misinformation documents are
  altered copies of correct ones, this alone lifted S-recall@n by about 0.025.

Everything here is a pure function of candidate texts and scores plus corpus term statistics, so it is
tested without an index; :mod:`semsearch.engine` supplies those from the store and the BM25 index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from semsearch.errors import OptionError, SemsearchError

TOKEN = re.compile(r"\b\w\w+\b")  # bm25s' token pattern, so terms match the lexical index's vocabulary
MAX_LABEL_WORDS = 4
MIN_SPECIFIC_DF = 3  # in a small corpus, a term in this many documents still counts as specific
NEAR_TOKENS = 8  # a phrase this close to a query term qualifies the name ("Broken Bow, Nebraska")
COPY_JACCARD = 0.6  # share of distinct words two candidates have in common to count as versions of one text


class SenseNotFoundError(SemsearchError):
    """``sense=`` names no sense of this query."""


class TermStatistics(Protocol):
    """Corpus-wide term counts: the lexical index provides them (:class:`semsearch.bm25.BM25`)."""

    @property
    def num_docs(self) -> int:
        """Documents in the corpus."""
        ...

    def normalize(self, words: Sequence[str]) -> list[str]:
        """Lower-cased words in the lexical index's own form (stemmed), so they can be looked up."""
        ...

    def document_frequencies(self, terms: Sequence[str]) -> list[int | None]:
        """How many documents contain each normalised term; None for a term the index does not keep
        (a stop word), which is never treated as specific."""
        ...


@dataclass(frozen=True)
class DisambiguationConfig:
    """The few settings of the method; benchmarks/disambiguation.py checks them on held-out halves."""

    candidates: int = 20  # top documents examined
    relevant: float = 1.3  # relevance (at most 2) a document needs to belong to a sense
    strong: float = 1.5  # relevance needed by one document of each of two senses to call a query ambiguous
    link: float = 0.4  # average overlap of specific terms at which documents share a sense
    specific_share: float = 0.015  # a term is specific when at most this share of documents has it
    min_terms: int = 5  # specific terms a document needs before its lack of overlap means anything

    def __post_init__(self) -> None:
        if self.candidates < 2:
            raise OptionError("candidates", self.candidates, "disambiguation needs at least 2 candidates")
        for name in ("link", "specific_share"):
            if not 0 < getattr(self, name) <= 1:
                raise OptionError(name, getattr(self, name), "must lie in (0, 1]")
        if self.strong < self.relevant:
            raise OptionError("strong", self.strong, "must be at least the relevance of a sense's documents (relevant)")


@dataclass(frozen=True)
class Candidate:
    """One of the query's top documents, with the two scores relevance is made of."""

    text: str
    dense: float  # inner product of the query vector and the document's best chunk
    lexical: float  # BM25 score of the document for the query (0 when no query term occurs)


@dataclass(frozen=True)
class SenseGroup:
    """A sense: its label and its candidates (positions in the candidate list: the leader, then best first)."""

    label: str
    members: tuple[int, ...]


@dataclass(frozen=True)
class Disambiguation:
    """The senses found (none unless at least two) and the diversified order of the candidates."""

    senses: tuple[SenseGroup, ...]
    order: tuple[int, ...]
    relevance: tuple[float, ...] = field(default=(), compare=False)

    @property
    def ambiguous(self) -> bool:
        return len(self.senses) >= 2


def relevance(dense: Sequence[float], lexical: Sequence[float]) -> np.ndarray:
    """Per candidate, in [0, 2] (dense part may dip below 0): median-to-best scaled dense score plus
    BM25 score over the best BM25 score. Both parts are relative to this query's own candidates,
    so one threshold serves every query and every corpus."""
    dense_arr = np.asarray(dense, dtype=np.float64)
    lexical_arr = np.asarray(lexical, dtype=np.float64)
    if dense_arr.size == 0:
        return dense_arr
    median = float(np.median(dense_arr))
    spread = float(dense_arr.max()) - median
    dense_part = (dense_arr - median) / spread if spread > 1e-9 else np.zeros_like(dense_arr)
    best_lexical = float(lexical_arr.max())
    lexical_part = lexical_arr / best_lexical if best_lexical > 0 else np.zeros_like(lexical_arr)
    return dense_part + lexical_part


@dataclass(frozen=True)
class _Token:
    word: str  # as written
    term: str  # normalised (the lexical index's form)
    start: int
    end: int


class _Vocabulary:
    """Normalisation and specificity of the words met in one query's candidates (looked up once)."""

    def __init__(self, stats: TermStatistics, texts: Sequence[str], config: DisambiguationConfig) -> None:
        words = sorted({m.group().lower() for text in texts for m in TOKEN.finditer(text)})
        terms = stats.normalize(words)
        self.term = dict(zip(words, terms, strict=True))
        unique = sorted(set(terms))
        frequencies = dict(zip(unique, stats.document_frequencies(unique), strict=True))
        limit = max(MIN_SPECIFIC_DF, config.specific_share * stats.num_docs)
        self.specific = {t for t, df in frequencies.items() if df is not None and 0 < df <= limit}
        # A word these texts also write in lower case is a common word (sentence-initial, title case).
        self.common = {
            self.term[m.group().lower()] for text in texts for m in TOKEN.finditer(text) if m.group()[0].islower()
        }

    def tokens(self, text: str) -> list[_Token]:
        return [_Token(m.group(), self.term[m.group().lower()], m.start(), m.end()) for m in TOKEN.finditer(text)]

    def is_name(self, token: _Token) -> bool:
        """Capitalised and never written in lower case in these texts: a proper name."""
        return token.word[0].isupper() and token.term not in self.common


def specific_terms(tokens: Sequence[_Token], vocabulary: _Vocabulary, exclude: set[str]) -> frozenset[str]:
    """The terms that identify what a document is about: capitalised words and numbers that few
    documents contain, the query's own terms excluded (every sense shares those)."""
    return frozenset(
        t.term
        for t in tokens
        if (vocabulary.is_name(t) or t.word[0].isdigit()) and t.term in vocabulary.specific and t.term not in exclude
    )


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Overlap coefficient |a & b| / min(|a|, |b|); 0 when either is empty (nothing to go on)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def group(term_sets: Sequence[frozenset[str]], link: float) -> list[list[int]]:
    """Average-linkage groups of documents whose specific terms overlap by at least ``link``;
    positions within a group and groups themselves in their original order."""
    n = len(term_sets)
    if n == 0:
        return []
    if n == 1:
        return [[0]]
    distance = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            distance[i, j] = distance[j, i] = 1.0 - overlap(term_sets[i], term_sets[j])
    labels = fcluster(linkage(squareform(distance, checks=False), "average"), t=1.0 - link, criterion="distance")
    groups: dict[int, list[int]] = {}
    for position, cluster in enumerate(labels):
        groups.setdefault(int(cluster), []).append(position)
    return sorted(groups.values(), key=lambda members: members[0])


@dataclass(frozen=True)
class Phrase:
    """A candidate label met in a document."""

    text: str  # as written
    terms: tuple[str, ...]  # normalised
    near: bool  # within NEAR_TOKENS of one of the query's terms: what is said next to the name


def phrases(tokens: Sequence[_Token], text: str, exclude: set[str], vocabulary: _Vocabulary) -> list[Phrase]:
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
            first, last = tokens[run[0]], tokens[run[-1]]
            found.append(Phrase(text[first.start : last.end], tuple(tokens[i].term for i in run), near))
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
    groups: Sequence[Sequence[int]], doc_phrases: Mapping[int, list[Phrase]], vocabulary: _Vocabulary
) -> list[str | None]:
    """A distinguishing phrase per group (None when it has none), c-TF-IDF style: among phrases with a
    specific word that no other group's documents contain, the one met most often in the group's
    documents, an occurrence next to the query's own words counting double (that is where a text says
    which Broken Bow it means); ties go to the phrase met first."""
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
                weight[phrase.terms] = weight.get(phrase.terms, 0.0) + (2.0 if phrase.near else 1.0)
                first.setdefault(phrase.terms, (len(first), phrase.text))
        if not weight:
            labels.append(None)
            continue
        best = max(weight, key=lambda terms: (weight[terms], -first[terms][0]))
        labels.append(first[best][1])
    return labels


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


def word_set(text: str) -> frozenset[str]:
    return frozenset(m.group().lower() for m in TOKEN.finditer(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


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
    vocabulary = _Vocabulary(stats, [candidates[i].text for i in relevant], config)
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


def find_sense(senses: Sequence[SenseGroup], choice: str | int) -> SenseGroup:
    if not senses:
        raise SenseNotFoundError("this query has a single sense among its results; search without a sense")
    names = ", ".join(f"{i}: {s.label!r}" for i, s in enumerate(senses))
    if isinstance(choice, int) or (isinstance(choice, str) and choice.isdigit()):
        index = int(choice)
        if 0 <= index < len(senses):
            return senses[index]
        raise SenseNotFoundError(f"no sense {index}; this query's senses are {names}")
    for sense in senses:
        if sense.label.casefold() == choice.strip().casefold():
            return sense
    raise SenseNotFoundError(f"no sense labelled {choice!r}; this query's senses are {names}")
