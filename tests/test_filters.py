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
        ("year = ", "cannot parse"),
        ("' OR ''='", "is not allowed"),
        ("year = (SELECT max(year) FROM chunks)", "expected a literal"),
    ],
)
def test_rejected_conditions_say_why(condition: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse(condition, FIELDS)


def test_filters_combine_with_and() -> None:
    combined = parse("year > 1", FIELDS) & parse("open", FIELDS)
    assert combined.sql == "(`m_year` > 1) AND (`m_open`)"


_atoms = st.sampled_from(["year", "journal", "open", "id", "author", "1", "'x'", "'it''s'", "TRUE", "NULL", "-2.5"])
_ops = st.sampled_from(
    ["=", "!=", "<", ">=", " AND ", " OR ", " LIKE ", " IN ", " IS ", " BETWEEN ", ";", "--", "(", ")", ","]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.one_of(_atoms, _ops), min_size=1, max_size=12))
def test_fuzz_token_soup_never_crashes(tokens: list[str]) -> None:
    """Any mix of SQL-ish tokens either parses into backquoted columns or raises FilterError."""
    try:
        result = parse(" ".join(tokens), FIELDS)
    except FilterError:
        return
    assert ";" not in result.sql and "--" not in result.sql


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
