"""The store of record: one LanceDB table per index (:mod:`.table`), laid out as :mod:`.schema` says.

Also here: a batch of chunks as rows (:mod:`.rows`), naming a damaged file (:mod:`.damage`), going back to
an intact version (:mod:`.repair`), one writer at a time (:mod:`.lock`; :mod:`.lease` on object storage),
vector ids that are never reused (:mod:`.rowids`) and a small store's documents held in memory for searches
(:mod:`.held`).
"""

from semsearch.store.rows import ChunkRows, DocLabel, chunk_table, vector_array
from semsearch.store.table import Store, StoredDocument, StoredWindow

__all__ = ["ChunkRows", "DocLabel", "Store", "StoredDocument", "StoredWindow", "chunk_table", "vector_array"]
