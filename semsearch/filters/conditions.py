"""Parsing a condition and rendering it from the checked tree (see :mod:`semsearch.filters`)."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token

from semsearch.errors import FilterError
from semsearch.filters.tokens import ShapeError, diagnose, quote_string, rewrite_contains, unexpected, unreadable


class Kind(StrEnum):
    """The type of a filterable field; numbers are all compared as float64."""

    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"
    STRING_LIST = "list of strings"  # tested with CONTAINS only (and IS NULL)


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
_FILTERABLE = "only metadata holding strings, numbers, booleans or lists of strings can be filtered"
_DIALECT = Dialect.get_or_raise(None)


def parse(condition: str, fields: Mapping[str, FieldInfo]) -> Filter:
    """Check ``condition`` and render it for the store; raise :class:`FilterError` on anything else."""
    if len(condition) > _MAX_LENGTH:
        raise FilterError(f"filter is longer than {_MAX_LENGTH} characters")
    try:
        return _parse(condition, fields)
    except RecursionError as exc:  # thousands of nested parentheses or NOTs
        raise FilterError(f"the condition is nested too deeply in filter {condition!r}") from exc


def _failure(why: str, condition: str) -> FilterError:
    """One line, always: a line break in a quoted value (``'a\nb'``) is shown escaped, as the condition is."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in why)
    return FilterError(f"{shown} in filter {condition!r}")


def _parse(condition: str, fields: Mapping[str, FieldInfo]) -> Filter:
    def fail(why: str) -> FilterError:
        return _failure(why, condition)

    try:
        tokens = _DIALECT.tokenize(condition)
    except SqlglotError as exc:
        raise fail(unreadable(condition)) from exc
    if any(token.comments for token in tokens) or (not tokens and condition.strip()):
        raise FilterError(f"comments are not allowed in a filter: {condition!r}")
    if not tokens:
        raise fail("the condition is empty (write one such as year >= 2015)")
    marker = f"semsearch_contains_{secrets.token_hex(8)}"
    try:
        statements = [s for s in _DIALECT.parser().parse(rewrite_contains(condition, tokens, marker), condition) if s]
    except ShapeError as exc:
        raise fail(str(exc)) from None
    except SqlglotError as exc:
        raise fail(diagnose(condition, tokens) or unexpected(condition, tokens, exc)) from None
    if len(statements) != 1:
        raise FilterError(f"filter must be a single condition, got {len(statements)} statements: {condition!r}")
    tree = statements[0]
    for node in tree.walk():
        if node.comments:
            raise FilterError(f"comments are not allowed in a filter: {condition!r}")
        if isinstance(node, exp.Alias | exp.Concat):  # how sqlglot reads two values side by side: "open open"
            why = diagnose(condition, tokens)
            if why:
                raise fail(why)
    renderer = _Renderer(fields, condition, tokens, marker)
    assert isinstance(tree, exp.Expression)
    return Filter(text=condition, sql=renderer.condition(tree))


