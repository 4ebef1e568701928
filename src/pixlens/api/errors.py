"""Every error the API answers is JSON ``{"code", "message"}`` with a stable code; bad input is never a 500."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pixlens.errors import (
    CatalogError,
    CursorError,
    DecodeError,
    ObjectExistsError,
    PixlensError,
    QueryError,
    StoreError,
    StoreMissingError,
    TooLargeError,
)

log = logging.getLogger(__name__)

CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "key_exists",
    413: "too_large",
    415: "not_an_image",
    421: "misdirected",
    422: "bad_request",
    503: "not_ready",
}


# The library's errors as answers (Starlette picks the handler of the closest class: a TooLargeError is no
# DecodeError here). A catalog error is logged: it is the server's trouble, not the client's.
STATUS_OF_ERROR: dict[type[PixlensError], tuple[int, str]] = {
    CursorError: (400, "invalid_cursor"),
    ObjectExistsError: (409, "key_exists"),
    TooLargeError: (413, "too_large"),
    DecodeError: (415, "not_an_image"),
    StoreMissingError: (503, "store_unavailable"),
    StoreError: (400, "invalid_key"),
    CatalogError: (503, "catalog_unavailable"),
    PixlensError: (400, "bad_request"),
}


def status_of(exc: PixlensError) -> tuple[int, str]:
    """The status and code the API answers an error with (that of its closest class in the table)."""
    return next(STATUS_OF_ERROR[kind] for kind in type(exc).__mro__ if kind in STATUS_OF_ERROR)


def _answer(status: int, code: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def answer(request: Request, exc: Exception) -> JSONResponse:
        if status >= 500:
            log.error("%s on %s: %s", code, request.url.path, exc)
        return JSONResponse(error_body(code, str(exc)), status)

    return answer


class ApiError(Exception):
    """An answer other than success: HTTP status, stable code, a message for people."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", what)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, **exc.extra), exc.status)

    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError) -> JSONResponse:
        return JSONResponse(error_body("invalid_query", exc.message, position=exc.position), 400)

    for kind, (status, code) in STATUS_OF_ERROR.items():
        app.add_exception_handler(kind, _answer(status, code))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()[:5]]
        return JSONResponse(error_body("bad_request", "; ".join(problems) or "invalid request"), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = CODES_BY_STATUS.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal", f"unexpected error: {type(exc).__name__}"), 500)
