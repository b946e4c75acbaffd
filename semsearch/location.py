"""Where an index lives: a local folder, or a prefix on object storage (``s3://bucket/indexes/papers``).

An index is a few small files (``manifest.json``, its backup, ``rowids.json``), the store (a Lance
dataset) and derived files (the FAISS file, the BM25 index). For an index on object storage:

- the store is read and written at ``URI/store`` by Lance itself, which commits with conditional puts,
  so readers see whole versions there as they do in a folder;
- the small files are objects under ``URI``, mirrored into a local folder of the process (the *work
  folder*, under the semsearch cache) when read and put back whole after each local write;
- the derived files live only in the work folder: they are a reader's cache, checked against the store
  as they are beside a local store, and rebuilt from it when stale.

So everything above this module works on a local folder, as before; :func:`resolve` turns a URI into
its work folder and remembers which object-store prefix that folder mirrors. Credentials and the
endpoint come from ``storage_options`` (Lance's keys: ``aws_endpoint``, ``aws_region``, ``allow_http``,
``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``) or the usual AWS environment
variables; they are kept in memory, never written to the work folder.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from semsearch.errors import OptionError, SemsearchError
from semsearch.fsutil import atomic_write_bytes, cache_dir

log = logging.getLogger(__name__)

SCHEME = "s3://"
SMALL_FILES = ("manifest.json", "manifest.backup.json", "rowids.json")  # mirrored whole, object by object
IDENTITY = "index-id"  # a random id given to an index on object storage when it is created


class ObjectStoreError(SemsearchError):
    """Object storage refused or failed a request (credentials, endpoint, bucket)."""


class ConditionFailedError(Exception):
    """A conditional put found the object in another state than the condition said (someone else won)."""


def is_remote(where: object) -> bool:
    return isinstance(where, str) and where.startswith(SCHEME)


@dataclass(frozen=True)
class Remote:
    """An object-store prefix holding one index (``uri`` has no trailing slash)."""

    uri: str
    storage_options: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def bucket(self) -> str:
        return self.uri[len(SCHEME) :].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        rest = self.uri[len(SCHEME) :].split("/", 1)
        return rest[1] if len(rest) > 1 else ""

    def child(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def key(self, name: str) -> str:
        if not name:
            return self.prefix  # the prefix itself, as one object
        return f"{self.prefix}/{name}" if self.prefix else name

    @property
    def lance_options(self) -> dict[str, str]:
        """The options as Lance takes them (its own keys, passed through)."""
        return dict(self.storage_options)

    # -- objects -----------------------------------------------------------------------------------------

    def read(self, name: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, None if there is none."""
        client = self._client
        try:
            response = client.get_object(Bucket=self.bucket, Key=self.key(name))
        except client.exceptions.NoSuchKey:
            return None
        except Exception as exc:  # botocore's ClientError and connection errors
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._failed("read", name, exc) from exc
        return response["Body"].read(), str(response["ETag"])

    def write(self, name: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        """Put ``data`` whole and return its ETag; :class:`ConditionFailedError` when a condition fails."""
        extra: dict[str, Any] = {}
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        if if_match is not None:
            extra["IfMatch"] = if_match
        try:
            response = self._client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data, **extra)
        except Exception as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                raise ConditionFailedError(name) from exc
            raise self._failed("write", name, exc) from exc
        return str(response["ETag"])

    def delete(self, name: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.key(name))
        except Exception as exc:
            raise self._failed("delete", name, exc) from exc

    def names(self) -> list[str]:
        """Every object under the prefix, as names relative to it."""
        start = f"{self.prefix}/" if self.prefix else ""
        found = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
                found += [item["Key"][len(start) :] for item in page.get("Contents", [])]
        except Exception as exc:
            raise self._failed("list", "", exc) from exc
        return found

    def remove_all(self) -> int:
        """Delete every object under the prefix (a failed first run's leftovers); returns how many."""
        names = self.names()
        for begin in range(0, len(names), 1000):
            objects = [{"Key": self.key(name)} for name in names[begin : begin + 1000]]
            self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})
        return len(names)

    @property
    def _client(self) -> Any:
        try:
            import boto3  # noqa: F401 - its absence is said here, naming the index
        except ImportError as exc:
            raise ObjectStoreError(
                f"{self.uri}: an index on object storage needs boto3: pip install 'semsearch[s3]'"
            ) from exc
        return _client_for(tuple(sorted(self.storage_options.items())))

    def _failed(self, what: str, name: str, exc: Exception) -> ObjectStoreError:
        return ObjectStoreError(f"cannot {what} {self.child(name) if name else self.uri}: {_first_line(exc)}")


