"""The guards every request passes before a route sees it: the Host header, the body size, and the
headers that keep a browser from misusing the answers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from semsearch.serve.errors import error_response

# The page and its files come from this server only; nothing is inlined, framed or sent elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
# Bytes of an over-limit body read (and dropped) before the 413 is sent: a server that answers before the
# client has sent its body closes the connection with data unread, and the client often gets a reset
# instead of the answer. Past this, the connection is cut.
DRAIN_BYTES = 4 * 1024 * 1024


class BodyTooLarge(HTTPException):
    """Raised while the body streams in (FastAPI passes an HTTPException from reading a body on as it is)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit} bytes")


class Guard:
    """Refuses a request whose Host header names another server (a web page that rebinds its own name to
    this address cannot read the API), or whose body is over ``body_limit(path, authorization)`` bytes
    (from its Content-Length at once, else as the body streams in), and adds the security headers to every
    answer."""

    def __init__(
        self, app: ASGIApp, body_limit: Callable[[str, str], int], allowed_hosts: Iterable[str] | None
    ) -> None:
        self.app = app
        self.body_limit = body_limit
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        if self.allowed_hosts is not None and host_name(headers.get("host", "")) not in self.allowed_hosts:
            response = error_response(400, "invalid_host", "the Host header does not name this server")
            await response(scope, receive, with_headers)
            return
        limit = self.body_limit(scope.get("path", ""), headers.get("authorization", ""))
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            if declared.isdigit() and int(declared) <= limit + DRAIN_BYTES:
                await drain(receive, 0)
            response = error_response(413, "request_too_large", f"the request body is over the limit of {limit} bytes")
            await response(scope, receive, with_headers)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body", False):
                        await drain(receive, received - limit)
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, with_headers)


async def drain(receive: Receive, over: int) -> None:
    """Read and drop the rest of a request body, at most DRAIN_BYTES past the limit (``over`` so far)."""
    while over <= DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        over += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def host_name(host: str) -> str:
    """The name part of a Host header value, lower-cased: ``127.0.0.1:8000`` -> ``127.0.0.1``,
    ``[::1]:80`` -> ``[::1]``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
