"""The server's socket: connections it accepts send each write at once (TCP_NODELAY), so a keep-alive
response is not held back by the client's delayed ACK."""

from __future__ import annotations

import socket

import pytest

from semsearch.serve.server import bind


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_accepted_connections_say_they_are_tcp_and_send_at_once(host: str) -> None:
    try:
        listening = bind(host, 0)
    except OSError:
        pytest.skip(f"no {host} on this machine")
    with listening, socket.create_connection(listening.getsockname()[:2], timeout=5):
        accepted, _ = listening.accept()
        with accepted:
            # asyncio (under uvicorn) sets TCP_NODELAY itself only on a socket whose protocol is TCP
            assert accepted.proto == socket.IPPROTO_TCP
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_port_in_use_is_an_os_error() -> None:
    with bind("127.0.0.1", 0) as taken, pytest.raises(OSError):
        bind("127.0.0.1", taken.getsockname()[1])
