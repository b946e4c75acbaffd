"""JSONL (plain, gzipped, or on standard input): one JSON object per line, in standard JSON only."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from semsearch.corpus.formats import STDIN_NAME, STREAM_ERRORS, RawRecord, is_stdin, open_binary, utf8_reason
from semsearch.errors import BadRecordError, CorpusError


class _NotJsonError(ValueError):
    """A value Python's json accepts but JSON does not (NaN, Infinity, 1e999)."""


def _reject_constant(name: str) -> Any:
    raise _NotJsonError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJsonError(f"number {text[:20]} is out of range")
    return value


def parse_json_line(line: str) -> Any:
    """``json.loads`` restricted to standard JSON; raises ValueError or RecursionError otherwise."""
    return json.loads(line, parse_constant=_reject_constant, parse_float=_finite_float)


def _json_record(name: str, number: int, raw: bytes) -> dict[str, Any] | BadRecordError:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRecordError(name, number, None, utf8_reason(exc))
    if number == 1:
        line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
    try:  # without its line end, which would make a record cut short err at column 1 of the line after
        obj = parse_json_line(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        # Some of Python's messages end in "at" ("Invalid control character '\x00' at"): say it once.
        reason = exc.msg.removesuffix(" at")
        return BadRecordError(name, number, None, f"invalid JSON: {reason} at column {exc.colno}")
    except RecursionError:
        return BadRecordError(name, number, None, "invalid JSON: nested too deeply")
    except ValueError as exc:  # NaN/Infinity, out-of-range numbers, integers with too many digits
        return BadRecordError(name, number, None, f"invalid JSON: {str(exc).split(';')[0]}")
    if not isinstance(obj, dict):
        return BadRecordError(name, number, None, "expected a JSON object")
    return obj


def read_jsonl(path: Path) -> Iterator[RawRecord]:
    stdin = is_stdin(path)
    name = STDIN_NAME if stdin else str(path)
    number = 0
    try:
        with contextlib.nullcontext(sys.stdin.buffer) if stdin else open_binary(path) as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield number, _json_record(name, number, raw)
    except STREAM_ERRORS as exc:
        raise CorpusError(f"{name}: cannot be read past line {number} ({type(exc).__name__}: {exc})") from exc
