"""Both HTTP parsers pixlens serve may run (httptools, installed; h11, uvicorn's fallback) close a connection that
does not send its request head in time, and answer one that does."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pixlens.api import connections
from pixlens.api.connections import HeadTimeoutProtocol, http_protocol


async def hello(_: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


@contextmanager
def running(protocol: type[asyncio.Protocol]) -> Iterator[int]:
    app = Starlette(routes=[Route("/", hello)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=protocol, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (server.started and server.servers):
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def closed_within(conn: socket.socket, seconds: float) -> bool:
    conn.settimeout(seconds)
    try:
        while conn.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_httptools_is_the_parser_when_installed() -> None:
    pytest.importorskip("httptools")
    assert http_protocol() is not HeadTimeoutProtocol
    assert issubclass(http_protocol(), connections._HeadTimeout)


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_a_silent_connection_is_closed_and_a_request_answered(parser: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "HEAD_TIMEOUT", 1.0)
    protocol = http_protocol() if parser == "httptools" else HeadTimeoutProtocol
    if parser == "httptools":
        pytest.importorskip("httptools")
    with running(protocol) as port:
        idle = socket.create_connection(("127.0.0.1", port))
        partial = socket.create_connection(("127.0.0.1", port))
        partial.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never the blank line
        try:
            assert closed_within(idle, 10) and closed_within(partial, 10)
        finally:
            idle.close()
            partial.close()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(3):  # on one kept-alive connection, past the head timeout
                assert client.get("/").text == "hello"
                time.sleep(0.6)
