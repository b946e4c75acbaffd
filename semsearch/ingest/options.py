"""How to index a corpus, and what an indexing run reports. Plain values: importing this is cheap."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from semsearch.corpus import FieldMap
from semsearch.models import DEFAULT_MODEL
from semsearch.types import Backend, Fusion, Pooling, Precision


@dataclass(frozen=True)
class IndexOptions:
    """How to encode and store a corpus. Defaults are what a user gets from the CLI.

    The encoder settings and the vector backend say ``None`` for "as the index already is": an update
    encodes and stores its documents as the index's others were (see :mod:`semsearch.ingest.prepare`),
    and a new index gets the defaults below.
    """

    model: str | None = None  # None: the index's own; for a new index DEFAULT_MODEL
    pooling: Pooling | None = None  # None: the index's own; for a new index NEW_INDEX.pooling
    precision: Precision | None = None  # None: the index's own, or for a new index the fastest exact-enough one
    window: int | None = None  # tokens per document window; None: the index's own, for a new one DEFAULT_WINDOW
    overlap: int | None = None  # tokens shared by consecutive windows; None: the index's own, else a default
    backend: Backend | None = None  # None: the index's own; for a new index NEW_INDEX.backend
    faiss_factory: str | None = None  # None: the index's own; for a new index "auto" (see semsearch.ann.faiss)
    fields: FieldMap | None = None  # which fields are the id, text and title; None: the index's own, else default
    glob: str | None = None  # which files of a folder of notes; None: the index's own, else every .txt/.md
    batch_docs: int = 256  # documents per commit
    skip_bad: bool = False
    delete_missing: bool = False
    progress: bool = True
    lock_timeout: float = 0.0  # seconds to wait for another writer of the same index; 0: fail at once
    classifier: Path | None = None  # label every document with this classifier (see semsearch.ingest.labelling)
    fusion: Fusion | None = None  # how hybrid search fuses; None: the index's own (for a new one DEFAULT_FUSION)


@dataclass(frozen=True)
class NewIndexDefaults:
    """What a new index gets where :class:`IndexOptions` says ``None``."""

    model: str = DEFAULT_MODEL
    pooling: Pooling = Pooling.MEAN
    backend: Backend = Backend.FAISS
    faiss_factory: str = "auto"  # exact search while fast enough, HNSW above (semsearch.ann.faiss.choose_factory)


NEW_INDEX = NewIndexDefaults()


@dataclass(frozen=True)
class IndexSummary:
    docs: int  # documents in the index after the run
    chunks: int
    added: int
    updated: int
    unchanged: int
    deleted: int
    skipped_bad: int
    encoded_docs: int
    seconds: float
    bytes_on_disk: int
    skipped_examples: tuple[str, ...] = ()
    empty: int = 0  # empty files of a folder of notes, skipped (not bad records)
    relabelled: int = 0  # unchanged documents given a label by the index's (new) classifier
    vector_index: str = ""  # which vector index serves the store, with its measured recall
    setup_seconds: float = 0.0  # of ``seconds``: loading the model (and making the int8 model the first time)

    @property
    def docs_per_second(self) -> float:
        """Documents encoded per second of indexing, the model's loading left out."""
        working = self.seconds - self.setup_seconds
        return self.encoded_docs / working if working > 0 else 0.0
