"""The filter parser accepts a safe subset of SQL and renders it; everything else is refused."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semsearch.errors import FilterError
from semsearch.filters import FieldInfo, Kind, parse

FIELDS = {
    "year": FieldInfo("m_year", Kind.NUMBER),
    "journal": FieldInfo("m_journal", Kind.STRING),
    "open": FieldInfo("m_open", Kind.BOOL),
    "id": FieldInfo("doc_id", Kind.STRING),
    "tags": FieldInfo("m_tags", Kind.STRING_LIST),
    "date": FieldInfo("m_date", Kind.STRING),  # a name the SQL tokenizer reads as a keyword
    "contains": FieldInfo("m_contains", Kind.STRING),  # a field may be called contains
}


@pytest.mark.parametrize(
    ("condition", "sql"),
    [
        ("year >= 2015 AND journal = 'X'", "(`m_year` >= 2015 AND `m_journal` = 'X')"),
        ("year BETWEEN 2000 AND 2010", "`m_year` BETWEEN 2000 AND 2010"),
        ("journal IN ('A', 'B')", "`m_journal` IN ('A', 'B')"),
        ("journal NOT IN ('A')", "(NOT `m_journal` IN ('A'))"),
        ("journal LIKE 'Nat%'", "`m_journal` LIKE 'Nat%'"),
        ("journal IS NULL", "`m_journal` IS NULL"),
        ("journal IS NOT NULL", "(NOT `m_journal` IS NULL)"),
        ("open", "`m_open`"),
        ("open = TRUE OR year < -1.5", "(`m_open` = TRUE OR `m_year` < -(1.5))"),
        ("year > - -5", "`m_year` > -(-(5))"),  # not "--5", which SQL reads as a comment
        ("journal = 'it''s'", "`m_journal` = 'it''s'"),
        ('"year" != 3', "`m_year` != 3"),
        ("NOT (year = 1 OR id = 'x')", "(NOT ((`m_year` = 1 OR `doc_id` = 'x')))"),
        ("journal ILIKE 'nat%'", "`m_journal` ILIKE 'nat%'"),
        ("tags CONTAINS 'diet'", "coalesce(array_has(`m_tags`, 'diet'), FALSE)"),
        ("tags contains 'it''s'", "coalesce(array_has(`m_tags`, 'it''s'), FALSE)"),
        ("\"tags\" CONTAINS 'x'", "coalesce(array_has(`m_tags`, 'x'), FALSE)"),
        ("NOT (tags CONTAINS 'x')", "(NOT (coalesce(array_has(`m_tags`, 'x'), FALSE)))"),
        ("tags NOT CONTAINS 'x'", "(NOT coalesce(array_has(`m_tags`, 'x'), FALSE))"),
        (
            "tags CONTAINS 'a' AND year > 1 OR NOT tags CONTAINS 'b'",
            "((coalesce(array_has(`m_tags`, 'a'), FALSE) AND `m_year` > 1) OR (NOT coalesce(array_has(`m_tags`, 'b'), FALSE)))",
        ),
        ("tags IS NULL", "`m_tags` IS NULL"),
        ("contains = 'x'", "`m_contains` = 'x'"),
        ("date = 'x'", "`m_date` = 'x'"),
    ],
)
def test_accepted_conditions_render_with_quoted_columns(condition: str, sql: str) -> None:
    assert parse(condition, FIELDS).sql == sql


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("1=1; DROP TABLE chunks", "single condition"),
        ("year = 1 -- comment", "comments"),
        ("year = 1 /* c */", "comments"),
        ("lower(journal) = 'x'", "function calls"),
        ("journal = lower('x')", "function calls"),
        ("sleep(10)", "function calls"),
        ("author = 'x'", "unknown field 'author'"),
        ("year = 'x'", "cannot compare number with string"),
        ("journal > 3", "cannot compare string with number"),
        ("year LIKE '1%'", "text fields only"),
        ("year = NULL", "IS NULL"),
        ("year IN (SELECT 1)", "IN takes a list"),
        ("journal = 'x' OR 1", "'1' is not allowed"),
        ("t.year = 1", "expected a field name"),
        ("' OR ''='", "is not allowed"),
        ("year = (SELECT max(year) FROM chunks)", "expected a literal"),
    ],
)
def test_rejected_conditions_say_why(condition: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse(condition, FIELDS)


# Conditions sqlglot cannot parse (or reads as something else): our words, the column, one line.
@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("year = ", "the condition ends where a value is expected, after '=' at column 6"),
        ("year >= ", "the condition ends where a value is expected, after '>=' at column 6"),
        ("year = 1 AND", "the condition ends where another condition is expected, after 'AND' at column 10"),
        ("year BETWEEN 1 AND", "the condition ends where a value is expected, after 'AND' at column 16"),
        ("year BETWEEN 1", "BETWEEN takes two values joined by AND"),
        ("year = 1 AND NOT", "after 'NOT' at column 14"),
        ("year IS", "the condition ends where a value is expected, after 'IS' at column 6"),
        ("(year = 1", "unbalanced parenthesis: '\\(' at column 1 is never closed"),
        ("year = 1)", "unbalanced parenthesis: '\\)' at column 9 closes nothing"),
        ("year = 1\nAND (open", "unbalanced parenthesis: '\\(' at line 2, column 5 is never closed"),
        ("= 3", "'=' needs a value on both sides \\(column 1\\)"),
        ("year = = 3", "'=' needs a value on both sides \\(column 6\\)"),
        ("AND year = 1", "'AND' needs a condition on both sides \\(column 1\\)"),
        ("year = 1 OR OR open", "'OR' needs a condition on both sides \\(column 10\\)"),
        ("year NOT = 3", "'NOT' needs a condition after it \\(column 6\\)"),
        ("year 3", "an operator is missing between 'year' and '3' \\(column 6\\)"),
        ("open open", "an operator is missing between 'open' and 'open'"),
        ("journal = 'a' 'b'", "an operator is missing between 'a' and 'b' \\(column 15\\)"),
        ("year = 1,2", "',' at column 9 is outside a list"),
        ("journal = 'abc", "a string opened with ' at column 11 is never closed"),
        ('journal = "abc', 'a quoted name opened with " at column 11 is never closed'),
        ("year = 1 /* x", "comments are not allowed, and the one at column 10 is never closed"),
        ("year ! 3", "unexpected '!' at column 6"),
        ("year = 3 ]", "unexpected ']' at column 10"),
        ("   ", "the condition is empty"),
        ("(" * 3000 + "open" + ")" * 3000, "nested too deeply"),
    ],
)
def test_parse_errors_say_what_is_wrong_and_where(condition: str, message: str) -> None:
    with pytest.raises(FilterError, match=message) as caught:
        parse(condition, FIELDS)
    text = str(caught.value)
    assert "\n" not in text and "\x1b" not in text  # one line, no terminal highlighting
    for internal in ("sqlglot", "Invalid expression", "Unexpected token", "Required keyword", "Line 1, Col", "<class"):
        assert internal not in text
    if len(condition) < 100:
        assert text.endswith(f" in filter {condition!r}")


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('journal = "Nature"', "unknown field 'Nature'; strings take single quotes: journal = 'Nature'"),
        ('"Nature" = journal', "unknown field 'Nature'; strings take single quotes: 'Nature' = journal"),
        ("journal = Nature", "unknown field 'Nature'; strings take single quotes: journal = 'Nature'"),
        ('"year" != "it\'s"', "strings take single quotes: \"year\" != 'it''s'"),
        ('journal IN ("A", "B")', "strings take single quotes: 'A'"),
        ('journal LIKE "Nat%"', "strings take single quotes: 'Nat%'"),
        ('tags CONTAINS "x"', "strings take single quotes: tags CONTAINS 'x' \\(column 15\\)"),
        ('"a{0}" = "b{"', "strings take single quotes: 'a\\{0\\}' = \"b\\{\""),  # braces are not a format string
    ],
)
def test_double_quoted_strings_get_a_hint(condition: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse(condition, FIELDS)


def test_unknown_fields_say_which_metadata_can_be_filtered() -> None:
    with pytest.raises(FilterError, match="unknown field 'author'") as caught:
        parse("author = 'x'", FIELDS)
    assert "only metadata holding strings, numbers, booleans or lists of strings can be filtered" in str(caught.value)
    with pytest.raises(FilterError) as caught:
        parse('"author" = 3', FIELDS)  # a quoted name compared with a number: a field, no hint
    assert "single quotes" not in str(caught.value)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("tags = 'x'", "'tags' holds lists: test it with tags CONTAINS 'value'"),
        ("tags != 'x'", "'tags' holds lists"),
        ("tags IN ('x')", "'tags' holds lists"),
        ("tags LIKE 'x%'", "'tags' holds lists"),
        ("tags ILIKE 'x%'", "'tags' holds lists"),
        ("tags BETWEEN 'a' AND 'b'", "'tags' holds lists"),
        ("tags", "'tags' holds lists"),
        ("journal CONTAINS 'x'", "CONTAINS tests lists of strings, and 'journal' holds string values"),
        ("year CONTAINS 'x'", "'year' holds number values"),
        ("tags CONTAINS 3", "CONTAINS needs a string in single quotes on its right, as in tags CONTAINS 'x'"),
        ("tags CONTAINS year", "CONTAINS needs a string in single quotes"),
        ("tags CONTAINS", "CONTAINS needs a string in single quotes"),
        ("tags CONTAINS NULL", "CONTAINS needs a string in single quotes"),
        ("'x' CONTAINS 'x'", "CONTAINS needs a field name on its left"),
        ("CONTAINS 'x'", "CONTAINS needs a field name on its left"),
        ("NOT CONTAINS 'x'", "CONTAINS needs a field name on its left"),
        ("t.tags CONTAINS 'x'", "CONTAINS needs a field name on its left"),
        ("lower(tags) CONTAINS 'x'", "CONTAINS needs a field name on its left"),
        ("tags CONTAINS 'x' CONTAINS 'y'", "CONTAINS needs a field name on its left"),
        ("tags CONTAINS 'x' = TRUE", "tags CONTAINS 'x' is a condition, not a value"),
        ("author CONTAINS 'x'", "unknown field 'author'"),
        ("array_contains(tags, 'x')", "function calls"),
        ("array_has(tags, 'x')", "function calls"),
    ],
)
def test_list_fields_take_contains_only(condition: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse(condition, FIELDS)


def test_the_contains_rewrite_cannot_be_written_by_hand() -> None:
    """CONTAINS becomes a call of a function whose name holds a fresh nonce; writing one is a function call."""
    with pytest.raises(FilterError, match="function calls"):
        parse("semsearch_contains_0000000000000000(tags, 'x')", FIELDS)


def test_filters_combine_with_and() -> None:
    combined = parse("year > 1", FIELDS) & parse("open", FIELDS)
    assert combined.sql == "(`m_year` > 1) AND (`m_open`)"


_atoms = st.sampled_from(
    [
        "year",
        "journal",
        "open",
        "id",
        "author",
        "tags",
        "contains",
        '"x"',
        "1",
        "'x'",
        "'it''s'",
        "TRUE",
        "NULL",
        "-2.5",
    ]
)
_ops = st.sampled_from(
    [
        "=", "!=", "<", ">=", " AND ", " OR ", " NOT ", " LIKE ", " ILIKE ", " IN ", " IS ", " BETWEEN ",
        " CONTAINS ", ";", "--", "(", ")", ",",
    ]
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.one_of(_atoms, _ops), min_size=1, max_size=12))
def test_fuzz_token_soup_never_crashes(tokens: list[str]) -> None:
    """Any mix of SQL-ish tokens either parses into backquoted columns or raises FilterError."""
    try:
        result = parse(" ".join(tokens), FIELDS)
    except FilterError as error:
        assert "\n" not in str(error) and "sqlglot" not in str(error) and "Unexpected token" not in str(error)
        return
    assert ";" not in result.sql and "--" not in result.sql
    assert "semsearch_contains" not in result.sql.lower()


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_arbitrary_text_never_crashes(text: str) -> None:
    with contextlib.suppress(FilterError):
        parse(text, FIELDS)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_string_literal_round_trips_safely(value: str) -> None:
    """A string literal with any content stays one literal: quotes are escaped, never closed early."""
    literal = "'" + value.replace("'", "''") + "'"
    try:
        sql = parse(f"journal = {literal}", FIELDS).sql
    except FilterError:
        return  # e.g. text the SQL tokenizer cannot read at all
    assert sql.startswith("`m_journal` = '") and sql.endswith("'")
    assert sql[len("`m_journal` = '") : -1].replace("''", "").count("'") == 0
