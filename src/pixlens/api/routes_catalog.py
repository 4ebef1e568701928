"""/v1 questions to the catalog: search, duplicates, labels, people, stats."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from pixlens import shapes
from pixlens.api import models
from pixlens.api.auth import require
from pixlens.api.errors import ApiError
from pixlens.api.routes_images import RuntimeDep
from pixlens.catalog.base import PersonRow
from pixlens.store.names import printable

router = APIRouter(prefix="/v1", responses=models.ERRORS)
READ = [Depends(require("read"))]
RECENT = 100  # failures listed by /v1/stats


@router.get("/search", response_model=models.SearchAnswer, dependencies=READ, tags=["search"])
async def search(
    rt: RuntimeDep,
    q: Annotated[str, Query(description="The query language of pixlens search; empty: every image")] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    cursor: Annotated[str | None, Query(max_length=512, description="NextCursor of the previous page")] = None,
    facets: Annotated[bool, Query(description="Count labels, colours... over the whole result")] = True,
) -> Any:
    """Images matching a query, best first, a page at a time, with facet counts over the whole result."""

    def answer() -> bytes:
        with rt.lens.catalog.snapshot():  # the hits, their total and the facets of one state of the catalog
            result = rt.lens.search(q, limit=limit, cursor=cursor or None)
            counts = rt.lens.facets(q) if facets else None
            names = shapes.naming(result.hits, rt.lens.catalog.person_names, rt.lens.taxonomy.categories)
        page = shapes.search_page(result, counts, names)
        return models.SearchAnswer.model_validate(page).model_dump_json().encode()

    # Computed in a worker thread, once per catalog generation (pixlens.api.answers): the event loop only looks up.
    body = await rt.answers.answer(("search", q, limit, cursor or None, facets), answer)
    return Response(body, media_type="application/json")


@router.get("/duplicates", response_model=models.DuplicatesAnswer, dependencies=READ, tags=["search"])
def duplicates(rt: RuntimeDep) -> Any:
    """Groups of identical and near-identical images, largest first."""
    return {"Groups": [shapes.duplicate_group(group) for group in rt.lens.duplicates()]}


@router.get("/labels", response_model=models.LabelsAnswer, dependencies=READ, tags=["search"])
def labels(rt: RuntimeDep, limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> Any:
    """Every label in the catalog (parents included) with how many images hold it, most frequent first."""
    return {"Labels": [shapes.label_count(name, count) for name, count in rt.lens.labels()[:limit]]}


@router.get("/people", response_model=models.PeopleAnswer, dependencies=READ, tags=["people"])
def people(rt: RuntimeDep) -> Any:
    """The people the faces were grouped into, most faces first, each with its most confident face."""
    return {"People": [_person(rt, row) for row in rt.lens.people()]}


def _person(rt: RuntimeDep, row: PersonRow) -> dict[str, Any]:
    shaped = shapes.person(row)
    shaped["Face"] = None
    if row.best_image is not None and row.best_face is not None:
        found = rt.lens.show(row.best_image)
        details = found.FaceDetails if found is not None else []
        box = details[row.best_face].get("BoundingBox") if row.best_face < len(details) else None
        shaped["Face"] = {"ImageName": row.best_image, "BoundingBox": box}
    return shaped


@router.patch(
    "/people/{person_id}",
    response_model=models.Person,
    dependencies=[Depends(require("write"))],
    responses=models.NOT_FOUND,
    tags=["people"],
)
def name_person(person_id: int, body: models.PersonName, rt: RuntimeDep) -> Any:
    """Name a person (``null`` or an empty name removes it); then search them with ``person:NAME``."""
    name = (body.Name or "").strip() or None
    if name is not None and (len(name) > 200 or not name.isprintable()):
        raise ApiError(400, "bad_request", f"invalid name {printable(name[:40])!r}: at most 200 printable characters")
    if not 0 <= person_id < 2**63 or not rt.lens.name_person(person_id, name):
        raise ApiError(404, "not_found", f"no person {person_id}")
    row = next(row for row in rt.lens.people() if row.id == person_id)
    return _person(rt, row)


@router.get("/stats", response_model=models.StatsAnswer, dependencies=READ, tags=["status"])
def stats(rt: RuntimeDep) -> Any:
    """Counts by status, the queue, throughput and the recent failures with their reasons."""
    return {
        **shapes.pascal_keys(rt.lens.stats()),
        "QueueDepth": rt.queue_depth(),
        "Throughput": round(rt.throughput(), 3),
        "Ready": rt.ready,
        "WorkersError": rt.error,
        "RecentFailures": [
            {"ImageName": key, "Error": error, "At": at} for key, error, at in rt.lens.catalog.failures(RECENT)
        ],
    }
