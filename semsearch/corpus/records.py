"""Raw records to :class:`~semsearch.types.Document`: which fields are the id, text and title, and what
makes a record bad.

A record that cannot become a document raises :class:`BadRecordError` naming the file, line and
field; with ``skip_bad`` it is counted in :class:`~semsearch.corpus.LoadReport` instead, never dropped.

What counts as a bad record (each one a :class:`BadRecordError` with file, line and field;
docs/reliability.md lists them): a line that is not valid UTF-8 or not a JSON object (including NaN,
Infinity, numbers out of range and nesting deeper than Python can parse); a missing, non-scalar,
over-long or control-character id; a missing, non-string or empty text; a duplicate id (the first
occurrence is kept); a string that is not valid Unicode (a lone surrogate such as ``"\ud800"``).
NUL characters are removed from the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from semsearch.errors import BadRecordError
from semsearch.types import Document

MAX_ID_LENGTH = 1024  # characters; an id is a key, repeated in every chunk row and filter
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True)
class FieldMap:
    """Which fields of a record hold the id, the text and the title. The rest is metadata."""

    id_fields: tuple[str, ...] = ("_id", "id")
    text_field: str = "text"
    title_field: str = "title"

    @classmethod
    def from_options(
        cls, id_field: str | None = None, text_field: str | None = None, title_field: str | None = None
    ) -> FieldMap:
        default = cls()
        return cls(
            id_fields=(id_field,) if id_field else default.id_fields,
            text_field=text_field or default.text_field,
            title_field=title_field or default.title_field,
        )


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
    title = raw.get(fields.title_field)
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
