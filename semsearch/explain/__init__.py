"""Explaining a match: which words made a document score, exactly, for dense, BM25 and hybrid search.

- :mod:`.types`: the explanation (frozen data, ``to_json()``), light enough for ``Hit.explanation``;
- :mod:`.lexical`: each query term's exact part of the BM25 score, and the surface words behind its stem;
- :mod:`.dense`: each token's exact share of a mean-pooled cosine, from one forward pass, grouped into words;
- :mod:`.gradients`: integrated gradients for CLS pooling, where no exact decomposition exists;
- :mod:`.snippet`: the stretch of the window to show, and its marked rendering;
- :mod:`.explainer`: all of it for a list of documents (what ``Index.search(explain=True)`` and
  ``Index.explain`` call);
- :mod:`.attention`, :mod:`.html`: the attention view and the self-contained page of ``semsearch explain --html``.

This package imports only its types; each module loads what it needs when it is imported.
"""

from semsearch.explain.types import (
    Channel,
    DenseSummary,
    Explanation,
    Highlight,
    QueryWord,
    TermContribution,
    TokenShare,
)

__all__ = ["Channel", "DenseSummary", "Explanation", "Highlight", "QueryWord", "TermContribution", "TokenShare"]