@cache
def _client_for(settings: tuple[tuple[str, str], ...]) -> Any:
    """One boto3 client per set of storage options in a process (making one takes tens of milliseconds,
    and every open of an index on object storage would otherwise pay it; clients are thread-safe)."""
    import boto3
    from botocore.config import Config

    options = dict(settings)
    endpoint = options.get("aws_endpoint") or options.get("endpoint") or options.get("aws_endpoint_url")
    kwargs: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": options.get("aws_region") or options.get("region"),
        "aws_access_key_id": options.get("aws_access_key_id"),
        "aws_secret_access_key": options.get("aws_secret_access_key"),
        "aws_session_token": options.get("aws_session_token"),
    }
    style = "auto" if _true(options.get("aws_virtual_hosted_style_request")) or not endpoint else "path"
    config = Config(s3={"addressing_style": style}, retries={"max_attempts": 5, "mode": "standard"})
    return boto3.client("s3", config=config, **{k: v for k, v in kwargs.items() if v})


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _true(value: str | None) -> bool:
    return str(value).lower() in ("1", "true", "yes")


# -- work folders --------------------------------------------------------------------------------------------

_MIRRORS: dict[Path, Remote] = {}


def resolve(where: str | Path, storage_options: Mapping[str, str] | None = None) -> Path:
    """The local folder to work in for the index at ``where``: the folder itself, or the work folder
    that mirrors an object-store URI (registered, so the store, the manifest and the lock find the URI)."""
    if isinstance(where, Path) and storage_options is None and remote_of(where) is not None:
        return where.absolute()  # a work folder already: the index it mirrors is known
    if isinstance(where, Path) or not is_remote(where):
        if storage_options:
            raise OptionError("storage_options", dict(storage_options), "apply to object storage (s3://) only")
        return Path(where)
    uri = str(where).rstrip("/")
    remote = Remote(uri, dict(storage_options or {}))
    if len(remote.bucket) < 3:
        raise OptionError("directory", where, "an s3:// location needs a bucket name of 3 or more characters")
    digest = hashlib.sha256(uri.encode()).hexdigest()[:24]
    folder = (cache_dir() / "remote" / digest).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    _MIRRORS[folder] = remote
    return folder


def remote_of(directory: Path) -> Remote | None:
    """The object-store prefix that ``directory`` mirrors, None for a local index."""
    return _MIRRORS.get(directory.absolute()) if _MIRRORS else None


def describe(directory: Path) -> str:
    """How to name the index at ``directory`` to a user: its URI, or the folder."""
    remote = remote_of(directory)
    return remote.uri if remote is not None else str(directory)


def store_uri(directory: Path, table: str) -> tuple[str, dict[str, str] | None]:
    """Where Lance finds the table ``table`` of the index at ``directory``, with its storage options."""
    remote = remote_of(directory)
    if remote is None:
        return str(directory / "store" / table), None
    return remote.child(f"store/{table}"), remote.lance_options


def pull(directory: Path, names: Iterable[str] = SMALL_FILES) -> None:
    """Refresh the work folder's copies of ``names`` from object storage (no-op for a local index).

    A work folder outlives the index it mirrored: the URI may since hold another index (deleted and made
    again), whose rowids a cached FAISS file could match by chance. So the index's identity is compared
    first, and a work folder of another index is emptied before anything of it is used.
    """
    remote = remote_of(directory)
    if remote is None:
        return
    found = remote.read(IDENTITY)
    identity = found[0].decode() if found else ""
    mine = directory / IDENTITY
    if (mine.read_text() if mine.is_file() else "") != identity:
        for item in directory.iterdir():
            shutil.rmtree(item) if item.is_dir() else item.unlink()
        if identity:
            atomic_write_bytes(mine, identity.encode())
    for name in names:
        found = remote.read(name)
        local = directory / name
        if found is None:
            local.unlink(missing_ok=True)
        else:
            atomic_write_bytes(local, found[0])


def new_identity(directory: Path) -> None:
    """Give a new index on object storage its identity (see :func:`pull`); no-op for a folder."""
    remote = remote_of(directory)
    if remote is not None:
        identity = uuid.uuid4().hex
        remote.write(IDENTITY, identity.encode())
        atomic_write_bytes(directory / IDENTITY, identity.encode())


