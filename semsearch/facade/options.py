"""Keyword options to options dataclasses: how ``semsearch.index(..., skip_bad=True)`` becomes an
:class:`~semsearch.ingest.IndexOptions` (and ``semsearch.adapt``'s keywords an AdaptOptions), with a clear
error for a name that is not an option."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any, TypeVar

from semsearch.errors import OptionError

Options = TypeVar("Options")


_CORPUS_FIELDS = ("id_field", "text_field", "title_field", "types")  # FieldMap's, given one by one


def keyword_options(base: Options, overrides: Mapping[str, Any]) -> Options:
    """``base`` (options with a ``fields`` FieldMap: IndexOptions, AdaptOptions) with ``overrides``: its
    fields, and the corpus field names (and declared ``types``, field -> "number" | "string" | "bool") one
    by one, as ``semsearch index`` takes them."""
    from semsearch.corpus import FieldMap

    rest = dict(overrides)
    names = {key: rest.pop(key) for key in _CORPUS_FIELDS if key in rest}
    check_names(rest, {f.name for f in fields(base)} | set(_CORPUS_FIELDS))  # type: ignore[arg-type]
    if names:
        rest["fields"] = FieldMap.from_options(**names)
    return replace(base, **rest)  # type: ignore[type-var]


def check_names(overrides: Mapping[str, Any], known: set[str]) -> None:
    """An OptionError for the first name of ``overrides`` that is not in ``known``: it suggests the nearest
    known name (a misspelling) and lists them all, but for ``fields`` (a whole FieldMap, which the names
    one by one spell more plainly)."""
    listed = sorted(known - {"fields"})
    for name, value in overrides.items():
        if name not in known:
            near = difflib.get_close_matches(name, listed, n=1)
            guess = f"did you mean {near[0]}? " if near else ""
            raise OptionError(name, value, f"not an option here; {guess}the options are {', '.join(listed)}")
