"""Training examples mined from the corpus itself: pseudo-queries, their document, a hard negative.

There are no labelled queries, so queries are made from the documents (no generator model is
needed, and none is available offline):

- **title -> body**: the title asks for the abstract it heads. Natural for titled corpora, but the
  default encoder was trained on millions of such pairs (S2ORC titles and abstracts), so alone it
  teaches little: in-batch negatives are too easy (benchmarks/RESULTS.md, adaptation).
- **inverse cloze (ICT, Lee et al. 2019)**: one sentence of a document asks for the rest of that
  document, the sentence removed so that the match cannot be made by copying words. Sentences are
  claim-like statements of findings, close to what users of a scientific corpus ask.

Each query gets a **hard negative** from BM25 over the training documents: a document that shares
many of its words but is not its source. Such lexical look-alikes are what a dense model confuses,
and mining them with BM25 is cheap (no encoder pass over the corpus). Some of them are really
relevant (another paper on the same finding); the training loss masks those with the frozen base
encoder as a guide (see :mod:`semsearch.adaptation.losses`), so they are not pushed away.

The same search records where BM25 ranks the query's own document. BM25 alone finds it first for
almost every pseudo-query, far more often than for real queries, because a sentence shares its rare
words with the rest of its abstract. So stage 2 learns mostly from queries BM25 already answers, the
likely reason hybrid search gains nothing from it (benchmarks/RESULTS.md, adaptation). The report
gives the share. The
loss can add BM25's scores to its logits and train on what is left (:class:`LexicalScorer`, the
lexical residual in :mod:`semsearch.adaptation.losses`); tried, it did not help.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from tqdm.auto import tqdm

from semsearch.adaptation.texts import Passage, join, sentences, word_count
from semsearch.bm25 import BM25, tokenize

MIN_QUERY_WORDS = 4  # shorter "sentences" are headings, numbers, split errors
MAX_QUERY_WORDS = 60  # longer ones are run-ons or tables
MIN_REST_WORDS = 20  # a document must keep some text once the query is taken out of it


class QueryKind(StrEnum):
    """Where a pseudo-query comes from."""

    TITLE = "title"  # the title; the document is its body
    SENTENCE = "sentence"  # one sentence; the document is everything else (inverse cloze)


@dataclass(frozen=True)
class PseudoQuery:
    """A query made from document ``doc_id``; ``positive`` is that document with the query taken out."""

    doc_id: str
    kind: QueryKind
    query: str
    positive: str


@dataclass(frozen=True)
class Triplet:
    """One training example: a pseudo-query, its document, and a BM25-mined hard negative.

    ``source_rank`` is where BM25 ranks the query's own document (1 = first; 0 = not among the
    documents searched for negatives).
    """

    query: str
    positive: str
    negative: str
    doc_id: str
    negative_id: str
    kind: QueryKind
    source_rank: int = 0


def title_query(passage: Passage) -> PseudoQuery | None:
    if word_count(passage.title) < MIN_QUERY_WORDS - 1 or word_count(passage.body) < MIN_REST_WORDS:
        return None
    return PseudoQuery(passage.id, QueryKind.TITLE, passage.title, passage.body)


def sentence_queries(passage: Passage, rng: random.Random, count: int) -> list[PseudoQuery]:
    """Up to ``count`` inverse-cloze queries: a random sentence, and the title plus the other sentences."""
    parts = sentences(passage.body)
    eligible = [i for i, s in enumerate(parts) if MIN_QUERY_WORDS <= word_count(s) <= MAX_QUERY_WORDS]
    chosen = rng.sample(eligible, min(count, len(eligible)))
    queries = []
    for i in chosen:
        rest = join([passage.title, *parts[:i], *parts[i + 1 :]])
        if word_count(rest) >= MIN_REST_WORDS:
            queries.append(PseudoQuery(passage.id, QueryKind.SENTENCE, parts[i], rest))
    return queries


def training_queries(passages: Sequence[Passage], sentences_per_doc: int, seed: int) -> list[PseudoQuery]:
    """Pseudo-queries in rounds: every document's first query (shuffled), then every second one, ...

    Rounds keep two queries of one document out of the same batch, where each would be the other's
    false in-batch negative, and make a short run see many documents once rather than few twice.
    """
    rng = random.Random(seed)
    per_doc: list[list[PseudoQuery]] = []
    for passage in passages:
        queries = sentence_queries(passage, rng, sentences_per_doc)
        title = title_query(passage)
        if title is not None:
            queries.insert(rng.randrange(len(queries) + 1), title)
        if queries:
            per_doc.append(queries)
    ordered: list[PseudoQuery] = []
    for round_number in range(max((len(q) for q in per_doc), default=0)):
        batch = [queries[round_number] for queries in per_doc if len(queries) > round_number]
        rng.shuffle(batch)
        ordered.extend(batch)
    return ordered


def gate_queries(passages: Sequence[Passage], seed: int) -> list[PseudoQuery]:
    """One query per held-out document: alternately its title and one of its sentences, where it has them."""
    rng = random.Random(seed + 1)
    queries = []
    for number, passage in enumerate(passages):
        title = title_query(passage)
        sentence = sentence_queries(passage, rng, 1)
        options = [title, *sentence] if number % 2 == 0 else [*sentence, title]
        chosen = next((q for q in options if q is not None), None)
        if chosen is not None:
            queries.append(chosen)
    return queries


def mine_negatives(
    queries: Sequence[PseudoQuery], passages: Sequence[Passage], depth: int, seed: int, progress: bool = True
) -> list[Triplet]:
    """A hard negative for each query: a random one of the ``depth`` best BM25 documents, not its own.

    Queries whose BM25 search finds no other document (no shared word) are dropped.
    """
    rng = random.Random(seed + 2)
    bm25 = BM25.build([p.id for p in passages], [p.text for p in passages])
    text = {p.id: p.text for p in passages}
    triplets = []
    for query in tqdm(queries, desc="mining BM25 negatives", unit="query", disable=not progress):
        found = [doc for doc, _ in bm25.top(query.query, depth + 1)]
        candidates = [doc for doc in found if doc != query.doc_id][:depth]
        if not candidates:
            continue
        negative = rng.choice(candidates)
        rank = found.index(query.doc_id) + 1 if query.doc_id in found else 0
        triplets.append(Triplet(query.query, query.positive, text[negative], query.doc_id, negative, query.kind, rank))
    return triplets


def bm25_first_share(triplets: Sequence[Triplet]) -> float:
    """Share of the pseudo-queries whose own document BM25 alone ranks first (0 for none)."""
    return sum(t.source_rank == 1 for t in triplets) / len(triplets) if triplets else 0.0


@dataclass(frozen=True)
class LexicalScorer:
    """BM25 of a query against any text, with the training documents' statistics.

    bm25s's formula and defaults (Lucene's, k1 1.5, b 0.75) over the same stemmed tokens, each query
    word counted once, so a document's score is the one bm25s gives it. Computed here because stage 2
    scores texts no index holds (a document with its query taken out).
    """

    idf: Mapping[str, float]
    average_length: float
    k1: float = 1.5
    b: float = 0.75

    @classmethod
    def fit(cls, passages: Sequence[Passage]) -> LexicalScorer:
        documents = tokenize([p.text for p in passages])
        counts = Counter(token for tokens in documents for token in set(tokens))
        n = len(documents)
        idf = {token: math.log(1 + (n - df + 0.5) / (df + 0.5)) for token, df in counts.items()}
        return cls(idf, sum(map(len, documents)) / max(n, 1))

    @staticmethod
    def bags(texts: Sequence[str]) -> list[Counter[str]]:
        return [Counter(tokens) for tokens in tokenize(list(texts))]

    def score(self, query: Counter[str], document: Counter[str]) -> float:
        norm = self.k1 * (1 - self.b + self.b * sum(document.values()) / self.average_length)
        return sum(
            self.idf.get(token, 0.0) * document[token] / (document[token] + norm)
            for token in query
            if token in document
        )


def save_triplets(path: Path, triplets: Sequence[Triplet]) -> None:
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        for triplet in triplets:
            handle.write(json.dumps(asdict(triplet), ensure_ascii=False) + "\n")
    temporary.replace(path)


def load_triplets(path: Path) -> list[Triplet]:
    with path.open(encoding="utf-8") as handle:
        return [Triplet(**{**row, "kind": QueryKind(row["kind"])}) for row in map(json.loads, handle)]
