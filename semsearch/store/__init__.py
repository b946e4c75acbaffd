"""The store of record: one LanceDB table per index (:mod:`.table`), laid out as :mod:`.schema` says.

Also here: naming a damaged file (:mod:`.damage`), going back to an intact version (:mod:`.repair`),
the one-writer lock (:mod:`.lock`) and vector ids that are never reused (:mod:`.rowids`).
"""

from semsearch.store.table import ChunkRows, DocLabel, Store, StoredDocument, chunk_table

__all__ = ["ChunkRows", "DocLabel", "Store", "StoredDocument", "chunk_table"]