class _Renderer:
    def __init__(self, fields: Mapping[str, FieldInfo], text: str, tokens: Sequence[Token], marker: str) -> None:
        self.fields = fields
        self.text = text
        self.tokens = tokens
        self.marker = marker
        self.shown = re.compile(rf"{marker}\((.+?), ('(?:[^']|'')*')\)", re.IGNORECASE)

    def fail(self, why: str) -> FilterError:
        return _failure(why, self.text)

    def show(self, node: exp.Expression) -> str:
        """``node`` as SQL, with the CONTAINS calls of :func:`rewrite_contains` written as the user did."""
        return self.shown.sub(r"\1 CONTAINS \2", node.sql())

    def is_contains(self, node: exp.Expression) -> bool:
        return isinstance(node, exp.Anonymous) and str(node.this).lower() == self.marker

    def condition(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Paren):
            return f"({self.condition(node.this)})"
        if isinstance(node, exp.And | exp.Or):
            op = "AND" if isinstance(node, exp.And) else "OR"
            return f"({self.condition(node.this)} {op} {self.condition(node.expression)})"
        if isinstance(node, exp.Not):
            return f"(NOT {self.condition(node.this)})"
        if self.is_contains(node):
            return self.contains(node)
        if type(node) in _COMPARISONS:
            op = _COMPARISONS[type(node)]
            self.check_quotes(node.this, node.expression, lambda value: f"{value} {op} {self.show(node.expression)}")
            self.check_quotes(node.expression, node.this, lambda value: f"{self.show(node.this)} {op} {value}")
            left, left_kind = self.operand(node.this)
            right, right_kind = self.operand(node.expression)
            self.same_kind(left_kind, right_kind, node)
            return f"{left} {op} {right}"
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
            column, _ = self.field(node.this, lists=True)
            if not isinstance(node.expression, exp.Null):
                raise self.fail("IS takes NULL only")
            return f"{column} IS NULL"
        if isinstance(node, exp.Column | exp.Boolean):  # a bare boolean field or TRUE/FALSE
            value, operand_kind = self.operand(node)
            if operand_kind is not Kind.BOOL:
                raise self.fail(f"{self.show(node)} is not a condition")
            return value
        if isinstance(node, exp.Func):
            raise self.fail(f"function calls such as '{self.show(node)}' are not allowed")
        raise self.fail(
            f"'{self.show(node)}' is not allowed "
            "(use comparisons, AND, OR, NOT, IN, BETWEEN, LIKE, ILIKE, IS NULL, CONTAINS)"
        )

    def contains(self, node: exp.Expression) -> str:
        target, value = node.expressions
        column, kind = self.field(target, lists=True)
        if kind is not Kind.STRING_LIST:
            raise self.fail(f"CONTAINS tests lists of strings, and '{target.sql()}' holds {kind} values")
        if isinstance(value, exp.Column):  # "x", a quoted name: rewrite_contains lets through strings only
            raise self.fail(f"expected a string, got {value.sql()}")
        return f"coalesce(array_has({column}, {self.literal(value, Kind.STRING)}), FALSE)"

    def operand(self, node: exp.Expression) -> tuple[str, Kind | None]:
        if self.is_contains(node):
            raise self.fail(f"{self.show(node)} is a condition, not a value: combine it with AND, OR or NOT")
        if isinstance(node, exp.Func):
            raise self.fail(f"function calls such as '{self.show(node)}' are not allowed")
        if isinstance(node, exp.Column):
            return self.field(node)
        if isinstance(node, exp.Null):
            raise self.fail("compare with NULL using IS NULL or IS NOT NULL")
        return self.literal(node, None), _literal_kind(node)

    def check_quotes(self, node: exp.Expression, other: exp.Expression, example: Callable[[str], str]) -> None:
        """An unknown name in double quotes, or compared with a field, is most likely a string."""
        if not isinstance(node, exp.Column) or node.table or not isinstance(node.this, exp.Identifier):
            return
        name = node.this.this
        if name in self.fields:
            return
        other_is_field = isinstance(other, exp.Column) and isinstance(other.this, exp.Identifier)
        if other_is_field and other.this.this not in self.fields:
            other_is_field = False
        if (node.this.quoted and _literal_kind(other) is None) or other_is_field:
            hint = example(quote_string(name))
            raise self.fail(f"unknown field '{name}'; strings take single quotes: {hint}")

    def field(self, node: exp.Expression, *, lists: bool = False) -> tuple[str, Kind]:
        if not isinstance(node, exp.Column) or node.table or not isinstance(node.this, exp.Identifier):
            raise self.fail(f"expected a field name, got '{self.show(node)}'")
        name = node.this.this
        info = self.fields.get(name)
        if info is None:
            known = ", ".join(sorted(self.fields)) or "none"
            raise self.fail(f"unknown field '{name}' (known fields: {known}; {_FILTERABLE})")
        if info.kind is Kind.STRING_LIST and not lists:
            raise self.fail(f"'{name}' holds lists: test it with {name} CONTAINS 'value'")
        return f"`{info.column}`", info.kind

    def literal(self, node: exp.Expression, kind: Kind | None) -> str:
        found = _literal_kind(node)
        if found is None:
            hint = ""
            if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier) and node.this.quoted:
                hint = f" (strings take single quotes: {quote_string(node.this.this)})"
            raise self.fail(f"expected a literal value, got '{self.show(node)}'{hint}")
        if kind is not None and found is not kind:
            raise self.fail(f"expected a {kind} value, got {self.show(node)}")
        if isinstance(node, exp.Boolean):
            return "TRUE" if node.this else "FALSE"
        if isinstance(node, exp.Neg):
            return f"-({self.literal(node.this, Kind.NUMBER)})"  # "- -5" as "--5" would start an SQL comment
        if node.is_string:
            return quote_string(str(node.this))
        try:
            value = float(node.this)
        except ValueError as exc:  # a literal the SQL tokenizer calls a number but Python does not (0x10)
            raise self.fail(f"'{self.show(node)}' is not a decimal number") from exc
        if not math.isfinite(value):  # 1e400 would render as 'inf', which SQL reads as a column name
            raise self.fail(f"number {self.show(node)} is out of range")
        return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)

    def same_kind(self, left: Kind | None, right: Kind | None, node: exp.Expression) -> None:
        if left is not None and right is not None and left is not right:
            raise self.fail(f"cannot compare {left} with {right} in '{self.show(node)}'")


def _literal_kind(node: exp.Expression) -> Kind | None:
    if isinstance(node, exp.Boolean):
        return Kind.BOOL
    if isinstance(node, exp.Neg):
        return Kind.NUMBER if _literal_kind(node.this) is Kind.NUMBER else None
    if isinstance(node, exp.Literal):
        return Kind.STRING if node.is_string else Kind.NUMBER
    return None
