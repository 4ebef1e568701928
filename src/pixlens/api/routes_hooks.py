"""/v1/hooks: saved searches with webhooks (admin only). Matching and sending are in :mod:`pixlens.webhooks`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from pixlens import shapes
from pixlens.api import models
from pixlens.api.auth import require
from pixlens.api.errors import ApiError, not_found
from pixlens.api.runtime import Runtime
from pixlens.webhooks import HookExistsError, NoSuchHookError, Webhooks

router = APIRouter(
    prefix="/v1/hooks", tags=["hooks"], responses=models.ERRORS, dependencies=[Depends(require("admin"))]
)
NO_HOOK: dict[int | str, dict[str, Any]] = {404: {"model": models.ErrorBody, "description": "No such hook"}}


def webhooks(request: Request) -> Webhooks:
    runtime: Runtime = request.app.state.runtime
    return Webhooks(runtime.lens)


HooksDep = Annotated[Webhooks, Depends(webhooks)]


@router.get("", response_model=models.HooksAnswer)
def list_hooks(hooks: HooksDep) -> Any:
    """Every saved search with its webhook (secrets are never shown)."""
    return {"Hooks": [shapes.hook(row) for row in hooks.all()]}


@router.post(
    "",
    status_code=201,
    response_model=models.HookAdded,
    responses={409: {"model": models.ErrorBody, "description": "A hook has that name"}},
)
def add_hook(body: models.HookIn, hooks: HooksDep) -> Any:
    """Save a search: each image analysed from now on that ``Query`` matches is POSTed to ``Url`` (signed with
    ``Secret`` when given). A malformed query is ``400 invalid_query`` with its ``position``."""
    try:
        row, unknown = hooks.add(body.Name, body.Query, body.Url, body.Secret)
    except HookExistsError as exc:
        raise ApiError(409, "hook_exists", str(exc)) from None
    return {**shapes.hook(row), "Unknown": unknown}


@router.delete("/{name}", status_code=204, responses=NO_HOOK)
def remove_hook(name: str, hooks: HooksDep) -> Response:
    """Remove a hook with its deliveries (those not sent yet are dropped)."""
    try:
        hooks.remove(name)
    except NoSuchHookError as exc:
        raise not_found(str(exc)) from None
    return Response(status_code=204)


@router.get("/{name}/deliveries", response_model=models.DeliveriesAnswer, responses=NO_HOOK)
def deliveries(name: str, hooks: HooksDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
    """The hook's latest deliveries, newest first: pending (with the next attempt), delivered or dead."""
    try:
        rows = hooks.log(name, limit)
    except NoSuchHookError as exc:
        raise not_found(str(exc)) from None
    return {"Deliveries": [shapes.delivery(row) for row in rows]}
