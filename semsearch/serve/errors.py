"""The one error shape of the HTTP API, and how every failure becomes it.

Every 4xx and 5xx answer has the body ``{"error": {"type": "...", "message": "..."}}`` (the shape the
OpenAI API uses, so its clients show our messages). A library error that is the client's to fix keeps its
message (a bad filter, an unknown sense); anything else is a 500 with a generic message, its traceback
logged to stderr and never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from semsearch.errors import (
    BadRecordError,
    CorpusError,
    DocumentNotFoundError,
    FilterError,
    IncompatibleEncoderError,
    IndexLockedError,
    OptionError,
    SemsearchError,
)

log = logging.getLogger("semsearch.serve")

OUT_OF_RANGE = "invalid_option"  # a value outside its bounds, whether the schema's or the server's limits
RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})  # pydantic's
LOCATIONS = ("body", "query", "path", "header", "cookie")  # the first part of a FastAPI error's location
WHOLE_BODY = {  # pydantic's error types that concern the body as a whole, said plainly
    "missing": "a JSON object is required as the body",
    "model_attributes_type": "the body must be a JSON object (with Content-Type: application/json)",
    "dict_type": "the body must be a JSON object (with Content-Type: application/json)",
}

INTERNAL = "internal server error; the server's log has the details"

# HTTP status -> the error type a status means when nothing more precise is known
_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    503: "busy",
}


class ApiError(Exception):
    """An answer other than 200, in the one shape: ``status``, a machine-readable ``type`` and a message."""

    def __init__(self, status: int, message: str, type_: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.type = type_ or _TYPES.get(status, "error")
        self.message = message
        self.headers = headers


def error_body(type_: str, message: str) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message}}


def error_response(status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(type_, message), status_code=status, headers=headers)


def library_error(error: SemsearchError) -> ApiError:
    """The answer for a library error: the client's mistakes keep their message, the rest are 500s."""
    if isinstance(error, FilterError):
        return ApiError(400, error.message, "invalid_filter")
    if isinstance(error, OptionError):
        return ApiError(400, f"{error.option}: {error.reason}", "invalid_option")
    if isinstance(error, BadRecordError | CorpusError):
        return ApiError(400, error.message, "invalid_document")
    if isinstance(error, DocumentNotFoundError):
        return ApiError(404, error.message, "not_found")
    if isinstance(error, IndexLockedError):
        return ApiError(409, "the index is being written by another process; try again when it ends", "locked")
    if isinstance(error, IncompatibleEncoderError):
        log.error("%s", error)
        return ApiError(500, INTERNAL, "internal_error")
    from semsearch.disambiguate import SenseNotFoundError

    if isinstance(error, SenseNotFoundError):
        return ApiError(400, error.message, "invalid_option")
    # damage, a missing model, a vanished index: the server's problem, and its paths are not the client's business
    log.error("library error while answering a request: %s", error)
    return ApiError(500, INTERNAL, "internal_error")


async def on_api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.type, error.message, error.headers)


async def on_library_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, SemsearchError)
    return await on_api_error(request, library_error(error))


async def on_http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own errors (no such route, wrong method) in the one shape."""
    assert isinstance(error, StarletteHTTPException)
    message = error.detail if isinstance(error.detail, str) else "invalid request"
    if error.status_code == 404 and message == "Not Found":
        message = f"no route {request.url.path}; the routes are listed at /openapi.json"
    headers = dict(error.headers) if error.headers else None
    return error_response(error.status_code, _TYPES.get(error.status_code, "error"), message, headers)


async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
    """A request whose parameters or body do not have the documented types or bounds: 400, naming the first
    problems."""
    errors: list[Any] = getattr(error, "errors", list)()
    return error_response(400, validation_type(errors), describe_validation(errors))


def out_of_range(message: str) -> ApiError:
    """A value outside its bounds (``k`` over 100, too many ids): one type whichever check caught it, the
    schema's bounds (:func:`validation_type`) or the server's limits."""
    return ApiError(400, message, OUT_OF_RANGE)


def validation_type(errors: list[Any]) -> str:
    """``invalid_option`` when every problem is a value out of its bounds (``k`` 0 is the same mistake as
    ``k`` 101, which the limits catch), else ``invalid_request``: a wrong type, an unknown name, not JSON."""
    if errors and all(item.get("type") in RANGE_ERRORS for item in errors):
        return OUT_OF_RANGE
    return "invalid_request"


def describe_validation(errors: list[Any]) -> str:
    """The first three problems, one per field, each led by the field it is in (``k``, ``ids[1]``)."""
    problems: dict[str, list[str]] = {}  # field path ("" for the body as a whole) -> its messages
    for item in errors:
        where = field_path(item.get("loc", ()))
        message = problem(item, where)
        said = problems.setdefault(where, [])
        if message not in said:
            said.append(message)
    if not problems:
        return "invalid request"
    parts = [f"{where}: {either(said)}" if where else either(said) for where, said in list(problems.items())[:3]]
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(parts) + more


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "ids", 1)`` -> ``ids[1]``: where pydantic's location names a field, without what only
    pydantic means by it. Its first part says body or query (the route says which); the field is the next;
    a number after it is a list position; any other text after it is a member of a union (``sense.str``): the
    request models have no nested fields. A JSON syntax error's location is a character position: no field."""
    parts = list(loc[1:] if loc and loc[0] in LOCATIONS else loc)
    if not parts or not isinstance(parts[0], str):
        return ""
    return parts[0] + "".join(f"[{part}]" for part in parts[1:] if isinstance(part, int))


def problem(item: dict[str, Any], where: str) -> str:
    """What is wrong at ``where`` (a field path, "" for none), in words a client can act on where pydantic's
    own say nothing about the body as a whole ("Field required" for a missing body)."""
    kind = item.get("type")
    if kind == "json_invalid":
        return "the body is not valid JSON"
    if not where and kind in WHOLE_BODY:
        return WHOLE_BODY[kind]
    return str(item.get("msg", "invalid"))


def either(messages: list[str]) -> str:
    """The ways one value failed (each member of a union): ``Input should be a valid string or a valid
    integer``."""
    first, *rest = messages
    prefix = "Input should be "
    return " or ".join([first, *(m.removeprefix(prefix) if first.startswith(prefix) else m for m in rest)])


class CatchAll:
    """Outermost guard: an exception nothing else handled becomes a 500 in the one shape; its traceback
    goes to the log (stderr), never into the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await error_response(500, "internal_error", INTERNAL)(scope, receive, send)
