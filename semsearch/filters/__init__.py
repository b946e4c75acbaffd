"""Metadata filters: a safe subset of SQL, checked against the index's known fields.

A user writes ``year >= 2015 AND journal = 'X'``. The condition is parsed with sqlglot, every node
is checked against a short allow-list (comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, ILIKE, IS NULL,
CONTAINS, literals and known field names), types are checked, and a new SQL string is *rendered*
from the checked tree with quoted column names and escaped literals. The user's text is never pasted
into a query, so ``1=1; DROP TABLE x``, comments and function calls are rejected rather than executed.

``tags CONTAINS 'x'`` (a field holding lists of strings) is not SQL that sqlglot reads: before
parsing, the tokens ``<field> CONTAINS <string>`` are rewritten into a call of a function whose name
holds a random nonce, which the user cannot write, and that call is rendered as ``array_has``.

A condition sqlglot cannot parse is explained in our own words, with the column where the problem
is (:mod:`.tokens`), never with sqlglot's messages.

The rendered condition is applied by the store before top-k (see :mod:`semsearch.store`).
"""

from semsearch.filters.conditions import FieldInfo, Filter, Kind, parse

__all__ = ["FieldInfo", "Filter", "Kind", "parse"]
