"""The indexes a server answers for, each behind a handle that is swapped whole, never changed in place.

A request takes an index's current handle once and uses it to the end, so everything it reads belongs to
one store version. A new version (a write through the server, or a commit by another process, seen by
:meth:`ServedIndex.refresh`) is opened in a *new* handle, warmed (vectors, BM25, the document map loaded),
and only then put in place: a request never meets a half-reloaded handle, and never waits for the loading.
The old handle lives on until the last request holding it ends.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from semsearch.encoder import Encoder
    from semsearch.facade.index import Index

log = logging.getLogger("semsearch.serve")

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
WARM_QUERY = "warm up the index"
DEFAULT_MODEL_ID = "all-MiniLM-L6-v2"  # what the default model is called to clients


def open_index(directory: Path) -> Index:
    import semsearch

    return semsearch.open(directory)


def warm(handle: Index) -> None:
    """Load what a query needs (the encoder, vectors, BM25, the document map) before requests come. Twice: what
    only pays for itself over many searches (the documents held in memory, an exact index's int8 codes) is made
    at a handle's second search. Then two texts at once: a short query runs a model of its own shape, a batch
    (the embeddings route) or a long query another (:mod:`semsearch.runtime.openvino_runtime`)."""
    try:
        for _ in range(2):
            handle.search(WARM_QUERY, k=1, mode="hybrid")
        handle.encoder.encode([WARM_QUERY, WARM_QUERY])
    except Exception:  # an empty index, say: requests will say what is wrong, if anything
        log.warning("warming %s failed; its first request loads what it needs", handle.directory, exc_info=True)


class ServedIndex:
    """One index the server answers for: its name, its directory and its current handle."""

    def __init__(self, name: str, directory: Path, handle: Index) -> None:
        self.name = name
        self.directory = directory
        self._handle = handle
        self._refreshing = threading.Lock()  # one reload at a time (the poller and writes both reload)
        self.writing = threading.Lock()  # one writer at a time in this process (the library's lock covers others)

    @property
    def handle(self) -> Index:
        """The current handle: take it once per request (it is replaced, never modified, by a reload)."""
        return self._handle

    @property
    def version(self) -> int:
        return self._handle.store.version

    def refresh(self, force: bool = False) -> bool:
        """Move to the newest committed version if there is one (``force``: without asking the store first);
        True when a new handle was put in place. A version that cannot be opened leaves the old one serving."""
        with self._refreshing:
            current = self._handle
            if not force and current.store.is_latest():
                return False
            try:
                fresh = open_index(self.directory)
            except Exception:
                log.exception("cannot open the new version of %s; still serving the old one", self.name)
                return False
            if fresh.store.version == current.store.version:
                return False
            warm(fresh)
            self._handle = fresh  # one reference assignment: a request sees the old handle or the new one
            log.info("%s: now serving store version %d", self.name, fresh.store.version)
            return True


@dataclass(frozen=True)
class EmbeddingModel:
    """A model the embeddings API offers: its public id, and an index whose encoder it is."""

    id: str
    index: str  # the name of the first index encoded by it
    dim: int
    key: tuple[str, str, str]  # (model, pooling, precision)

    def encoder(self, registry: Registry) -> Encoder:
        return registry.get(self.index).handle.encoder


class Registry:
    """The served indexes by name (the first answers the plain routes) and the models they use."""

    def __init__(self, served: Mapping[str, ServedIndex]) -> None:
        if not served:
            raise ValueError("a server needs at least one index")
        self._served = dict(served)
        self.default = next(iter(self._served))
        self.models = _models(self._served.values())

    def __iter__(self) -> Iterator[ServedIndex]:
        return iter(self._served.values())

    def __len__(self) -> int:
        return len(self._served)

    def names(self) -> list[str]:
        return list(self._served)

    def get(self, name: str) -> ServedIndex:
        from semsearch.serve.errors import ApiError

        served = self._served.get(name)
        if served is None:
            raise ApiError(404, f"no index named {name!r}; this server has: {', '.join(self._served)}", "not_found")
        return served

    def model(self, name: str | None) -> EmbeddingModel:
        """The embedding model called ``name`` (a model id, or an index's name for its model); None: the first."""
        from semsearch.serve.errors import ApiError

        if name is None or name == "":
            return self.models[0]
        for model in self.models:
            if name == model.id:
                return model
        if name in self._served:  # an index's name: the model that encodes it
            wanted = _key(self._served[name])
            return next(m for m in self.models if m.key == wanted)
        if name == "default":
            return self.models[0]
        known = ", ".join(m.id for m in self.models)
        raise ApiError(404, f"no model {name!r} here; the models are: {known}", "model_not_found")


def _key(served: ServedIndex) -> tuple[str, str, str]:
    manifest = served.handle.manifest
    return manifest.model_spec, str(manifest.pooling), str(manifest.precision)


def _models(all_served: Iterable[ServedIndex]) -> list[EmbeddingModel]:
    """One model per (model, pooling, precision) among the indexes, named for the model; where two differ
    only in pooling or precision, their ids say which."""
    first: dict[tuple[str, str, str], ServedIndex] = {}
    for served in all_served:
        first.setdefault(_key(served), served)
    base = {key: _base_id(served) for key, served in first.items()}
    models = []
    for key, served in first.items():
        model_id = base[key]
        if sum(1 for other in base.values() if other == model_id) > 1:
            model_id = f"{model_id}:{key[1]}-{key[2]}"
        models.append(EmbeddingModel(model_id, served.name, served.handle.manifest.dim, key))
    return models


def _base_id(served: ServedIndex) -> str:
    from semsearch.models import DEFAULT_MODEL

    name = served.handle.manifest.model.name
    return DEFAULT_MODEL_ID if name == DEFAULT_MODEL else Path(name).name or name


def open_registry(indexes: Iterable[tuple[str, Path]], warm_up: bool = True) -> Registry:
    """Open each (name, directory) and, with ``warm_up``, load what its queries need (the model loads once
    per model, pooling and precision, whatever the number of indexes)."""
    served: dict[str, ServedIndex] = {}
    for name, directory in indexes:
        if not NAME.fullmatch(name):
            from semsearch.errors import OptionError

            raise OptionError("name", name, "an index name has 1 to 64 letters, digits, '.', '_' or '-'")
        if name in served:
            from semsearch.errors import OptionError

            raise OptionError("name", name, "two indexes have this name; give them NAME=DIR names")
        handle = open_index(Path(directory))
        if warm_up:
            warm(handle)
        served[name] = ServedIndex(name, Path(directory), handle)
    return Registry(served)
