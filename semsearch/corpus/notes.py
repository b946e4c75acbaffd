"""Notes: what people keep in folders (an Obsidian vault, a docs tree), or one such file.

Hidden files and folders (``.git``, ``.obsidian``) are not notes, an empty file is counted rather than
failed, YAML front matter is metadata (its ``title`` the title), and a Markdown file that opens with a
``# Heading`` takes it as its title (moved out of the text, so the title prepended by :mod:`.records` is
not there twice). A glob chooses other files than every ``.txt``/``.md`` one.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from semsearch.corpus.formats import MARKDOWN_SUFFIXES, TEXT_SUFFIXES, EmptyFile, RawRecord, utf8_reason
from semsearch.errors import BadRecordError, CorpusError, OptionError


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def note_files(path: Path, glob: str | None = None) -> list[Path]:
    """The notes of a folder, in order: every ``.txt``/``.md`` file below it, or those matching
    ``glob`` (relative to it); never a hidden file or one in a hidden folder."""
    if glob is None:
        candidates = [p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES]
    else:
        try:
            candidates = list(path.glob(glob))
        except (ValueError, NotImplementedError) as exc:  # "", an absolute pattern
            raise OptionError("glob", glob, f"expected a pattern of files relative to the folder ({exc})") from None
    return sorted(p for p in candidates if p.is_file() and not _hidden(p.relative_to(path)))


# Front matter: a first line "---", YAML, a line "---".
_FRONT_MATTER = re.compile(r"---[ \t]*\r?\n((?:[^\n]*\n)*?)---[ \t]*\r?(?:\n|\Z)")


# A Markdown level-1 heading, with its optional closing #s.
_HEADING = re.compile(r"#[ \t]+([^\n]*?)(?:[ \t]+#+)?[ \t]*\r?(?:\n|\Z)")


def _plain(value: Any) -> Any:
    """A YAML value as JSON would hold it: string keys, lists, dates as ISO text, finite numbers."""
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, datetime.date):  # and datetime: "2024-03-01" filters as text, and sorts
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    return value


def _front_matter(file: Path, text: str) -> tuple[dict[str, Any], str] | BadRecordError:
    """(front matter, the text after it); no front matter is ({}, text)."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    import yaml

    try:
        # yaml.safe_load's rules; libyaml's parser where PyYAML was built with it (much faster)
        data = yaml.load(match.group(1), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = 2 + mark.line if mark is not None else 2
        problem = " ".join(str(getattr(exc, "problem", None) or type(exc).__name__).split())
        return BadRecordError(str(file), line, None, f"invalid YAML front matter: {problem}")
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # e.g. a date such as 2024-13-45
        return BadRecordError(str(file), 2, None, f"invalid YAML front matter: {type(exc).__name__}: {exc}")
    if data is None:
        data = {}  # "---" twice: an empty template
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else type(data).__name__
        return BadRecordError(str(file), 2, None, f"the front matter is not a mapping of fields (it is a {kind})")
    try:
        fields = _plain(data)
    except ValueError as exc:
        return BadRecordError(str(file), 2, None, f"front matter: {exc}")
    except RecursionError:
        return BadRecordError(str(file), 2, None, "front matter: nested too deeply")
    return fields, text[match.end() :]


def _note(file: Path, rel: str) -> dict[str, Any] | BadRecordError | EmptyFile:
    """One note as a record: ``id`` and ``path`` its relative path, ``text``, ``title`` if it has one,
    and its front matter under ``metadata`` (where :mod:`.records` takes metadata from, after which
    ``title`` and ``path`` are set, so front matter cannot change them)."""
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRecordError(str(file), 1, None, utf8_reason(exc))
    except OSError as exc:
        return BadRecordError(str(file), 1, None, f"cannot be read ({exc.strerror})")
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return EmptyFile(str(file))
    parsed = _front_matter(file, text)
    if isinstance(parsed, BadRecordError):
        return parsed
    front, body = parsed
    title = front.get("title")
    if isinstance(title, int | float) and not isinstance(title, bool):
        title = str(title)  # title: 1984
    if title is None or (isinstance(title, str) and not title.strip()):
        title = None
        if file.suffix.lower() in MARKDOWN_SUFFIXES:
            start = len(body) - len(body.lstrip())
            heading = _HEADING.match(body, start)
            if heading is not None and heading.group(1).strip():
                title, body = heading.group(1).strip(), body[heading.end() :]
    if title is None and not body.strip():
        return EmptyFile(str(file))  # front matter and nothing else
    record: dict[str, Any] = {"id": rel, "text": body.lstrip() if front or title is not None else body}
    if front:
        record["metadata"] = front
    if title is not None:
        record["title"] = title
    record["path"] = rel
    return record


def read_notes(files: list[Path], root: Path) -> Iterator[RawRecord]:
    for file in files:
        item = _note(file, file.relative_to(root).as_posix())
        yield (item.line if isinstance(item, BadRecordError) else 1), item


def read_text_dir(path: Path, glob: str | None) -> Iterator[RawRecord]:
    files = note_files(path, glob)
    if not files:
        if glob is not None:
            raise CorpusError(f"{path}: no files match {glob!r} (hidden files and folders are skipped)")
        raise CorpusError(f"{path}: directory holds no .txt or .md files and no corpus.jsonl")
    return read_notes(files, path)
