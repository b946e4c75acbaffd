"""BM25 over whole documents (bm25s), kept in step with the store.

The BM25 index is derived data like the FAISS file: it records a fingerprint of the documents it
was built from (their ids and text hashes), and is rebuilt from the store whenever the store's
documents differ, so adds, updates and deletes are always reflected.

Tokens are lower-cased, English stop words removed and Snowball-stemmed, which finds documents
better than bm25s' default tokenizer (benchmarks/RESULTS.md, quality). A document's title counts
:data:`TITLE_WEIGHT` times (:func:`lexical_text`): a query word in the title says more about what the
document is about than one in its body, and every ranking measured gained by it.

On disk (``DIR/bm25/``): ``state.json`` names the data folder currently in use, the fingerprint, the
document ids and the SHA-256 of every file in that folder. A save writes a new folder whose name is
unique to the process, then replaces ``state.json`` atomically, then removes folders nobody uses;
so a reader sees the old index or the new one, two processes saving at once never mix their
files, and a kill at any moment leaves a loadable index (or one that is rebuilt). A file that does
not match its recorded hash (truncated, emptied or overwritten) is rebuilt, never scored with.
bm25s stores plain ``.npy`` arrays (loaded with ``allow_pickle=False``) and JSON: no pickle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer

from semsearch.fsutil import atomic_write_text, file_sha256, pid_alive, sweep_temporaries
from semsearch.store import Store

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

STATE_FILE = "state.json"
_FORMAT = 2
_DATA = re.compile(r"^data-(\d+)-[0-9a-f]{8}$")


# How many times a document's title counts in BM25, in all (the stored text holds it once, in front). Chosen on
# NFCorpus's train queries among 1 to 5; benchmarks/RESULTS.md has the others and the test sets.
TITLE_WEIGHT = 4


def lexical_text(text: str, title: object, weight: int = TITLE_WEIGHT) -> str:
    """What BM25 indexes of a document: its ``text`` with its ``title`` (if it has one) in front
    ``weight - 1`` more times, a title field's weight in one bag of words."""
    if not isinstance(title, str) or not title.strip():
        return text
    return " ".join([title.strip()] * (weight - 1) + [text])


def store_texts(store: Store, title_field: str, weight: int = TITLE_WEIGHT) -> tuple[list[str], list[str]]:
    """Every document of ``store``: its id, and its :func:`lexical_text` with the title its metadata field
    ``title_field`` holds counted ``weight`` times."""
    rows = store.scan(["doc_id", "text", "metadata"], "chunk = 0")
    titles = [json.loads(meta).get(title_field) if meta else None for meta in rows["metadata"].to_pylist()]
    texts = rows["text"].to_pylist()
    return rows["doc_id"].to_pylist(), [lexical_text(t, title, weight) for t, title in zip(texts, titles, strict=True)]


def bm25_line(title_field: str) -> str:
    """How BM25 scores an index whose titles are in metadata field ``title_field`` (``semsearch info``)."""
    return f"whole documents, stemmed; a title (field {title_field!r}) counts {TITLE_WEIGHT} times"


@cache
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer().stemWords, return_ids=False, show_progress=False)


@lru_cache(maxsize=256)
def query_terms(query: str) -> tuple[str, ...]:
    """The terms of one query, as :func:`tokenize` makes them (cached: a hybrid search needs them twice)."""
    return tuple(tokenize([query])[0])


