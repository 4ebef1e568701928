"""Uploads: the request body bounded while it streams in, files spooled to disk (never whole in memory), each
named by the client's key (validated) or its file name (made safe), sniffed, then placed in the store."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixlens.api.errors import error_body

UPLOAD_PATH = "/v1/images"
FALLBACK_NAME = "upload"


class BodyTooLargeError(Exception):
    pass


class BodyLimit:
    """ASGI middleware: an upload whose body is (or says it is) larger than ``limit`` gets 413 without being read
    further; other requests are limited to ``other_limit``."""

    def __init__(self, app: ASGIApp, limit: int, other_limit: int = 1 << 20) -> None:
        self.app, self.limit, self.other_limit = app, limit, other_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit if scope["path"] == UPLOAD_PATH else self.other_limit
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError
            return message

        try:
            await self.app(scope, bounded, send)
        except BodyTooLargeError:
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(error_body("too_large", f"request body larger than {limit:,} bytes")).encode()
    headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def key_from_filename(filename: str | None) -> str:
    """A store key from a client's file name: its last path part, without control characters (a file name
    is a suggestion, never a path into the store)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    # Control characters, and format characters (bidi overrides, zero widths) that make a name read as another.
    name = "".join(char for char in name if unicodedata.category(char) not in ("Cc", "Cf")).strip()
    if name in ("", ".", "..") or name.startswith("."):
        name = FALLBACK_NAME + (name if name.startswith(".") and len(name) > 1 else "")
    return name.encode("utf-8")[:255].decode("utf-8", "ignore")
