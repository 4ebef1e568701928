"""A real pixlens HTTP server for tests: uvicorn on 127.0.0.1 on a free port, in a thread, over a home."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from pixlens.api.auth import Verifier
from pixlens.api.runtime import Runtime
from pixlens.api.server import build
from pixlens.service import Pixlens


@dataclass
class Served:
    url: str
    runtime: Runtime
    client: httpx.Client

    def wait_for(self, key: str, timeout: float = 120.0, status: str = "analyzed") -> dict[str, Any]:
        """The record of ``key`` once it has ``status`` (polling the API as a client would)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self.client.get(f"/v1/images/{key}")
            if answer.status_code == 200 and answer.json()["Status"] == status:
                record: dict[str, Any] = answer.json()
                return record
            time.sleep(0.1)
        raise AssertionError(f"{key} not {status} after {timeout} s")


@contextmanager
def serve(lens: Pixlens, verify: Verifier | None = None, watch: bool = False, **client: Any) -> Iterator[Served]:
    app, runtime = build(lens, verify, watch)
    runtime.start()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _until(lambda: server.started and bool(server.servers), "the server did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    if not runtime.wait_ready(120):
        raise AssertionError(f"the runtime did not get ready: {runtime.error}")
    try:
        with httpx.Client(base_url=url, timeout=60, **client) as http:
            yield Served(url, runtime, http)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.stop()


def _until(condition: Callable[[], bool], message: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.02)