class BM25:
    """A bm25s index with the document ids it scores, in bm25s' document order."""

    def __init__(self, retriever: bm25s.BM25, doc_ids: list[str]) -> None:
        self.retriever = retriever
        self.doc_ids = doc_ids
        self.position = {doc_id: i for i, doc_id in enumerate(doc_ids)}

    @classmethod
    def build(cls, doc_ids: list[str], texts: list[str]) -> BM25:
        retriever = bm25s.BM25()
        if texts:
            retriever.index(tokenize(texts), show_progress=False)
        return cls(retriever, doc_ids)

    @classmethod
    def for_store(cls, store: Store, directory: Path, title_field: str = "title") -> BM25:
        """The saved index if it matches the store's documents and their titles' field, else one rebuilt
        (each document's title, metadata field ``title_field``, weighted as :func:`lexical_text` says) and
        saved."""
        rows = store.scan(["doc_id", "text_hash"], "chunk = 0")
        fingerprint = _fingerprint(rows["doc_id"].to_pylist(), rows["text_hash"].to_pylist(), title_field)
        loaded = cls._load(directory, fingerprint)
        if loaded is not None:
            return loaded
        index = cls.build(*store_texts(store, title_field))
        index._save(directory, fingerprint, store)
        log.info("built BM25 index over %d documents", len(index.doc_ids))
        return index

    @classmethod
    def _load(cls, directory: Path, fingerprint: str) -> BM25 | None:
        state_file = directory / STATE_FILE
        if not state_file.is_file():
            return None
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
            if state.get("format") != _FORMAT or state.get("fingerprint") != fingerprint:
                log.info("BM25 index at %s is stale; rebuilding it", directory)
                return None
            doc_ids = state["doc_ids"]
            if not doc_ids:
                return cls(bm25s.BM25(), [])
            folder = directory / state["data"]
            files: dict[str, str] = state["files"]
            on_disk = sorted(p.name for p in folder.iterdir())
            if on_disk != sorted(files) or any(file_sha256(folder / n) != h for n, h in files.items()):
                log.warning("BM25 index at %s does not match its checksums (damaged); rebuilding it", folder)
                return None
            retriever = bm25s.BM25.load(str(folder), mmap=False, allow_pickle=False, show_progress=False)
            if int(retriever.scores["num_docs"]) != len(doc_ids):
                raise ValueError(f"it scores {retriever.scores['num_docs']} documents, state lists {len(doc_ids)}")
            return cls(retriever, doc_ids)
        except Exception as exc:  # derived data: whatever is wrong with it, it is rebuilt from the store
            log.warning("BM25 index at %s is unreadable (%s); rebuilding it", directory, exc)
            return None

    def _save(self, directory: Path, fingerprint: str, store: Store) -> None:
        """Write a new data folder, then switch ``state.json`` to it in one rename (best effort:
        the index in memory is right either way; a read-only directory or an old reader skips it)."""
        if not store.is_latest():
            log.info("not saving the BM25 index: the store has moved on since this reader opened it")
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
            folder = directory / f"data-{os.getpid()}-{secrets.token_hex(4)}"
            state: dict[str, Any] = {"format": _FORMAT, "fingerprint": fingerprint, "doc_ids": self.doc_ids}
            if self.doc_ids:
                log.info("writing BM25 index to %s", folder)
                self.retriever.save(str(folder), show_progress=False)
                state["data"] = folder.name
                state["files"] = {p.name: file_sha256(p) for p in sorted(folder.iterdir())}
            atomic_write_text(directory / STATE_FILE, json.dumps(state))
            _remove_unused(directory, state.get("data"))
        except OSError as exc:
            log.warning("cannot save the BM25 index in %s (%s); it will be rebuilt on next open", directory, exc)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document (in ``doc_ids`` order) for ``query``."""
        terms = list(query_terms(query))
        if not self.doc_ids or not terms:  # bm25s fails on a query of stop words only ("M&M's", "the")
            return np.zeros(len(self.doc_ids), dtype=np.float32)
        return self.retriever.get_scores(terms).astype(np.float32)

    @property
    def num_docs(self) -> int:
        return len(self.doc_ids)

    def normalize(self, words: Sequence[str]) -> list[str]:
        """Lower-cased, stemmed ``words``: the form in which the index keeps its terms."""
        return _stemmer().stemWords([w.lower() for w in words])

    def document_frequencies(self, terms: Sequence[str]) -> list[int | None]:
        """How many documents contain each normalised term (None for one the index does not keep,
        such as a stop word). Read from the score matrix: one stored score per (term, document)."""
        if not self.doc_ids:
            return [None] * len(terms)
        vocabulary = self.retriever.vocab_dict
        indptr = self.retriever.scores["indptr"]
        found: list[int | None] = []
        for term in terms:
            column = vocabulary.get(term)
            known = column is not None and term and column + 1 < len(indptr)
            found.append(int(indptr[column + 1] - indptr[column]) if known else None)
        return found

    def mask(self, allowed: list[str]) -> np.ndarray:
        """A boolean mask over ``doc_ids`` that is True for ``allowed``."""
        keep = np.zeros(len(self.doc_ids), dtype=bool)
        keep[[self.position[d] for d in allowed if d in self.position]] = True
        return keep

    def top(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The ``k`` best documents with a positive score, restricted to the ``allowed`` mask."""
        return self.best(self.scores(query), k, allowed)

    def best(self, scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The ``k`` best documents by ``scores`` (one per document, as :meth:`scores` gives them)."""
        candidates = np.flatnonzero(scores > 0 if allowed is None else (scores > 0) & allowed)
        if len(candidates) > k:
            part = np.argpartition(-scores[candidates], k - 1)[:k]
            candidates = candidates[part]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(self.doc_ids[i], float(scores[i])) for i in order]


def tidy(directory: Path) -> None:
    """Remove what interrupted saves left in ``directory`` (data folders and temporaries of dead processes)."""
    if not directory.is_dir():
        return
    try:
        current = json.loads((directory / STATE_FILE).read_text(encoding="utf-8")).get("data")
    except (OSError, ValueError, AttributeError):
        current = None
    _remove_unused(directory, current)


def _remove_unused(directory: Path, current: str | None) -> None:
    """Remove data folders other than ``current`` unless a live process may still be writing one."""
    sweep_temporaries(directory)  # temporaries (".name.<pid>.<token>.tmp") of dead processes only
    for entry in directory.iterdir():
        if entry.name in (STATE_FILE, current) or entry.name.startswith("."):
            continue
        match = _DATA.match(entry.name)
        if match and int(match.group(1)) != os.getpid() and pid_alive(int(match.group(1))):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _fingerprint(doc_ids: list[str], text_hashes: list[str], title_field: str) -> str:
    """What the index was built from: the documents' ids and texts, and how their titles were weighted."""
    digest = hashlib.sha256(f"title {title_field} x{TITLE_WEIGHT}\n".encode("utf-8", "surrogatepass"))
    for doc_id, text_hash in sorted(zip(doc_ids, text_hashes, strict=True)):
        digest.update(f"{doc_id}\x1f{text_hash}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
