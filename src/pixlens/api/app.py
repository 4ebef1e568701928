"""The HTTP application: the /v1 API, health and metrics, and the web page, over one running :class:`Runtime`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from pixlens import __version__
from pixlens.api import errors, models
from pixlens.api.auth import Verifier
from pixlens.api.guard import OpenServerGuard
from pixlens.api.metrics import RequestTimer
from pixlens.api.routes_catalog import router as catalog_router
from pixlens.api.routes_events import document_body
from pixlens.api.routes_events import router as events_router
from pixlens.api.routes_hooks import router as hooks_router
from pixlens.api.routes_images import router as images_router
from pixlens.api.runtime import Runtime
from pixlens.api.uploads import BodyLimit

WEB = Path(__file__).parent / "web"
PAGE_HEADERS = {
    # The page runs only its own scripts; images come from this server (data: and blob: for previews).
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(runtime: Runtime, verify: Verifier | None = None) -> FastAPI:
    """The app; ``verify`` checks API keys (None: no keys, open)."""
    threads = runtime.lens.settings.api.request_threads or runtime.lens.settings.cpu_count()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(2, threads)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="pixlens",
        version=__version__,
        docs_url=None,  # served below from the bundled Swagger UI, not from a CDN: pixlens works offline
        redoc_url=None,
        summary="Search images by what is in them: labels, text, faces, colours. Offline, self-hosted.",
        description="Shapes follow Amazon Rekognition's (records as `pixlens show` prints them). See docs/API.md.",
    )
    app.state.runtime = runtime
    app.state.verify = verify
    errors.install(app)
    app.include_router(images_router)
    app.include_router(catalog_router)
    app.include_router(hooks_router)
    app.include_router(events_router)
    document_body(app)
    _health(app, runtime)
    _docs(app)
    _web(app)
    settings = runtime.lens.settings.api
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "X-Api-Key", "Content-Type"],
        )
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    if verify is None:
        app.add_middleware(OpenServerGuard)
    app.add_middleware(RequestTimer, metrics=runtime.metrics)
    return app


def _health(app: FastAPI, runtime: Runtime) -> None:
    @app.get("/healthz", response_model=models.Health, tags=["status"])
    async def healthz() -> Any:
        """Liveness: the process answers (in the event loop: never queued behind slow requests)."""
        return {"Status": "ok"}

    @app.get("/readyz", response_model=models.Health, responses={503: {"model": models.Health}}, tags=["status"])
    def readyz() -> Any:
        """Readiness: the models are loaded and the catalog answers."""
        if not runtime.ready or runtime.error:
            detail = runtime.error or "loading the models"
            return JSONResponse({"Status": "not_ready", "Detail": detail}, 503)
        try:
            runtime.lens.catalog.status_counts()
        except Exception as exc:
            return JSONResponse({"Status": "not_ready", "Detail": f"catalog: {exc}"}, 503)
        return {"Status": "ready"}

    @app.get("/metrics", tags=["status"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics (text format)."""
        return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def _docs(app: FastAPI) -> None:
    app.mount("/docs-assets", StaticFiles(directory=Path(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="pixlens API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _web(app: FastAPI) -> None:
    if not (WEB / "index.html").is_file():
        return
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    def page(request: Request) -> FileResponse:
        return FileResponse(WEB / "index.html", media_type="text/html", headers=PAGE_HEADERS)
