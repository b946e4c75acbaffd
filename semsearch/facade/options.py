"""Keyword options to options dataclasses: how ``semsearch.index(..., skip_bad=True)`` becomes an
:class:`~semsearch.ingest.IndexOptions`, with a clear error for a name that is not an option."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

from semsearch.errors import OptionError

if TYPE_CHECKING:
    from semsearch.ingest import IndexOptions

Options = TypeVar("Options")


_CORPUS_FIELDS = ("id_field", "text_field", "title_field", "types")  # FieldMap's, given one by one


def index_options(base: IndexOptions, overrides: Mapping[str, Any]) -> IndexOptions:
    """``base`` with ``overrides``: IndexOptions fields, and the corpus field names (and declared ``types``,
    field -> "number" | "string" | "bool") one by one."""
    from semsearch.corpus import FieldMap

    rest = dict(overrides)
    names = {key: rest.pop(key) for key in _CORPUS_FIELDS if key in rest}
    spelled = ({f.name for f in fields(base)} - {"fields"}) | set(_CORPUS_FIELDS)  # what a caller writes
    check_names(rest, spelled)
    if names:
        rest["fields"] = FieldMap.from_options(**names)
    return replace(base, **rest)


def with_options(base: Options, overrides: Mapping[str, Any]) -> Options:
    """``base`` (an options dataclass) with ``overrides`` by field name; an unknown name is an OptionError."""
    check_names(overrides, {f.name for f in fields(base)})  # type: ignore[arg-type]
    return replace(base, **overrides)  # type: ignore[type-var]


def check_names(overrides: Mapping[str, Any], known: set[str]) -> None:
    """An OptionError for the first name of ``overrides`` that is not in ``known``: it suggests the nearest
    known name (a misspelling) and lists them all."""
    for name, value in overrides.items():
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1)
            guess = f"did you mean {near[0]}? " if near else ""
            raise OptionError(name, value, f"not an option here; {guess}the options are {', '.join(sorted(known))}")
