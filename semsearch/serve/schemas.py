"""The request bodies and query parameters the API takes, and the answers it documents.

Requests are checked by pydantic (types, and bounds that never change); :mod:`semsearch.serve.limits`
bounds the rest. A JSON body is checked strictly, as the Python API checks its arguments: JSON has numbers,
booleans and strings of its own, so ``"k": "5"``, ``"k": true`` or ``"disambiguate": "yes"`` is a client's
mistake, not something to guess at. Only a query string, which is text by nature, is read leniently
(``k=5`` is 5, ``disambiguate=true`` is true): :class:`SearchQuery`.

Answers are the library's own ``to_json()`` objects, sent as they are: the models below only describe them
in the OpenAPI schema, so an answer never differs from ``semsearch search --json``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from semsearch.types import Mode

# Every JSON body: no unknown names, no str -> int, bool -> int or "yes" -> bool conversions.
STRICT_BODY = ConfigDict(extra="forbid", strict=True)


class SearchRequest(BaseModel):
    """A search: the JSON body of ``POST /search`` (strict); :class:`SearchQuery` reads the query string."""

    model_config = STRICT_BODY

    q: str = Field(description="The query (at most 2,000 characters).")
    k: int = Field(10, ge=1, description="Documents to return, 1 to 100.")
    mode: Mode = Field(  # not strict: strict would want a Mode object, and JSON gives the name ("bm25") itself
        Mode.HYBRID, strict=False, description="dense, bm25, or hybrid (both, fused as the index fuses them)."
    )
    where: str | None = Field(None, description="A metadata filter in the safe SQL subset, e.g. year >= 2015.")
    label: str | None = Field(None, description="Only documents the index's classifier gave this label.")
    min_prob: float | None = Field(None, ge=0, le=1, description="... with at least this probability.")
    disambiguate: bool = Field(False, description="Group the results by the senses of an ambiguous query.")
    sense: str | int | None = Field(None, description="Put this sense first: its label or 0-based number.")
    explain: bool = Field(False, description="Explain each hit (where this version of semsearch can).")
    feedback: bool | None = Field(
        None,
        description="Hybrid mode: pseudo-relevance feedback on or off (null: as the index's fusion has it, on for "
        "a new index): the query moved towards the first ranking's top two documents.",
    )


class SearchQuery(SearchRequest):
    """The query string of ``GET /search``: the same names, read from text (``k=5`` is 5, ``explain=true`` is
    true), since a query string has no other types."""

    model_config = ConfigDict(extra="forbid", strict=False)


class AddRequest(BaseModel):
    model_config = STRICT_BODY

    documents: list[dict[str, Any]] = Field(
        min_length=1,
        description='Documents as semsearch.index takes them: {"id": ..., "text": ..., other fields: metadata}; '
        "a known id is updated. At most 1,000 per request, added in one commit.",
    )


class DeleteRequest(BaseModel):
    model_config = STRICT_BODY

    ids: list[str] = Field(
        min_length=1, description="Ids to delete, at most 1,000 (those the index does not hold: not_found)."
    )


# -- answers (documentation only) -------------------------------------------------------------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class HitOut(_Open):
    id: str
    score: float
    text: str
    metadata: dict[str, Any]
    label: str | None = Field(None, description="Present where the index has a classifier.")
    label_prob: float | None = None


class SenseOut(_Open):
    label: str
    hits: list[str] = Field(description="Ids of the hits that carry this sense, best first.")


class SearchOut(_Open):
    """What ``semsearch search --json`` prints."""

    query: str
    hits: list[HitOut]
    ambiguous: bool | None = Field(description="null unless disambiguate was asked for.")
    senses: list[SenseOut]
    notes: list[str]


class DocumentOut(_Open):
    id: str
    text: str
    metadata: dict[str, Any]


class InfoOut(_Open):
    """What ``semsearch info --json`` prints."""

    documents: int
    chunks: int
    fields: list[dict[str, str]]
    model: dict[str, str]
    pooling: str
    precision: str
    version: int


class IndexOut(_Open):
    name: str
    documents: int
    version: int
    model: str
    default: bool = Field(description="Whether the plain routes (/search, ...) answer for it.")


class HealthOut(_Open):
    status: str
    writes: bool
    explain: bool = Field(description="Whether search takes explain=true in this version.")
    indexes: dict[str, dict[str, int]]


class AddOut(_Open):
    added: int
    updated: int
    unchanged: int
    documents: int
    version: int = Field(description="The store version now served: searches see the documents.")


class DeleteOut(_Open):
    deleted: int
    not_found: list[str] = Field(description="The ids asked for that the index did not hold, in the order given.")
    documents: int
    version: int


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer."""

    error: ErrorDetail
