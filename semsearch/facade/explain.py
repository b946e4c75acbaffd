"""Explained search: what ``Index.search(explain=True)``, ``Index.explain`` and ``semsearch explain --html`` call.

The index hands itself to :mod:`semsearch.explain` as the source of everything an explanation reads (its
store, BM25 index, encoder and query vectors), so explaining needs no second copy of any of them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from semsearch.explain import Explanation
from semsearch.filters import Filter
from semsearch.ranking import FUSION_DEPTH
from semsearch.types import Fusion, Mode, SearchResult

if TYPE_CHECKING:
    from semsearch.facade.index import Index


def explained(
    index: Index, result: SearchResult, mode: Mode, where: Filter | None, k: int, fusion: Fusion | None = None
) -> SearchResult:
    """``result`` with an explanation on every hit. Ranks come from each channel's top max(k, 100), the
    lists hybrid search fuses (by ``fusion``, None: the index's own), so a hybrid hit's channel parts add
    up to its score."""
    from semsearch.explain.explainer import explain_documents

    docs = [(hit.id, hit.text) for hit in result.hits]
    found = explain_documents(index, result.query, mode, docs, where, max(k, FUSION_DEPTH), fusion)
    return replace(result, hits=[replace(hit, explanation=e) for hit, e in zip(result.hits, found, strict=True)])


def explanation(
    index: Index, query: str, doc_id: str, mode: Mode, where: Filter | None, fusion: Fusion | None = None
) -> Explanation:
    """The explanation of one document, hit or not."""
    from semsearch.explain.explainer import explain_document

    return explain_document(index, query, doc_id, mode, where, fusion)


def explanation_page(index: Index, query: str, doc_id: str, explained: Explanation) -> str:
    """The self-contained HTML page of ``explained``, with the attention view where the dense side ran
    (it loads the torch model)."""
    from semsearch.chunking import ChunkConfig
    from semsearch.explain.html import page

    document = index.get(doc_id)
    text = document.text if document is not None else ""
    view = None
    if explained.dense is not None and explained.dense_tokens:
        from semsearch.explain.attention import attention_view

        config = ChunkConfig(index.manifest.max_length, index.manifest.overlap)
        view = attention_view(index.encoder, text, config, explained)
    return page(query, doc_id, text, explained, view)
