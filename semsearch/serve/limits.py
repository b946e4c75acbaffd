"""What a client may ask for: every bound the server checks before any work is done.

The defaults suit a server open to a team: a query is at most a paragraph, a search returns at most 100
documents, a request body is at most 1 MiB (a write, 16 MiB), an embeddings request holds at most 256
inputs. Whatever is over a bound is refused with a 4xx answer naming the bound, never truncated silently.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_k: int = 100  # documents one search returns
    max_query_chars: int = 2_000  # a query, and a sense label
    max_filter_chars: int = 2_000  # a where= condition, and a label name
    max_id_chars: int = 1_000  # a document id
    max_body_bytes: int = 1 * MIB  # a request body (search, embeddings)
    max_write_body_bytes: int = 16 * MIB  # a request body that adds documents
    max_embed_inputs: int = 256  # texts in one embeddings request
    max_embed_chars: int = 20_000  # one text to embed (the encoder reads its first 256 tokens or so anyway)
    max_write_docs: int = 1_000  # documents added, or ids deleted, in one request
    max_pending: int = 64  # requests waiting for the encoder or the index at once; more are told 503
    write_wait_seconds: float = 30.0  # how long a write waits for another process holding the writer lock


DEFAULT_LIMITS = Limits()
