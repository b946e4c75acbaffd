"""The corpus as adaptation sees it: passages with their title apart, a held-out slice, sentences.

Adaptation has no labelled queries, so everything it learns from and everything the gate judges
comes from the corpus itself. The split into a training part and a held-out part is made once,
from a hash of the seed and each document id (not from file order), so it is the same on every
run with the same seed and independent of how the corpus file is sorted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from semsearch import corpus
from semsearch.errors import AdaptError, OptionError
from semsearch.types import Document

# A sentence ends at . ! or ? followed by white space and an upper-case letter, digit or bracket.
# Good enough for abstracts and prose; a mis-split only makes one pseudo-query a little odd.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


@dataclass(frozen=True)
class Passage:
    """One document: ``title`` is empty when the corpus has none; ``body`` is the text without it."""

    id: str
    title: str
    body: str

    @property
    def text(self) -> str:
        """What the index encodes: the title, then the body (as :func:`semsearch.corpus.to_document`)."""
        return f"{self.title} {self.body}".strip()


@dataclass(frozen=True)
class Split:
    """Documents to learn from, and documents the gate keeps aside (never trained on)."""

    train: list[Passage]
    held_out: list[Passage]


def to_passage(doc: Document, title_field: str) -> Passage:
    title = doc.metadata.get(title_field)
    title = title.strip() if isinstance(title, str) else ""
    body = doc.text[len(title) :].strip() if title and doc.text.startswith(title) else doc.text
    return Passage(id=doc.id, title=title, body=body)


def load_passages(source: str | Path, fields: corpus.FieldMap | None = None, skip_bad: bool = False) -> list[Passage]:
    """Every document of ``source`` (any format ``semsearch index`` reads) as a passage."""
    fields = fields or corpus.FieldMap()
    passages = [to_passage(doc, fields.title_field) for doc in corpus.load(source, fields, skip_bad=skip_bad)]
    if not passages:
        raise AdaptError(f"{source}: the corpus holds no documents to adapt on")
    return passages


def split_held_out(passages: Sequence[Passage], fraction: float, cap: int, seed: int) -> Split:
    """Keep ``fraction`` of the documents (at most ``cap``, at least 1) aside for the gate."""
    if not 0 < fraction < 1:
        raise OptionError("held_out_fraction", fraction, "must be between 0 and 1")
    if len(passages) < 2:
        raise AdaptError("adaptation needs at least 2 documents: one to learn from, one to check on")
    count = min(cap, max(1, round(fraction * len(passages))), len(passages) - 1)
    held = set(hash_order([p.id for p in passages], seed)[:count])
    return Split(
        train=[p for p in passages if p.id not in held],
        held_out=[p for p in passages if p.id in held],
    )


def hash_order(doc_ids: Iterable[str], seed: int) -> list[str]:
    """``doc_ids`` in the order of a hash of the seed and each id: the same on every run, whatever the file order."""
    return sorted(doc_ids, key=lambda doc_id: hashlib.sha256(f"{seed}\x1f{doc_id}".encode()).hexdigest())


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped, empty ones dropped."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def word_count(text: str) -> int:
    return len(text.split())


def join(parts: Iterable[str]) -> str:
    return " ".join(p for p in parts if p)
