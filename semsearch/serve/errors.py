"""The one error shape of the HTTP API, and how every failure becomes it.

Every 4xx and 5xx answer has the body ``{"error": {"type": "...", "message": "..."}}`` (the shape the
OpenAI API uses, so its clients show our messages). A library error that is the client's to fix keeps its
message (a bad filter, an unknown sense); anything else is a 500 with a generic message, its traceback
logged to stderr and never sent.
"""

from __future__ import annotations

import logging
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
    """A request whose parameters or body do not have the documented types: 400, naming the first problem."""
    errors: list[Any] = getattr(error, "errors", list)()
    return error_response(400, "invalid_request", describe_validation(errors))


def describe_validation(errors: list[Any]) -> str:
    if not errors:
        return "invalid request"
    parts = []
    for item in errors[:3]:
        where = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path")]
        message = str(item.get("msg", "invalid"))
        if item.get("type") == "json_invalid":
            message = "the body is not valid JSON"
        parts.append(f"{'.'.join(where)}: {message}" if where else message)
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


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