def push(directory: Path, name: str) -> None:
    """Put the work folder's ``name`` back to object storage whole (no-op for a local index)."""
    remote = remote_of(directory)
    if remote is not None:
        remote.write(name, (directory / name).read_bytes())


def exists(directory: Path) -> bool:
    """Whether anything of an index is at ``directory`` (for a remote one: any object under its prefix)."""
    remote = remote_of(directory)
    return bool(remote.names()) if remote is not None else directory.exists()


def source_options(directory: Path, given: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """The storage options for reading a corpus on object storage: those given, else the index's own (the
    corpus and the index are usually on the same object store)."""
    remote = remote_of(directory)
    return given or (remote.storage_options if remote is not None else None)


@contextmanager
def local_source(source: Any, storage_options: Mapping[str, str] | None = None) -> Iterator[tuple[Any, str | None]]:
    """``source`` as a local corpus, and what the manifest records as its origin.

    A corpus on object storage (``s3://bucket/corpus/``, ``s3://bucket/corpus/*.parquet``, or one object) is
    copied object by object into a temporary folder for the run, and recorded as its URI, so an update with
    no SOURCE reads it from there again. A local path is recorded absolute; documents in memory, and stdin,
    are not recorded.
    """
    if not is_remote(source):
        path = isinstance(source, str | Path) and str(source) != "-"
        yield source, str(Path(source).resolve()) if path else None
        return
    uri = str(source)
    head, _, last = uri.rpartition("/")
    pattern = last if any(c in last for c in "*?[") else ""
    remote = Remote(head if pattern else uri.rstrip("/"), dict(storage_options or {}))
    with tempfile.TemporaryDirectory(prefix="semsearch-source-") as scratch:
        folder = Path(scratch)
        whole = remote.read("") if not pattern and not uri.endswith("/") else None  # one object?
        if whole is not None:
            target = folder / uri.rsplit("/", 1)[-1]
            target.write_bytes(whole[0])
            yield target, uri
            return
        names = [n for n in remote.names() if not pattern or fnmatch.fnmatch(n, pattern)]
        if not names:
            raise ObjectStoreError(f"{uri} matches no object")
        for name in names:
            target = folder / "objects" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            found = remote.read(name)
            if found is not None:
                target.write_bytes(found[0])
        log.info("copied %d objects of %s for this run", len(names), uri)
        yield _as_one_corpus(folder / "objects", sorted(names), folder, uri), uri


def _as_one_corpus(objects: Path, names: list[str], scratch: Path, uri: str) -> Path:
    """Files of one tabular or JSONL format joined into one file (a folder of notes stays a folder)."""
    kinds = {_kind(name) for name in names}
    if kinds == {"notes"} or len(names) == 1:
        return objects if kinds == {"notes"} else objects / names[0]
    if len(kinds) != 1 or "notes" in kinds:
        raise ObjectStoreError(f"{uri} matches objects of different formats ({', '.join(sorted(kinds))}): name one")
    kind = kinds.pop()
    joined = scratch / f"corpus{kind}"
    if kind == ".parquet":
        import pyarrow.parquet as pq

        writer = None
        try:
            for name in names:
                table = pq.read_table(objects / name)
                if writer is None:
                    writer = pq.ParquetWriter(joined, table.schema)
                elif not table.schema.equals(writer.schema):
                    raise ObjectStoreError(f"{uri}: {name} has other columns than {names[0]}")
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        return joined
    with joined.open("wb") as out:
        header = None
        for name in names:
            data = (objects / name).read_bytes()
            if kind in (".csv", ".tsv"):
                first, _, rest = data.partition(b"\n")
                if header is None:
                    header = first
                elif first != header:
                    raise ObjectStoreError(f"{uri}: {name} has another header than {names[0]}")
                else:
                    data = rest
            out.write(data if data.endswith(b"\n") or kind.endswith(".gz") else data + b"\n")
    return joined


def _kind(name: str) -> str:
    lower = name.lower()
    for suffix in (".jsonl.gz", ".ndjson.gz", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet"):
        if lower.endswith(suffix):
            return {".ndjson.gz": ".jsonl.gz", ".ndjson": ".jsonl"}.get(suffix, suffix)
    return "notes" if lower.endswith((".txt", ".md", ".markdown")) else lower.rsplit(".", 1)[-1]


def parse_storage_options(pairs: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings (``--storage-option``) as a dict."""
    options = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise OptionError("storage_options", pair, "expected KEY=VALUE, e.g. aws_endpoint=http://127.0.0.1:9000")
        options[key.strip()] = value.strip()
    return options
