"""Specific terms: the proper names and rare numbers that documents about one referent share, and how
documents are grouped by them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from semsearch.disambiguate.model import DisambiguationConfig, TermStatistics

TOKEN = re.compile(r"\b\w\w+\b")  # bm25s' token pattern, so terms match the lexical index's vocabulary


MIN_SPECIFIC_DF = 3  # in a small corpus, a term in this many documents still counts as specific


COPY_JACCARD = 0.6  # share of distinct words two candidates have in common to count as versions of one text


@dataclass(frozen=True)
class Token:
    word: str  # as written
    term: str  # normalised (the lexical index's form)
    start: int
    end: int


class Vocabulary:
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

    def tokens(self, text: str) -> list[Token]:
        return [Token(m.group(), self.term[m.group().lower()], m.start(), m.end()) for m in TOKEN.finditer(text)]

    def is_name(self, token: Token) -> bool:
        """Capitalised and never written in lower case in these texts: a proper name."""
        return token.word[0].isupper() and token.term not in self.common


def specific_terms(tokens: Sequence[Token], vocabulary: Vocabulary, exclude: set[str]) -> frozenset[str]:
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
    similarity = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            similarity[i, j] = similarity[j, i] = overlap(term_sets[i], term_sets[j])
    return group_by_similarity(similarity, link)


def group_by_similarity(similarity: np.ndarray, link: float) -> list[list[int]]:
    """Average-linkage groups of items whose mean pairwise ``similarity`` (in [0, 1]) is at least
    ``link``; positions within a group and groups themselves in their original order."""
    n = len(similarity)
    if n == 0:
        return []
    if n == 1:
        return [[0]]
    distance = np.clip(1.0 - np.asarray(similarity, dtype=np.float64), 0.0, None)
    np.fill_diagonal(distance, 0.0)
    labels = fcluster(linkage(squareform(distance, checks=False), "average"), t=1.0 - link, criterion="distance")
    groups: dict[int, list[int]] = {}
    for position, cluster in enumerate(labels):
        groups.setdefault(int(cluster), []).append(position)
    return sorted(groups.values(), key=lambda members: members[0])


def word_set(text: str) -> frozenset[str]:
    return frozenset(m.group().lower() for m in TOKEN.finditer(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0
