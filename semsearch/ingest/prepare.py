"""Before an indexing run writes anything: the manifest and store it writes into, and how it cuts documents.

An update encodes its documents as the index's other documents were (same model, pooling, window,
overlap and precision); anything else is refused here, before a single row is written.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from semsearch import bm25, location
from semsearch.chunking import DEFAULT_OVERLAP, ChunkConfig, default_window
from semsearch.corpus import FieldMap, place_of
from semsearch.encoder import Encoder
from semsearch.errors import BadRecordError, IndexDamagedError, OptionError
from semsearch.filters import FieldInfo
from semsearch.fsutil import sweep_temporaries
from semsearch.ingest.options import NEW_INDEX, IndexOptions
from semsearch.manifest import BACKUP, MANIFEST, STORE_DIR, Manifest
from semsearch.store import Store
from semsearch.store.schema import kind_of
from semsearch.types import DEFAULT_FUSION, Document, Fusion

log = logging.getLogger(__name__)


def existing_manifest(directory: Path) -> Manifest | None:
    """The manifest of the index at ``directory``, None for a new index (a damaged one is refused with
    the way back, never replaced)."""
    location.pull(directory)  # an index on object storage: its newest small files, and its identity
    if (directory / MANIFEST).exists() or (directory / BACKUP).exists():
        return Manifest.load(directory)
    return None


def settle(options: IndexOptions, existing: Manifest | None) -> IndexOptions:
    """``options`` with every "as the index is" (``None``) filled in: from the index's manifest for an
    update, else with the defaults of a new index. A backend or factory given explicitly replaces the
    index's own (both are derived from the store); the encoder's settings must match it (checked later)."""
    if existing is None:
        return replace(
            options,
            model=options.model or NEW_INDEX.model,
            pooling=options.pooling or NEW_INDEX.pooling,
            backend=options.backend or NEW_INDEX.backend,
            faiss_factory=options.faiss_factory or NEW_INDEX.faiss_factory,
            fields=options.fields or FieldMap(),
        )
    for name, old, new in (("backend", existing.backend, options.backend),
                           ("faiss_factory", existing.faiss_factory, options.faiss_factory)):  # fmt: skip
        if new is not None and new != old:
            log.warning("the index's %s changes from %s to %s", name, old, new)
    return replace(
        options,
        model=options.model or existing.model_spec,
        pooling=options.pooling or existing.pooling,
        precision=options.precision or existing.precision,
        backend=options.backend or existing.backend,
        faiss_factory=options.faiss_factory or existing.faiss_factory,
        fields=options.fields or (fields_from_json(existing.fields) if existing.fields else FieldMap()),
        glob=options.glob or existing.glob,
    )


def fields_to_json(fields: FieldMap) -> dict[str, Any]:
    """A field mapping as the manifest records it (plain JSON values)."""
    return dict(json.loads(json.dumps(asdict(fields))))


def fields_from_json(data: dict[str, Any]) -> FieldMap:
    """The field mapping a manifest recorded (names it does not know, from another version, are left out)."""
    known = {f.name for f in dataclass_fields(FieldMap)}
    return FieldMap(**{name: _tuples(value) for name, value in data.items() if name in known})


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def open_for_writing(
    directory: Path, encoder: Encoder, options: IndexOptions, source: str | None = None
) -> tuple[Manifest, Store]:
    """The manifest and store of ``directory``, created if new, refused if built differently; ``source`` is
    the corpus this run reads, as the manifest records it (None: documents from memory or stdin).

    The store is created before the manifest is written, so an index whose manifest exists always
    has a store; a store without a manifest is a first run that was killed before its first commit.
    """
    existing = existing_manifest(directory)
    assert options.backend is not None and options.faiss_factory is not None, "options are settled first"
    cut = chunking_of(existing, encoder, options)
    wanted = Manifest(
        model=encoder.identity,
        pooling=encoder.pooling,
        dim=encoder.dim,
        max_length=cut.max_length,
        overlap=cut.overlap,
        backend=options.backend,
        faiss_factory=options.faiss_factory,
        precision=encoder.precision,
        fusion=DEFAULT_FUSION,  # an existing index keeps its own
    )
    if existing is not None:
        existing.check_same_vectors(wanted)
    if existing is None:
        location.new_identity(directory)
    for folder in (directory, directory / "faiss"):
        sweep_temporaries(folder)  # what runs killed earlier left behind
    bm25.tidy(directory / "bm25")
    store = Store.create(directory / STORE_DIR, encoder.dim)
    if existing is None and store.count_chunks() > 0:
        raise IndexDamagedError(
            f"{directory / MANIFEST} is missing but the store holds vectors from an unknown model; "
            f"delete {directory} and index the corpus again"
        )
    fields = fields_to_json(options.fields or FieldMap())
    glob = options.glob
    if source is None and existing is not None:  # documents from memory or stdin: the recorded source stays
        source, glob = existing.source, existing.glob  # the one a later run with no SOURCE reads again
    manifest = (existing or wanted).with_run_settings(options.backend, options.faiss_factory, fields, source, glob)
    if options.fusion is not None and (fusion := Fusion.parse(options.fusion)) != manifest.fusion:
        manifest = manifest.with_fusion(fusion)  # set by hand: no evidence
    manifest.save(directory)
    return manifest, store


def chunking_of(existing: Manifest | None, encoder: Encoder, options: IndexOptions) -> ChunkConfig:
    """How documents are cut: as asked, else as the existing index cuts them, else by default.

    An update encodes its documents as the index's other documents were, so what is not asked for
    comes from the manifest. A new index gets :data:`DEFAULT_WINDOW` tokens (or the model's whole
    length if shorter) and :data:`DEFAULT_OVERLAP` (or a quarter of a window too short for it). A
    window the model cannot read whole, or an overlap the window cannot hold, is refused before
    anything is written.
    """
    if options.window is not None and options.window > encoder.max_length:
        raise OptionError("window", options.window, f"{encoder.name} reads windows of 8 to {encoder.max_length} tokens")
    window = options.window or (existing.max_length if existing else default_window(encoder.max_length))
    if options.overlap is not None:
        overlap = options.overlap
    elif existing and window == existing.max_length:
        overlap = existing.overlap
    else:
        overlap = min(DEFAULT_OVERLAP, window // 4)
    try:
        return ChunkConfig(window, overlap)
    except ValueError as exc:
        raise OptionError(
            "overlap", overlap, f"{window}-token windows cannot overlap by {overlap} tokens: {exc}"
        ) from exc


def check_metadata(doc: Document, fields: dict[str, FieldInfo]) -> None:
    """A metadata value whose type differs from its column's cannot be stored or filtered."""
    for name, value in doc.metadata.items():
        info = fields.get(name)
        if info is None or value is None or info.column == "doc_id":
            continue
        found = kind_of(value)
        if found is not info.kind:
            got = type(value).__name__
            reason = f"expected a {info.kind} (as in earlier records), got {got}"
            raise BadRecordError(doc.source, doc.line, name, reason, place_of(doc))
