"""Who may call what: API keys with scopes (read < write < admin), or no keys at all on a loopback-only server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from pixlens.api.errors import ApiError

SCOPES = ("read", "write", "admin")  # each includes the ones before it

# Given the key a request presented (None: none), the scope it grants, or None for an unknown or revoked key.
Verifier = Callable[[str | None], str | None]


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


def require(scope: str) -> Callable[[Request], Any]:
    """A dependency that lets a request through when its key's scope includes ``scope`` (or keys are off)."""
    needed = SCOPES.index(scope)

    async def check(request: Request) -> None:
        verify: Verifier | None = request.app.state.verify
        if verify is None:  # open: loopback only, said at start (answered in the event loop, no worker thread)
            return
        key = presented_key(request)
        granted = await run_in_threadpool(verify, key)  # reads the catalog
        if granted is None:
            why = "an API key is needed" if key is None else "unknown or revoked API key"
            raise ApiError(401, "unauthorized", f"{why}: send it as Authorization: Bearer KEY or X-Api-Key: KEY")
        if SCOPES.index(granted) < needed:
            raise ApiError(403, "forbidden", f"this key's scope is {granted}; this needs {scope}")

    return check
