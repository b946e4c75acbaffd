"""The ASGI app: the library's search, documents and info over HTTP, the OpenAI embeddings API, the page.

:func:`create_app` builds it from a :class:`~semsearch.serve.registry.Registry` (index name -> handle). Every
route is a thin adapter: it checks its input against :class:`~semsearch.serve.limits.Limits`, calls the
:class:`~semsearch.Index` method, and sends its ``to_json()``. The work runs off the event loop, at most
``threads`` requests at a time (the query path is one thread each) and writes one at a time; a request
that would wait behind more than ``max_pending`` others is told 503 at once.

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations at run time, and
those of routes made inside a function name that function's locals.
"""

import asyncio
import contextlib
import hmac
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, FastAPI, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from semsearch.errors import SemsearchError
from semsearch.serve import embeddings, schemas
from semsearch.serve.errors import (
    ApiError,
    CatchAll,
    on_api_error,
    on_http_error,
    on_library_error,
    on_validation_error,
    out_of_range,
)
from semsearch.serve.limits import DEFAULT_LIMITS, Limits
from semsearch.serve.middleware import LOOPBACK_NAMES, Guard
from semsearch.serve.registry import Registry, ServedIndex, open_index

log = logging.getLogger("semsearch.serve")

T = TypeVar("T")

WRITE_ROUTES = ("/documents",)  # paths (under an index or not) whose bodies may be large
NO_CACHE = {"Cache-Control": "no-cache"}
PAGE_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.ErrorOut, "description": text}
    for status, text in (
        (400, "Invalid request: a parameter, the filter or the body"),
        (404, "No such index or document"),
        (413, "The body is over the limit"),
        (503, "Busy: too many requests waiting"),
    )
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = ERRORS | {
    401: {"model": schemas.ErrorOut, "description": "The write token is missing or wrong"},
    403: {"model": schemas.ErrorOut, "description": "The server was started without a write token"},
    409: {"model": schemas.ErrorOut, "description": "Another process is writing the index"},
}


def answers(model: Any, errors: dict[int | str, dict[str, Any]] = ERRORS) -> dict[int | str, dict[str, Any]]:
    """A route's documented answers: ``model`` for a 200, and ``errors``."""
    return {200: {"model": model}, **errors}


@dataclass(frozen=True)
class ServeOptions:
    """How the server behaves, past the indexes it serves."""

    write_token: str | None = None  # None: read-only
    cors_origins: tuple[str, ...] = ()  # origins whose pages may call the API (none: CORS off)
    threads: int = 2  # requests worked on at once
    refresh_seconds: float = 2.0  # how often to look for versions committed by other processes (0: never)
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_NAMES  # Host header names accepted (None: any)
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)


def supports_explain() -> bool:
    """Whether this version's ``Index.search`` takes ``explain``."""
    from semsearch.facade.index import Index

    return "explain" in inspect.signature(Index.search).parameters


class Runner:
    """Runs blocking library calls in threads: reads ``threads`` at a time, writes one at a time."""

    def __init__(self, threads: int, max_pending: int) -> None:
        self.reads = anyio.CapacityLimiter(threads)
        self.writes = anyio.CapacityLimiter(1)
        self.max_pending = max_pending
        self.pending = 0

    async def read(self, work: Callable[[], T]) -> T:
        return await self._run(work, self.reads)

    async def write(self, work: Callable[[], T]) -> T:
        return await self._run(work, self.writes)

    async def _run(self, work: Callable[[], T], limiter: anyio.CapacityLimiter) -> T:
        if self.pending >= self.max_pending:
            raise ApiError(503, "the server is busy; try again shortly", "busy", headers={"Retry-After": "1"})
        self.pending += 1
        try:
            return await anyio.to_thread.run_sync(work, limiter=limiter)
        finally:
            self.pending -= 1


