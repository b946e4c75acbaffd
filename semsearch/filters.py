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
is (:func:`_diagnose`), never with sqlglot's messages.

The rendered condition is applied by the store before top-k (see :mod:`semsearch.store`).
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.tokens import Token, TokenType

from semsearch.errors import FilterError


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
        raise fail(_unreadable(condition)) from exc
    if any(token.comments for token in tokens) or (not tokens and condition.strip()):
        raise FilterError(f"comments are not allowed in a filter: {condition!r}")
    if not tokens:
        raise fail("the condition is empty (write one such as year >= 2015)")
    marker = f"semsearch_contains_{secrets.token_hex(8)}"
    try:
        statements = [s for s in _DIALECT.parser().parse(_rewrite_contains(condition, tokens, marker), condition) if s]
    except _ShapeError as exc:
        raise fail(str(exc)) from None
    except SqlglotError as exc:
        raise fail(_diagnose(condition, tokens) or _unexpected(condition, tokens, exc)) from None
    if len(statements) != 1:
        raise FilterError(f"filter must be a single condition, got {len(statements)} statements: {condition!r}")
    tree = statements[0]
    for node in tree.walk():
        if node.comments:
            raise FilterError(f"comments are not allowed in a filter: {condition!r}")
        if isinstance(node, exp.Alias | exp.Concat):  # how sqlglot reads two values side by side: "open open"
            why = _diagnose(condition, tokens)
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
        """``node`` as SQL, with the CONTAINS calls of :func:`_rewrite_contains` written as the user did."""
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
        if isinstance(value, exp.Column):  # "x", a quoted name: _rewrite_contains lets through strings only
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
            hint = example(_quote(name))
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
                hint = f" (strings take single quotes: {_quote(node.this.this)})"
            raise self.fail(f"expected a literal value, got '{self.show(node)}'{hint}")
        if kind is not None and found is not kind:
            raise self.fail(f"expected a {kind} value, got {self.show(node)}")
        if isinstance(node, exp.Boolean):
            return "TRUE" if node.this else "FALSE"
        if isinstance(node, exp.Neg):
            return f"-({self.literal(node.this, Kind.NUMBER)})"  # "- -5" as "--5" would start an SQL comment
        if node.is_string:
            return _quote(str(node.this))
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


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- CONTAINS ---------------------------------------------------------------------------------------------------

T = TokenType
_VALUES = {T.VAR, T.IDENTIFIER, T.STRING, T.NUMBER, T.NULL, T.TRUE, T.FALSE}  # tokens that are a whole value
_LOGIC = {T.AND, T.OR}
_BINARY = {T.EQ, T.NEQ, T.GT, T.GTE, T.LT, T.LTE, T.NULLSAFE_EQ, T.LIKE, T.ILIKE, T.IN, T.IS, T.BETWEEN} | _LOGIC
_KEYWORDS = _BINARY | {T.NOT, T.NULL, T.TRUE, T.FALSE, T.ESCAPE}


class _ShapeError(Exception):
    """CONTAINS used in any other shape than ``<field> CONTAINS <string>``."""


def _is_name(text: str, tokens: Sequence[Token], i: int) -> bool:
    """Whether ``tokens[i]`` is a field name: a word (``tags``, ``date``) or a quoted name, not after a dot."""
    token = tokens[i]
    word = token.token_type in {T.VAR, T.IDENTIFIER} or (
        token.token_type not in _KEYWORDS and token.text.isidentifier() and _source(text, token) == token.text
    )
    return word and not (i > 0 and tokens[i - 1].token_type is T.DOT)


def _is_contains(text: str, tokens: Sequence[Token], i: int) -> bool:
    """Whether ``tokens[i]`` is the CONTAINS operator (a field may be named contains: ``contains = 'x'``)."""
    if tokens[i].token_type is not T.VAR or tokens[i].text.upper() != "CONTAINS":
        return False
    before = i - 1
    if before >= 0 and tokens[before].token_type is T.NOT:
        before -= 1
    return before >= 0 and (
        tokens[before].token_type in _VALUES | {T.R_PAREN, T.R_BRACKET} or _is_name(text, tokens, before)
    )


