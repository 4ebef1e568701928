"""Connection hygiene for ``pixlens serve``: a client must send its request head within seconds, the number of
connections is capped, and running out of file descriptors costs one log line a minute, not one per accept."""

from __future__ import annotations

import asyncio
import functools
import logging
import resource
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT = 10.0  # seconds a new connection has to send a whole request head
MAX_CONNECTIONS = 1000  # beyond this uvicorn answers 503 at once (and an idle attacker cannot take every socket)
ACCEPT_LOG_EVERY = 60.0  # seconds between two "out of file descriptors" log lines


class _HeadTimeout(asyncio.Protocol):
    """uvicorn's HTTP/1.1 protocol (either parser), closing a connection whose first request head has not arrived
    in time (uvicorn only times out idle connections after a response)."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: object

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._answered = False
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_timeout)

    def _head_timeout(self) -> None:
        if self.cycle is None and not self._answered and not self.transport.is_closing():
            self.transport.close()

    def on_response_complete(self) -> None:
        self._answered = True  # from now on uvicorn's keep-alive timeout applies
        super().on_response_complete()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_timer.cancel()
        super().connection_lost(exc)


class HeadTimeoutProtocol(_HeadTimeout, H11Protocol):  # type: ignore[misc]
    """With h11, the pure-Python parser."""


class _OncePerMinute(logging.Filter):
    """Lets asyncio's "accept out of system resource" through once a minute, without its traceback."""

    def __init__(self) -> None:
        super().__init__()
        self._last = -ACCEPT_LOG_EVERY

    def filter(self, record: logging.LogRecord) -> bool:
        if "out of system resource" not in record.getMessage():
            return True
        now = time.monotonic()
        if now - self._last < ACCEPT_LOG_EVERY:
            return False
        self._last = now
        record.exc_info, record.exc_text = None, None
        record.msg, record.args = (
            "%s (too many connections or open files; repeated at most once a minute)",
            (record.getMessage(),),
        )
        return True


@functools.cache
def http_protocol() -> type[asyncio.Protocol]:
    """With httptools (llhttp, in C; a requirement) when it is installed, else with h11, uvicorn's pure-Python parser:
    with h11 a third of the event loop's time per cached search went to parsing and writing HTTP, and httptools
    answered 1.4-1.8 times the searches a second."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return HeadTimeoutProtocol

    class FastHeadTimeoutProtocol(_HeadTimeout, HttpToolsProtocol):  # type: ignore[misc]
        pass

    return FastHeadTimeoutProtocol


def harden(config: dict[str, Any]) -> dict[str, Any]:
    """uvicorn settings with the limits above; also raises the process's file limit to what the system allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.getLogger("asyncio").addFilter(_OncePerMinute())
    return {**config, "http": http_protocol(), "limit_concurrency": MAX_CONNECTIONS}
