"""The condition as sqlglot's tokens: ``<field> CONTAINS <string>`` rewritten before parsing, and a
condition sqlglot cannot parse explained in our words, with the column where the problem is."""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot.errors import ParseError, SqlglotError
from sqlglot.tokens import Token, TokenType


def quote_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- CONTAINS ---------------------------------------------------------------------------------------------------

T = TokenType
_VALUES = {T.VAR, T.IDENTIFIER, T.STRING, T.NUMBER, T.NULL, T.TRUE, T.FALSE}  # tokens that are a whole value
_LOGIC = {T.AND, T.OR}
_BINARY = {T.EQ, T.NEQ, T.GT, T.GTE, T.LT, T.LTE, T.NULLSAFE_EQ, T.LIKE, T.ILIKE, T.IN, T.IS, T.BETWEEN} | _LOGIC
_KEYWORDS = _BINARY | {T.NOT, T.NULL, T.TRUE, T.FALSE, T.ESCAPE}


class ShapeError(Exception):
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


def rewrite_contains(text: str, tokens: Sequence[Token], marker: str) -> list[Token]:
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
            raise ShapeError(f"CONTAINS needs a field name on its left, as in tags CONTAINS 'x' ({_at(text, token)})")
        name = _source(text, tokens[name_at])
        value = tokens[i + 1] if i + 1 < len(tokens) else None
        if value is not None and value.token_type is T.IDENTIFIER:
            example = f"{name} CONTAINS {quote_string(value.text)}"
            raise ShapeError(f"strings take single quotes: {example} ({_at(text, value)})")
        if value is None or value.token_type is not T.STRING:
            raise ShapeError(
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


def diagnose(text: str, tokens: Sequence[Token]) -> str | None:
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


def unexpected(text: str, tokens: Sequence[Token], error: SqlglotError) -> str:
    """Where sqlglot stopped, when :func:`diagnose` cannot tell what is wrong."""
    if isinstance(error, ParseError) and error.errors:
        line, col = error.errors[0].get("line"), error.errors[0].get("col")
        for token in tokens:
            if (token.line, token.col) == (line, col):
                return f"unexpected {_show(text, token)} at {_at(text, token)}"
    return "this is not a condition the filter syntax knows"


def unreadable(text: str) -> str:
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
