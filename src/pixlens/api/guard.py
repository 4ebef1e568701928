"""An open server (no API keys, loopback only) trusts whoever reaches it; browsers reach it too. This ASGI
middleware keeps web pages from elsewhere out: requests must name this machine in ``Host`` (DNS rebinding sends
another name), and writes must come from the server's own page (a form on another site needs no preflight)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from pixlens.api.errors import error_body

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(host: str) -> str:
    """``127.0.0.1:8377`` -> ``127.0.0.1``; ``[::1]:8377`` -> ``[::1]``."""
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class OpenServerGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        host = headers.get("host", "")
        refusal = None
        if host_name(host.lower()) not in LOOPBACK_NAMES:
            refusal = (421, "misdirected", f"this open server answers only for 127.0.0.1 or localhost, not {host!r}")
        elif scope["method"] not in SAFE_METHODS and not _own_origin(headers, host):
            refusal = (403, "forbidden", "writes to an open server are accepted only from its own page")
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, code, message = refusal
        body = json.dumps(error_body(code, message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _own_origin(headers: dict[str, str], host: str) -> bool:
    """Whether a write comes from this server's page, or from no browser page at all (curl, scripts)."""
    if headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc.lower() == host.lower()
