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
  corroborate, ties going to the better ranked. RAMDocs' misinformation documents are altered copies
  of correct ones, which this rule was made for (benchmarks/RESULTS.md, disambiguation).

**The contextual method** (issue 22, the default: :mod:`~semsearch.disambiguate.contextual`) keeps the
relevance, labels, ordering and leaders above but decides with evidence from the encoder itself and with
fitted, cross-validated models instead of hand-set thresholds: for each relevant candidate that mentions
the query's name, the encoder's token vectors of that mention read in its context (one batched pass over
short snippets, :mod:`~semsearch.disambiguate.mentions`); a logistic regression over mention cosine,
specific-term overlap and stored window cosine gives the probability that two documents share a referent,
and a second one decides whether the labelled groups make the query ambiguous
(:mod:`~semsearch.disambiguate.learned`, coefficients in :mod:`~semsearch.disambiguate.fitted`). Labels
name the referent: "Broken Bow (Nebraska)". ``DisambiguationConfig(contextual=False)`` is the method above.

Everything here is a pure function of candidate texts and scores plus corpus term statistics, so it is
tested without an index; :mod:`semsearch.engine` supplies those from the store and the BM25 index.
"""

from semsearch.disambiguate.contextual import find_senses_in_context
from semsearch.disambiguate.model import (
    Candidate,
    Disambiguation,
    DisambiguationConfig,
    SenseGroup,
    SenseNotFoundError,
    TermStatistics,
    relevance,
)
from semsearch.disambiguate.senses import find_sense, find_senses, narrow

__all__ = [
    "Candidate", "Disambiguation", "DisambiguationConfig", "SenseGroup", "SenseNotFoundError", "TermStatistics",
    "find_sense", "find_senses", "find_senses_in_context", "narrow", "relevance",
]  # fmt: skip
