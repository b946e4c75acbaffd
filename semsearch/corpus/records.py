"""Raw records to :class:`~semsearch.types.Document`: which fields are the id, text and title, and what
makes a record bad.

A record that cannot become a document raises :class:`BadRecordError` naming the file, line and
field; with ``skip_bad`` it is counted in :class:`~semsearch.corpus.LoadReport` instead, never dropped.

What counts as a bad record (each one a :class:`BadRecordError` with file, line and field;
docs/reliability.md lists them): a line that is not valid UTF-8 or not a JSON object (including NaN,
Infinity, numbers out of range and nesting deeper than Python can parse); a missing, non-scalar,
over-long or control-character id; a missing, non-string or empty text; a duplicate id (the first
occurrence is kept); a string that is not valid Unicode (a lone surrogate such as ``"\ud800"``);
a CSV/TSV cell that is not the type declared for its column. NUL characters are removed from the text.

When the id or text field is absent from the records altogether (the first record has no such key,
as a CSV whose columns are named otherwise), no record is usable: that is a :class:`CorpusError`
listing the fields found, since skipping every record would only hide that the fields are misnamed.

Types: a CSV cell is text, so :mod:`.formats` infers each column's type over the whole file (a
column of numbers filters as numbers); ``FieldMap.types`` declares a type where inference is wrong.
JSON and Parquet values carry their own types, except that a declared ``"string"`` turns a number
into its text (a numeric code that should filter as a string).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from semsearch.errors import BadRecordError, CorpusError, Hint, OptionError
from semsearch.types import Document

MAX_ID_LENGTH = 1024  # characters; an id is a key, repeated in every chunk row and filter
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
TYPES = ("number", "string", "bool")  # what ``FieldMap.types`` may declare (the filter kinds)


@dataclass(frozen=True)
class FieldMap:
    """Which fields of a record hold the id, the text and the title (the rest is metadata), and the
    types declared for fields (field name, ``"number"`` | ``"string"`` | ``"bool"``)."""

    id_fields: tuple[str, ...] = ("_id", "id")
    text_field: str = "text"
    title_field: str = "title"
    types: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", _declared_types(self.types))

    @classmethod
    def from_options(
        cls,
        id_field: str | None = None,
        text_field: str | None = None,
        title_field: str | None = None,
        *,
        types: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> FieldMap:
        default = cls()
        return cls(
            id_fields=(id_field,) if id_field else default.id_fields,
            text_field=text_field or default.text_field,
            title_field=title_field or default.title_field,
            types=_declared_types(types or ()),
        )

    def declared(self) -> dict[str, str]:
        """The declared types by field name."""
        return dict(self.types)

    def as_written(self) -> frozenset[str]:
        """Fields whose CSV cells stay text unless declared: the id, text and title (an id such as
        ``007`` or ``1.0`` is not a number, a title such as ``1984`` is still a title)."""
        return frozenset((*self.id_fields, self.text_field, self.title_field)) - {name for name, _ in self.types}


def _declared_types(types: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """``types`` as (field, type) pairs, each type one of :data:`TYPES`; an :class:`OptionError` otherwise."""
    try:
        pairs = tuple((name, kind) for name, kind in (types.items() if isinstance(types, Mapping) else types))
    except (TypeError, ValueError):
        raise OptionError("types", types, "expected a mapping of field names to types") from None
    for name, kind in pairs:
        if not isinstance(name, str) or kind not in TYPES:
            valid = ", ".join(repr(t) for t in TYPES[:-1]) + f" or {TYPES[-1]!r}"
            raise OptionError("types", {name: kind}, f"a field's type is {valid}")
    return pairs


def declared_strings(raw: dict[str, Any], fields: FieldMap) -> dict[str, Any]:
    """``raw`` with the numbers of fields declared ``"string"`` turned into their text (at the top and
    in BEIR's nested ``metadata``); other values keep the type their format gave them."""
    names = {name for name, kind in fields.types if kind == "string"}
    if not names:
        return raw
    for record in (raw, raw.get("metadata")):
        if isinstance(record, dict):
            for name in names & record.keys():
                value = record[name]
                if isinstance(value, int | float) and not isinstance(value, bool):
                    record[name] = str(value)
    return raw


def check_fields(raw: dict[str, Any], fields: FieldMap, source: str, noun: str = "fields") -> None:
    """Raise :class:`CorpusError` when the first record ``raw`` lacks the id or text field altogether:
    the fields are misnamed, not one record bad. ``noun`` is what the format calls them (columns)."""
    missing_id = not any(name in raw for name in fields.id_fields)
    missing_text = fields.text_field not in raw
    if not (missing_id or missing_text):
        return
    names = [_shown(name) for name in list(raw)[:30]]
    found = ", ".join(names) + (", ..." if len(raw) > 30 else "") if names else "none"
    no_id, no_text = f"no id field ({' or '.join(fields.id_fields)})", f"no text field ({fields.text_field})"
    what = f"{no_id} and {no_text}" if missing_id and missing_text else no_id if missing_id else no_text
    column, option = ("id", "id_field") if missing_id else ("text", "text_field")  # one at a time: the id first
    raise CorpusError(
        f"{source}: {what}: the records have {noun} {found}",
        Hint(f"name the {column} {noun[:-1]} with {{how}}", option=option, value="NAME"),
    )


def _shown(name: object) -> str:
    """A field name as a one-line message shows it."""
    text = str(name)
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= 40 else text[:39] + "…"


def _id_field(raw: dict[str, Any], fields: FieldMap) -> str | None:
    """The first of the id fields that the record fills, if any."""
    return next((name for name in fields.id_fields if raw.get(name) not in (None, "")), None)


def record_id(raw: dict[str, Any], fields: FieldMap) -> str | None:
    """The id a record gives, if any, even when the record is otherwise unusable: an index keeps the
    stored version of a document whose new record was skipped (``--delete-missing`` spares it)."""
    name = _id_field(raw, fields)
    value = None if name is None else raw[name]
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def to_document(raw: dict[str, Any], fields: FieldMap, source: str, line: int, place: str | None = None) -> Document:
    """Turn one raw record into a document, or say precisely why it cannot be one (at ``place``, where
    the record is not a line of a file)."""

    def bad(field: str, reason: str) -> BadRecordError:
        return BadRecordError(source, line, field, reason, place)

    id_field = _id_field(raw, fields)
    if id_field is None:
        raise bad("/".join(fields.id_fields), "missing id")
    doc_id: Any = raw[id_field]
    if isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
        raise bad(id_field, f"id must be a string or integer, got {type(doc_id).__name__}")
    doc_id = str(doc_id)
    if len(doc_id) > MAX_ID_LENGTH:
        raise bad(id_field, f"id is longer than {MAX_ID_LENGTH} characters")
    if _CONTROL.search(doc_id):
        raise bad(id_field, "id contains a control character (such as NUL or a newline)")
    _check_unicode(doc_id, id_field, bad)

    text = raw.get(fields.text_field)
    if text is None:
        raise bad(fields.text_field, "missing text")
    if not isinstance(text, str):
        raise bad(fields.text_field, f"text must be a string, got {type(text).__name__}")
    title = raw.get(fields.title_field) if fields.title_field != fields.text_field else None  # not put in twice
    if title is not None and not isinstance(title, str):
        raise bad(fields.title_field, f"title must be a string, got {type(title).__name__}")
    full = f"{title.strip()} {text}".strip() if title and title.strip() else text.strip()
    full = full.replace("\x00", "")  # NUL carries no meaning in text and breaks some tokenizers
    if not full.strip():
        raise bad(fields.text_field, "empty text")
    _check_unicode(full, fields.text_field, bad)

    metadata: dict[str, Any] = {}
    for key, value in raw.items():
        if key in (id_field, fields.text_field):  # another id field (``id`` beside ``_id``) is metadata
            continue
        if key == "metadata" and isinstance(value, dict):  # BEIR nests extra fields here
            metadata.update(value)
        else:
            metadata[key] = value
    try:
        serialised = json.dumps(metadata, ensure_ascii=False, default=str)
    except (ValueError, RecursionError) as exc:
        raise bad("metadata", f"cannot be stored as JSON ({type(exc).__name__})") from exc
    _check_unicode(serialised, "metadata", bad)
    return Document(id=doc_id, text=full, metadata=metadata, source=source, line=line)


def _check_unicode(text: str, field: str, bad: Callable[[str, str], BadRecordError]) -> None:
    """A lone surrogate (JSON ``"\\ud800"``) is not Unicode text: it cannot be stored or tokenized."""
    match = _SURROGATE.search(text)
    if match is not None:
        code = f"\\u{ord(match.group()):04x}"
        raise bad(field, f"contains an unpaired surrogate ({code}): not valid Unicode")
