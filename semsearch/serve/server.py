"""Running the app: binding the socket (so the port is known before uvicorn starts, ``--port 0`` too),
uvicorn in the foreground for the command, or in a thread for tests and benchmarks."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

HEADER_LIMIT = 16 * 1024  # bytes of request line and headers uvicorn (h11) accepts


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port), whose connections send at once.

    Made with the TCP protocol number, not 0 as ``socket.create_server`` makes it: asyncio sets TCP_NODELAY
    only on sockets that say they are TCP. Without it, uvicorn's two writes of a response (head, then
    body) met the client's delayed ACK and every keep-alive response waited about 40 ms.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as create_server does
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it (Linux)
        sock.bind((host, port))
        sock.listen(256)
    except OSError:
        sock.close()
        raise
    return sock


def is_loopback(host: str) -> bool:
    """Whether ``host`` only reaches this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def config(app: Any, log_level: str = "warning", access_log: bool = False) -> uvicorn.Config:
    return uvicorn.Config(
        app, log_level=log_level, access_log=access_log, http="h11", ws="none", lifespan="on",
        server_header=False, timeout_keep_alive=5, h11_max_incomplete_event_size=HEADER_LIMIT,
    )  # fmt: skip


def run(app: Any, sock: socket.socket, log_level: str = "warning", access_log: bool = False) -> None:
    """Serve ``app`` on ``sock`` until interrupted (Ctrl-C, SIGTERM)."""
    uvicorn.Server(config(app, log_level, access_log)).run(sockets=[sock])


@contextmanager
def serving(app: Any, host: str = "127.0.0.1", port: int = 0, timeout: float = 60.0) -> Iterator[str]:
    """Serve ``app`` in a thread while the block runs; gives the base URL (``http://127.0.0.1:PORT``)."""
    sock = bind(host, port)
    server = uvicorn.Server(config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="semsearch-serve")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