def _rewrite_contains(text: str, tokens: Sequence[Token], marker: str) -> list[Token]:
    """``tags CONTAINS 'x'`` as ``marker(tags, 'x')`` and ``tags NOT CONTAINS 'x'`` as ``NOT marker(tags, 'x')``."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not _is_contains(text, tokens, i):
            out.append(token)
            i += 1
            continue
        negated = tokens[i - 1].token_type is T.NOT
        name_at = i - 2 if negated else i - 1
        if not _is_name(text, tokens, name_at):
            raise _ShapeError(f"CONTAINS needs a field name on its left, as in tags CONTAINS 'x' ({_at(text, token)})")
        name = _source(text, tokens[name_at])
        value = tokens[i + 1] if i + 1 < len(tokens) else None
        if value is not None and value.token_type is T.IDENTIFIER:
            example = f"{name} CONTAINS {_quote(value.text)}"
            raise _ShapeError(f"strings take single quotes: {example} ({_at(text, value)})")
        if value is None or value.token_type is not T.STRING:
            raise _ShapeError(
                f"CONTAINS needs a string in single quotes on its right, as in {name} CONTAINS 'x' ({_at(text, token)})"
            )
        del out[name_at - i :]  # the name, and NOT
        if negated:
            out.append(tokens[i - 1])
        out += [
            Token(T.VAR, marker, token.line, token.col, token.start, token.end),
            Token(T.L_PAREN, "(", token.line, token.col, token.start, token.end),
            tokens[name_at],
            Token(T.COMMA, ",", token.line, token.col, token.start, token.end),
            value,
            Token(T.R_PAREN, ")", value.line, value.col, value.start, value.end),
        ]
        i += 2
    return out


# --- parse errors in our words ----------------------------------------------------------------------------------


def _at(text: str, token: Token | int) -> str:
    """Where ``token`` (or a character offset) is, as people count: ``column 7`` or ``line 2, column 3``."""
    start = token if isinstance(token, int) else token.start
    if "\n" not in text:
        return f"column {start + 1}"
    line, line_start = text.count("\n", 0, start) + 1, text.rfind("\n", 0, start) + 1
    return f"line {line}, column {start - line_start + 1}"


def _source(text: str, token: Token) -> str:
    """The token as the user wrote it (with its quotes)."""
    return text[token.start : token.end + 1]


def _show(text: str, token: Token) -> str:
    written = _source(text, token)
    return written if token.token_type is T.STRING else f"'{written}'"


def _diagnose(text: str, tokens: Sequence[Token]) -> str | None:
    """What is wrong with a condition sqlglot cannot read (or reads as something else), if we can tell."""
    opened: list[Token] = []
    for token in tokens:
        if token.token_type is T.L_PAREN:
            opened.append(token)
        elif token.token_type is T.R_PAREN:
            if not opened:
                return f"unbalanced parenthesis: ')' at {_at(text, token)} closes nothing"
            opened.pop()
    if opened:
        return f"unbalanced parenthesis: '(' at {_at(text, opened[-1])} is never closed"
    bounds = _between_ands(tokens)
    depth = 0
    for i, token in enumerate(tokens):
        kind = token.token_type
        before = tokens[i - 1] if i > 0 else None
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        depth += (kind is T.L_PAREN) - (kind is T.R_PAREN)
        if kind in _BINARY or _is_contains(text, tokens, i):
            logic = kind in _LOGIC and i not in bounds
            wanted = "another condition" if logic else "a value"
            if after is None:
                return f"the condition ends where {wanted} is expected, after '{token.text}' at {_at(text, token)}"
            negatable = kind in {T.IN, T.LIKE, T.ILIKE, T.BETWEEN} or kind is T.VAR  # x NOT IN, x NOT CONTAINS
            lacks_left = (
                before is None
                or before.token_type in _BINARY | {T.L_PAREN, T.COMMA}
                or (before.token_type is T.NOT and not negatable)
            )
            if lacks_left or after.token_type in _BINARY | {T.R_PAREN, T.COMMA}:
                sides = "a condition" if logic else "a value"
                return f"'{token.text}' needs {sides} on both sides ({_at(text, token)})"
            if kind is T.BETWEEN and not any(j > i for j in bounds):
                return f"BETWEEN takes two values joined by AND, as in BETWEEN 1 AND 10 ({_at(text, token)})"
        elif kind is T.NOT:
            if after is None:
                return f"the condition ends where a condition is expected, after 'NOT' at {_at(text, token)}"
            if after.token_type in _BINARY - {T.IN, T.LIKE, T.ILIKE, T.BETWEEN} | {T.R_PAREN, T.COMMA}:
                return f"'NOT' needs a condition after it ({_at(text, token)})"
        elif kind is T.VAR and token.text.upper() == "CONTAINS" and after is not None and after.token_type is T.STRING:
            return f"CONTAINS needs a field name on its left, as in tags CONTAINS 'x' ({_at(text, token)})"
        elif (
            kind in _VALUES
            and after is not None
            and after.token_type in _VALUES
            and not _is_contains(text, tokens, i + 1)
        ):
            between = f"{_show(text, token)} and {_show(text, after)}"
            return f"an operator is missing between {between} ({_at(text, after)})"
        elif kind is T.COMMA:
            if depth == 0:
                return f"',' at {_at(text, token)} is outside a list such as IN (1, 2)"
            if (
                before is None
                or after is None
                or before.token_type in {T.L_PAREN, T.COMMA}
                or (after.token_type is T.R_PAREN)
            ):
                return f"a value is missing beside ',' at {_at(text, token)}"
    return None


def _between_ands(tokens: Sequence[Token]) -> set[int]:
    """Indices of the ANDs that join the bounds of a BETWEEN."""
    found: set[int] = set()
    waiting: list[int] = []  # depths of BETWEENs that have not met their AND yet
    depth = 0
    for i, token in enumerate(tokens):
        depth += (token.token_type is T.L_PAREN) - (token.token_type is T.R_PAREN)
        if token.token_type is T.BETWEEN:
            waiting.append(depth)
        elif token.token_type is T.AND and waiting and waiting[-1] == depth:
            waiting.pop()
            found.add(i)
    return found


def _unexpected(text: str, tokens: Sequence[Token], error: SqlglotError) -> str:
    """Where sqlglot stopped, when :func:`_diagnose` cannot tell what is wrong."""
    if isinstance(error, ParseError) and error.errors:
        line, col = error.errors[0].get("line"), error.errors[0].get("col")
        for token in tokens:
            if (token.line, token.col) == (line, col):
                return f"unexpected {_show(text, token)} at {_at(text, token)}"
    return "this is not a condition the filter syntax knows"


def _unreadable(text: str) -> str:
    """Why the tokenizer could not split ``text``: an unclosed quote or comment."""
    i = 0
    while i < len(text):
        char = text[i]
        if char in "'\"":
            end = i + 1
            while True:
                end = text.find(char, end)
                if end < 0:
                    what = "a string" if char == "'" else "a quoted name"
                    return f"{what} opened with {char} at {_at(text, i)} is never closed"
                if text.startswith(char * 2, end):
                    end += 2
                    continue
                break
            i = end + 1
        elif text.startswith("/*", i):
            return f"comments are not allowed, and the one at {_at(text, i)} is never closed"
        else:
            i += 1
    return "the condition cannot be read as SQL"