def create_app(registry: Registry, options: ServeOptions | None = None) -> FastAPI:
    """The app serving ``registry``'s indexes (the first one also on the plain routes)."""
    import semsearch

    options = options or ServeOptions()
    limits = options.limits
    explain_available = supports_explain()
    page = {name: resources.files("semsearch.serve").joinpath("page").joinpath(name).read_bytes()
            for name in ("index.html", *PAGE_FILES)}  # fmt: skip
    runner: Runner | None = None

    def work() -> Runner:
        assert runner is not None, "the app's lifespan starts the runner"
        return runner

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal runner
        runner = Runner(options.threads, limits.max_pending)
        poller = asyncio.create_task(poll(registry, options.refresh_seconds)) if options.refresh_seconds > 0 else None
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller

    app = FastAPI(
        title="semsearch",
        version=semsearch.__version__,
        description="Semantic search over semsearch indexes: search, documents, index info, and an OpenAI-compatible "
        'embeddings API. Errors: {"error": {"type", "message"}}.',
        docs_url=None,  # the interactive docs load their scripts from a CDN: the schema is at /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(SemsearchError, on_library_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    if options.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(options.cors_origins), allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )  # fmt: skip
    app.add_middleware(CatchAll)

    def token_matches(given: str) -> bool:
        """Whether ``given`` is the write token (compared in constant time; False without one)."""
        return options.write_token is not None and hmac.compare_digest(given.encode(), options.write_token.encode())

    def body_limit(path: str, authorization: str) -> int:
        """A request adding documents with the write token may send the larger body; any other, the smaller one
        (so a client without the token cannot make the server read 16 MiB before it is told 401)."""
        scheme, _, given = authorization.partition(" ")
        writing = path.endswith(WRITE_ROUTES) and scheme.lower() == "bearer" and token_matches(given.strip())
        return limits.max_write_body_bytes if writing else limits.max_body_bytes

    app.add_middleware(Guard, body_limit=body_limit, allowed_hosts=options.allowed_hosts)

    bearer = HTTPBearer(auto_error=False, description="The server's write token (--write-token)")

    async def writer(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        """Writes need the token, compared in constant time; without one configured there are no writes."""
        if options.write_token is None:
            raise ApiError(403, "this server is read-only; start it with --write-token (or SEMSEARCH_WRITE_TOKEN) "
                                "to allow writes", "writes_disabled")  # fmt: skip
        if not token_matches(credentials.credentials if credentials is not None else ""):
            raise ApiError(401, "a write needs the header 'Authorization: Bearer TOKEN' with the server's write token",
                           "unauthorized", headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    async def first() -> ServedIndex:  # async: trivial dependencies stay on the event loop
        return registry.get(registry.default)

    async def named(name: Annotated[str, Path(description="The index's name (see GET /indexes).")]) -> ServedIndex:
        return registry.get(name)

    for resolve, prefix, tag in ((first, "", "the first index"), (named, "/indexes/{name}", "any index")):
        app.include_router(index_router(resolve, work, writer, limits, explain_available), prefix=prefix, tags=[tag])

    @app.get("/health", tags=["server"], responses={200: {"model": schemas.HealthOut}})
    async def health() -> JSONResponse:
        """Whether the server answers, whether it takes writes and explain, and the store version each index is
        served at."""
        versions = {served.name: {"version": served.version} for served in registry}
        writes = options.write_token is not None
        return JSONResponse({"status": "ok", "writes": writes, "explain": explain_available, "indexes": versions})

    @app.get("/indexes", tags=["server"], responses={200: {"model": list[schemas.IndexOut]}})
    async def indexes() -> JSONResponse:
        """The indexes served, the first being the one the plain routes answer for."""

        def listing() -> list[dict[str, Any]]:
            rows = []
            for served in registry:
                handle = served.handle
                model = registry.model(served.name).id
                rows.append({"name": served.name, "documents": len(handle), "version": handle.store.version,
                             "model": model, "default": served.name == registry.default})  # fmt: skip
            return rows

        return JSONResponse(await work().read(listing))

    @app.post("/v1/embeddings", tags=["OpenAI"], responses=answers(embeddings.EmbeddingsResponse))
    async def create_embeddings(body: embeddings.EmbeddingsRequest) -> JSONResponse:
        """Embeddings as the OpenAI API gives them, from the encoder of an index (``model``: see /v1/models)."""
        return JSONResponse(await work().read(lambda: embeddings.embed(registry, body, limits)))

    @app.get("/v1/models", tags=["OpenAI"], responses={200: {"model": embeddings.ModelList}})
    async def list_models() -> JSONResponse:
        """The models /v1/embeddings offers: one per model, pooling and precision among the indexes."""
        return JSONResponse(embeddings.models(registry))

    @app.get("/v1/models/{model}", tags=["OpenAI"], responses=answers(embeddings.ModelItem))
    async def retrieve_model(model: str) -> JSONResponse:
        return JSONResponse(embeddings.model_info(registry, model))

    @app.get("/", include_in_schema=False)
    async def search_page() -> Response:
        return Response(page["index.html"], media_type="text/html; charset=utf-8", headers=NO_CACHE)

    @app.get("/static/{name}", include_in_schema=False)
    async def page_file(name: str) -> Response:
        if name not in PAGE_FILES:  # a fixed list held in memory: no request names a file
            raise ApiError(404, f"no file {name!r}")
        return Response(page[name], media_type=PAGE_FILES[name], headers=NO_CACHE)

    return app


def index_router(
    resolve: Callable[..., Awaitable[ServedIndex]],
    work: Callable[[], Runner],
    writer: Callable[..., Awaitable[None]],
    limits: Limits,
    explain_available: bool,
) -> APIRouter:
    """The routes of one index (``resolve`` says which): search, documents, info, and the writes."""
    router = APIRouter()
    Served = Annotated[ServedIndex, Depends(resolve)]  # noqa: N806 - a type alias

    async def run_search(served: ServedIndex, params: schemas.SearchRequest) -> JSONResponse:
        checked_search(params, limits)
        if params.explain and not explain_available:
            raise ApiError(400, "explain is not available in this version", "invalid_option")
        return JSONResponse(await work().read(lambda: search(served, params)))

    @router.get("/search", responses=answers(schemas.SearchOut))
    async def search_get(served: Served, params: Annotated[schemas.SearchQuery, Query()]) -> JSONResponse:
        """Search: the answer is what ``semsearch search --json`` prints."""
        return await run_search(served, params)

    @router.post("/search", responses=answers(schemas.SearchOut))
    async def search_post(served: Served, body: schemas.SearchRequest) -> JSONResponse:
        """Search with a JSON body of the same names as GET /search's parameters, of JSON's own types
        (``"k": 5``, not ``"5"``)."""
        return await run_search(served, body)

    @router.get("/documents/{doc_id:path}", responses=answers(schemas.DocumentOut))
    async def get_document(served: Served, doc_id: str) -> JSONResponse:
        """One stored document: what ``semsearch get --json`` prints."""
        checked_id(doc_id, limits)
        return JSONResponse(await work().read(lambda: document(served, doc_id)))

    @router.get("/info", responses=answers(schemas.InfoOut))
    async def info(served: Served) -> JSONResponse:
        """What the index holds and how it was made: what ``semsearch info --json`` prints, less the server's
        paths."""
        return JSONResponse(await work().read(lambda: info_of(served)))

    @router.post("/documents", dependencies=[Depends(writer)],
                 responses=answers(schemas.AddOut, WRITE_ERRORS))  # fmt: skip
    async def add_documents(served: Served, body: schemas.AddRequest) -> JSONResponse:
        """Add documents, or update those whose id the index holds (needs the write token). When this
        answers, searches see the new version."""
        if len(body.documents) > limits.max_write_docs:
            raise out_of_range(f"documents: {len(body.documents)}, over the limit of {limits.max_write_docs}")
        return JSONResponse(await work().write(lambda: add(served, body.documents, limits)))

    @router.post("/documents/delete", dependencies=[Depends(writer)],
                 responses=answers(schemas.DeleteOut, WRITE_ERRORS))  # fmt: skip
    async def delete_documents(served: Served, body: schemas.DeleteRequest) -> JSONResponse:
        """Delete documents by id in one commit (needs the write token); ``not_found`` lists the ids the index
        did not hold (not an error, as with ``semsearch delete``)."""
        if len(body.ids) > limits.max_write_docs:
            raise out_of_range(f"ids: {len(body.ids)}, over the limit of {limits.max_write_docs}")
        for doc_id in body.ids:
            checked_id(doc_id, limits)
        return JSONResponse(await work().write(lambda: delete(served, body.ids, limits)))

    @router.delete("/documents/{doc_id:path}", dependencies=[Depends(writer)],
                   responses=answers(schemas.DeleteOut, WRITE_ERRORS))  # fmt: skip
    async def delete_document(served: Served, doc_id: str) -> JSONResponse:
        """Delete one document (needs the write token); 404 if the index does not hold it."""
        checked_id(doc_id, limits)
        result = await work().write(lambda: delete(served, [doc_id], limits))
        if result["deleted"] == 0:
            raise ApiError(404, f"no document {doc_id!r} in index {served.name!r}")
        return JSONResponse(result)

    return router


# -- the work, run in threads ---------------------------------------------------------------------------


def checked_search(params: schemas.SearchRequest, limits: Limits) -> None:
    if params.k > limits.max_k:
        raise out_of_range(f"k: {params.k} is over the limit of {limits.max_k}")
    if len(params.q) > limits.max_query_chars:
        raise out_of_range(f"q: {len(params.q)} characters, over the limit of {limits.max_query_chars}")
    for name in ("where", "label"):
        value = getattr(params, name)
        if value is not None and len(value) > limits.max_filter_chars:
            raise out_of_range(f"{name}: {len(value)} characters, over the limit of {limits.max_filter_chars}")
    if isinstance(params.sense, str) and len(params.sense) > limits.max_query_chars:
        raise out_of_range(f"sense: over the limit of {limits.max_query_chars} characters")


def checked_id(doc_id: str, limits: Limits) -> None:
    if not doc_id or len(doc_id) > limits.max_id_chars:
        raise out_of_range(f"a document id has 1 to {limits.max_id_chars} characters")


def search(served: ServedIndex, params: schemas.SearchRequest) -> dict[str, Any]:
    handle = served.handle  # once: the whole search reads one version
    extra: dict[str, Any] = {"explain": True} if params.explain else {}
    if params.feedback is not None:
        extra["feedback"] = params.feedback
    result = handle.search(
        params.q, k=params.k, mode=params.mode, where=params.where or None, label=params.label,
        disambiguate=params.disambiguate, sense=params.sense, min_prob=params.min_prob, **extra,
    )  # fmt: skip
    return result.to_json()


def info_of(served: ServedIndex) -> dict[str, Any]:
    """``semsearch info --json`` less the server's own paths (the index folder's, the model's)."""
    data = served.handle.info().to_json()
    data.pop("path", None)
    data["model"] = {key: value for key, value in data["model"].items() if key != "path"}
    return data


def document(served: ServedIndex, doc_id: str) -> dict[str, Any]:
    found = served.handle.get(doc_id)
    if found is None:
        raise ApiError(404, f"no document {doc_id!r} in index {served.name!r}")
    return {"id": found.id, "text": found.text, "metadata": found.metadata}


def add(served: ServedIndex, docs: list[dict[str, Any]], limits: Limits) -> dict[str, Any]:
    """Add ``docs`` in one commit through a handle of its own, then serve the new version."""
    with served.writing:
        summary = open_index(served.directory).add(
            docs, batch_docs=max(len(docs), 1), lock_timeout=limits.write_wait_seconds
        )
        served.refresh(force=True)
    return {"added": summary.added, "updated": summary.updated, "unchanged": summary.unchanged,
            "documents": summary.docs, "version": served.version}  # fmt: skip


def delete(served: ServedIndex, doc_ids: list[str], limits: Limits) -> dict[str, Any]:
    """Delete ``doc_ids`` in one commit and say which of them the index did not hold, as ``semsearch delete``
    does. They are looked up in the newest version just before the delete; only a commit by another process
    in between (this server writes one request at a time) could make that list differ from the delete's."""
    with served.writing:
        writer = open_index(served.directory)
        asked = list(dict.fromkeys(doc_ids))  # once each, in the order given
        held = writer.store.present(asked)
        deleted = writer.delete(asked, lock_timeout=limits.write_wait_seconds)
        served.refresh(force=True)
        left = len(writer)
    not_found = [doc_id for doc_id in asked if doc_id not in held]
    return {"deleted": deleted, "not_found": not_found, "documents": left, "version": served.version}


async def poll(registry: Registry, seconds: float) -> None:
    """Every ``seconds``, serve the newest version of each index (commits by other processes)."""
    while True:
        await asyncio.sleep(seconds)
        for served in registry:
            if served.writing.locked():  # this server is writing it: the write moves to the new version itself
                continue
            try:
                await anyio.to_thread.run_sync(served.refresh)
            except Exception:
                log.exception("cannot check %s for a new version", served.name)
