"""Keyword options to options dataclasses: how ``semsearch.index(..., skip_bad=True)`` becomes an
:class:`~semsearch.ingest.IndexOptions`, with a clear error for a name that is not an option."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

from semsearch.errors import OptionError

if TYPE_CHECKING:
    from semsearch.ingest import IndexOptions

Options = TypeVar("Options")


def index_options(base: IndexOptions, overrides: Mapping[str, Any]) -> IndexOptions:
    """``base`` with ``overrides``: IndexOptions fields, and the corpus field names (and declared ``types``,
    field -> "number" | "string" | "bool") one by one."""
    from semsearch.corpus import FieldMap

    rest = dict(overrides)
    names = {key: rest.pop(key) for key in ("id_field", "text_field", "title_field", "types") if key in rest}
    if names:
        rest["fields"] = FieldMap.from_options(**names)
    return with_options(base, rest)


def with_options(base: Options, overrides: Mapping[str, Any]) -> Options:
    """``base`` (an options dataclass) with ``overrides`` by field name; an unknown name is an OptionError."""
    known = {f.name for f in fields(base)}  # type: ignore[arg-type]
    for name, value in overrides.items():
        if name not in known:
            raise OptionError(name, value, f"not an option here; the options are {', '.join(sorted(known))}")
    return replace(base, **overrides)  # type: ignore[type-var]
