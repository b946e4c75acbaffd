"""Metadata filters: a safe subset of SQL, checked against the index's known fields.

A user writes ``year >= 2015 AND journal = 'X'``. The condition is parsed with sqlglot, every node
is checked against a short allow-list (comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, IS NULL, literals
and known field names), types are checked, and a new SQL string is *rendered* from the checked tree
with quoted column names and escaped literals. The user's text is never pasted into a query, so
``1=1; DROP TABLE x``, comments and function calls are rejected rather than executed.

The rendered condition is applied by the store before top-k (see :mod:`semsearch.store`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from semsearch.errors import FilterError


class Kind(StrEnum):
    """The type of a filterable field; numbers are all compared as float64."""

    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"


@dataclass(frozen=True)
class FieldInfo:
    column: str
    kind: Kind


@dataclass(frozen=True)
class Filter:
    """A checked condition, rendered for the store, with the user's text kept for messages."""

    text: str
    sql: str

    def __and__(self, other: Filter) -> Filter:
        return Filter(text=f"({self.text}) AND ({other.text})", sql=f"({self.sql}) AND ({other.sql})")


_COMPARISONS: dict[type[exp.Expression], str] = {
    exp.EQ: "=",
    exp.NEQ: "!=",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
}
_MAX_LENGTH = 10_000


def parse(condition: str, fields: Mapping[str, FieldInfo]) -> Filter:
    """Check ``condition`` and render it for the store; raise :class:`FilterError` on anything else."""
    if len(condition) > _MAX_LENGTH:
        raise FilterError(f"filter is longer than {_MAX_LENGTH} characters")
    try:
        statements = [s for s in sqlglot.parse(condition) if s is not None]
    except SqlglotError as exc:
        raise FilterError(f"cannot parse filter {condition!r}: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1:
        raise FilterError(f"filter must be a single condition, got {len(statements)} statements: {condition!r}")
    tree = statements[0]
    for node in tree.walk():
        if node.comments:
            raise FilterError(f"comments are not allowed in a filter: {condition!r}")
    renderer = _Renderer(fields, condition)
    assert isinstance(tree, exp.Expression)
    return Filter(text=condition, sql=renderer.condition(tree))


class _Renderer:
    def __init__(self, fields: Mapping[str, FieldInfo], text: str) -> None:
        self.fields = fields
        self.text = text

    def fail(self, why: str) -> FilterError:
        return FilterError(f"{why} in filter {self.text!r}")

    def condition(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Paren):
            return f"({self.condition(node.this)})"
        if isinstance(node, exp.And | exp.Or):
            op = "AND" if isinstance(node, exp.And) else "OR"
            return f"({self.condition(node.this)} {op} {self.condition(node.expression)})"
        if isinstance(node, exp.Not):
            return f"(NOT {self.condition(node.this)})"
        if type(node) in _COMPARISONS:
            left, left_kind = self.operand(node.this)
            right, right_kind = self.operand(node.expression)
            self.same_kind(left_kind, right_kind, node)
            return f"{left} {_COMPARISONS[type(node)]} {right}"
        if isinstance(node, exp.In):
            if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
                raise self.fail("IN takes a list of literals only")
            column, kind = self.field(node.this)
            values = [self.literal(v, kind) for v in node.expressions]
            if not values:
                raise self.fail("IN needs at least one value")
            return f"{column} IN ({', '.join(values)})"
        if isinstance(node, exp.Between):
            column, kind = self.field(node.this)
            return (
                f"{column} BETWEEN {self.literal(node.args['low'], kind)} AND {self.literal(node.args['high'], kind)}"
            )
        if isinstance(node, exp.Like | exp.ILike):
            column, kind = self.field(node.this)
            if kind is not Kind.STRING:
                raise self.fail("LIKE applies to text fields only")
            op = "LIKE" if isinstance(node, exp.Like) else "ILIKE"
            return f"{column} {op} {self.literal(node.expression, Kind.STRING)}"
        if isinstance(node, exp.Is):
            column, _ = self.field(node.this)
            if not isinstance(node.expression, exp.Null):
                raise self.fail("IS takes NULL only")
            return f"{column} IS NULL"
        if isinstance(node, exp.Column | exp.Boolean):  # a bare boolean field or TRUE/FALSE
            value, operand_kind = self.operand(node)
            if operand_kind is not Kind.BOOL:
                raise self.fail(f"{node.sql()} is not a condition")
            return value
        if isinstance(node, exp.Func):
            raise self.fail(f"function calls such as '{node.sql()}' are not allowed")
        raise self.fail(f"'{node.sql()}' is not allowed (use comparisons, AND, OR, NOT, IN, BETWEEN, LIKE, IS NULL)")

    def operand(self, node: exp.Expression) -> tuple[str, Kind | None]:
        if isinstance(node, exp.Func):
            raise self.fail(f"function calls such as '{node.sql()}' are not allowed")
        if isinstance(node, exp.Column):
            return self.field(node)
        if isinstance(node, exp.Null):
            raise self.fail("compare with NULL using IS NULL or IS NOT NULL")
        return self.literal(node, None), _literal_kind(node)

    def field(self, node: exp.Expression) -> tuple[str, Kind]:
        if not isinstance(node, exp.Column) or node.table or not isinstance(node.this, exp.Identifier):
            raise self.fail(f"expected a field name, got '{node.sql()}'")
        name = node.this.this
        info = self.fields.get(name)
        if info is None:
            known = ", ".join(sorted(self.fields)) or "none"
            raise self.fail(f"unknown field '{name}' (known fields: {known})")
        return f"`{info.column}`", info.kind

    def literal(self, node: exp.Expression, kind: Kind | None) -> str:
        found = _literal_kind(node)
        if found is None:
            raise self.fail(f"expected a literal value, got '{node.sql()}'")
        if kind is not None and found is not kind:
            raise self.fail(f"expected a {kind} value, got {node.sql()}")
        if isinstance(node, exp.Boolean):
            return "TRUE" if node.this else "FALSE"
        if isinstance(node, exp.Neg):
            return f"-({self.literal(node.this, Kind.NUMBER)})"  # "- -5" as "--5" would start an SQL comment
        if node.is_string:
            return "'" + str(node.this).replace("'", "''") + "'"
        try:
            value = float(node.this)
        except ValueError as exc:  # a literal the SQL tokenizer calls a number but Python does not (0x10)
            raise self.fail(f"'{node.sql()}' is not a decimal number") from exc
        if not math.isfinite(value):  # 1e400 would render as 'inf', which SQL reads as a column name
            raise self.fail(f"number {node.sql()} is out of range")
        return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)

    def same_kind(self, left: Kind | None, right: Kind | None, node: exp.Expression) -> None:
        if left is not None and right is not None and left is not right:
            raise self.fail(f"cannot compare {left} with {right} in '{node.sql()}'")


def _literal_kind(node: exp.Expression) -> Kind | None:
    if isinstance(node, exp.Boolean):
        return Kind.BOOL
    if isinstance(node, exp.Neg):
        return Kind.NUMBER if _literal_kind(node.this) is Kind.NUMBER else None
    if isinstance(node, exp.Literal):
        return Kind.STRING if node.is_string else Kind.NUMBER
    return None
