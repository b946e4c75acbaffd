"""Vector search over the store's vectors, one backend per file behind :class:`VectorBackend`:
:mod:`.faiss` (exact or approximate FAISS indexes, derived files beside the store) and :mod:`.lancedb`
(LanceDB's own search of the store table). :func:`exact_search` is the reference both are tested against.
"""

from semsearch.ann.base import ChunkMatches, VectorBackend, exact_search, open_backend

__all__ = ["ChunkMatches", "VectorBackend", "exact_search", "open_backend"]
