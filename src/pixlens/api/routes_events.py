"""/v1/events: bucket event notifications in (S3 format, SNS-wrapped, or a SeaweedFS filer's webhook).

The body is read whatever its content type (SNS posts ``text/plain``), checked against the schema, then applied by
:mod:`pixlens.events.bucket`; the jobs go to the running workers as uploads' do."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from pixlens.api import models
from pixlens.api.auth import require
from pixlens.api.errors import ApiError
from pixlens.api.runtime import Runtime
from pixlens.errors import ConfigError
from pixlens.events.bucket import EventError, EventsReport

router = APIRouter(prefix="/v1/events", tags=["events"], responses=models.ERRORS)
NOTIFICATION: TypeAdapter[models.BucketNotification] = TypeAdapter(models.BucketNotification)
BODY_SCHEMA = NOTIFICATION.json_schema(ref_template="#/components/schemas/{model}")
BODY_DEFINITIONS: dict[str, Any] = BODY_SCHEMA.pop("$defs", {})
EVENTS_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": BODY_SCHEMA}}}
}


@router.post(
    "/s3",
    status_code=202,
    response_model=models.EventsAnswer,
    dependencies=[Depends(require("write"))],
    openapi_extra=EVENTS_BODY,
)
async def s3_events(request: Request) -> Any:
    """Apply an S3 event notification: each object created is analysed (once per content), each object removed
    is forgotten once the bucket no longer has it (never deleted). Objects of another bucket, outside the store's
    prefix or not named like images are listed in ``Ignored`` with the reason."""
    raw = await request.body()
    try:
        NOTIFICATION.validate_json(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()[:5]]
        raise ApiError(400, "invalid_event", "not a bucket notification: " + "; ".join(problems)) from None
    rt: Runtime = request.app.state.runtime
    if not rt.ready:  # the analysers (which keep files such as thumbnails) are not loaded: nothing can be forgotten
        why = rt.error or "pixlens is starting (loading the models)"
        raise ApiError(503, "not_ready", f"{why}: try again in a moment")
    report = await run_in_threadpool(_apply, rt, json.loads(raw))
    return report.answer()


def _apply(rt: Runtime, body: Any) -> EventsReport:
    try:
        report = rt.lens.bucket_events().apply(body)
    except ConfigError as exc:
        raise ApiError(400, "not_a_bucket", str(exc)) from None
    except EventError as exc:
        raise ApiError(400, "invalid_event", str(exc)) from None
    for job in report.jobs:
        rt.submit(job)
    return report


def document_body(app: FastAPI) -> None:
    """Put the notification's models in the schema's components (the body is read by hand, so FastAPI does not)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(BODY_DEFINITIONS)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
