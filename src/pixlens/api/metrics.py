"""Prometheus metrics of one running service (its own registry: two apps in one process never collide)."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_REASONS = 50  # distinct failure reasons kept as label values; the rest count as "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def reason_of(error: str | None) -> str:
    """A failure's kind, short and bounded: what its message says before the first colon."""
    head = (error or "unknown").split(":", 1)[0].strip().lower()
    return head[:60] or "unknown"


class Metrics:
    def __init__(self, queue_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.analyzed = Counter("pixlens_images_analyzed", "Images analysed.", registry=self.registry)
        self.unchanged = Counter(
            "pixlens_images_unchanged", "Images found already analysed (nothing to do).", registry=self.registry
        )
        self.failed = Counter(
            "pixlens_images_failed", "Images that failed, by reason.", ["reason"], registry=self.registry
        )
        self.uploaded = Counter("pixlens_images_uploaded", "Images received over HTTP.", registry=self.registry)
        self.queue = Gauge("pixlens_queue_depth", "Images waiting for analysis.", registry=self.registry)
        self.queue.set_function(queue_depth)
        self.analyzer_seconds = Histogram(
            "pixlens_analyzer_seconds_per_image",
            "Model time per image, by analyser.",
            ["analyzer"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "pixlens_http_request_seconds",
            "HTTP request latency, by route.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._reasons: set[str] = set()

    def failure(self, error: str | None) -> None:
        reason = reason_of(error)
        if reason not in self._reasons:
            if len(self._reasons) >= MAX_REASONS:
                reason = "other"
            else:
                self._reasons.add(reason)
        self.failed.labels(reason).inc()

    def timing(self, analyzer: str, seconds: float, images: int) -> None:
        per_image = seconds / max(images, 1)
        histogram = self.analyzer_seconds.labels(analyzer)
        for _ in range(images):
            histogram.observe(per_image)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.request_seconds.labels(method, route, str(status)).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestTimer:
    """ASGI middleware: each request's latency by method, route template (never the raw path) and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
