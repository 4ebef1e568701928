"""/v1/images: upload, read, delete and re-analyse images."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from pixlens import shapes
from pixlens.analysis.thumbnail import FOLDER
from pixlens.api import models
from pixlens.api.auth import require
from pixlens.api.errors import ApiError, error_body, not_found, status_of
from pixlens.api.runtime import Runtime
from pixlens.api.uploads import key_from_filename
from pixlens.errors import (
    ObjectExistsError,
    PixlensError,
    StoreError,
)
from pixlens.record import ImageRecord, Status
from pixlens.store.names import printable

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/images", tags=["images"], responses=models.ERRORS)
SUBRESOURCES = ("original", "thumbnail", "similar")

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "binary"}},
                        "key": {"type": "array", "items": {"type": "string"}},
                    },
                }
            }
        },
    }
}


async def runtime(request: Request) -> Runtime:
    """(async: a dependency that only looks something up costs no trip to a worker thread)"""
    found: Runtime = request.app.state.runtime
    return found


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def location(key: str) -> str:
    return "/v1/images/" + quote(key, safe="/")


def client_key(key: str) -> str:
    """A key sent by a client, refused unless it is a plain relative path that stays inside the store."""
    from pixlens.access import validate_key_name

    try:
        return validate_key_name(key)
    except PixlensError as exc:
        raise ApiError(400, "invalid_key", str(exc)) from None


@router.post(
    "",
    status_code=202,
    response_model=models.UploadAnswer,
    dependencies=[Depends(require("write"))],
    openapi_extra=UPLOAD_BODY,
    responses={413: {"model": models.ErrorBody}, 415: {"model": models.ErrorBody}, 409: {"model": models.ErrorBody}},
)
async def upload(
    request: Request,
    rt: RuntimeDep,
    on_conflict: Annotated[
        Literal["rename", "fail"], Query(description="A key holding other bytes: store as 'name (2).ext', or 409.")
    ] = "rename",
) -> Any:
    """Upload one or many images (multipart ``file`` parts, optional ``key`` fields in the same order)."""
    limits = rt.lens.settings.api
    try:
        form = await request.form(max_files=limits.max_files, max_fields=limits.max_files + 16)
    except ClientDisconnect:  # nobody is left to answer: one line, no traceback
        log.info("a client went away during its upload; nothing was stored")
        return Response(status_code=400)
    try:
        files = [part for part in form.getlist("file") if isinstance(part, UploadFile)]
        keys = [str(value) for value in form.getlist("key")]
        if not files:
            raise ApiError(400, "bad_request", "no 'file' part: send the images as multipart/form-data 'file' parts")
        if keys and len(keys) != len(files):
            raise ApiError(400, "bad_request", f"{len(keys)} 'key' fields for {len(files)} files: one each, or none")
        answers = []
        for index, part in enumerate(files):
            key = client_key(keys[index]) if keys else key_from_filename(part.filename)
            answers.append(await run_in_threadpool(_store_one, rt, part, key, on_conflict == "rename"))
    finally:
        await form.close()
    if len(answers) == 1 and "Error" in answers[0]:  # one file: its error is the request's
        error = answers[0]["Error"]
        raise ApiError(answers[0]["_status"], error["code"], error["message"])
    return {"Images": [{k: v for k, v in answer.items() if k != "_status"} for answer in answers]}


def _store_one(rt: Runtime, part: UploadFile, key: str, rename: bool) -> dict[str, Any]:
    limit = rt.lens.settings.api.max_upload_bytes
    size = part.size if part.size is not None else _size_of(part)
    try:
        if size > limit:
            return _rejected(key, 413, "too_large", f"{size:,} bytes, more than the {limit:,} an upload may carry")
        if size == 0:
            return _rejected(key, 415, "not_an_image", "the file is empty")
        part.file.seek(0)
        added = rt.lens.add(key, part.file, rename=rename)
    except ObjectExistsError:
        return _rejected(key, 409, "key_exists", f"{printable(key)} holds another image (on_conflict=fail)")
    except PixlensError as exc:  # not an image, too large, the store missing...: answered as the API answers them
        return _rejected(key, *status_of(exc), str(exc))
    rt.metrics.uploaded.inc()
    if added.job is not None:
        rt.submit(added.job)
    status = added.status.value if added.copied or added.status is not Status.ANALYZED else "unchanged"
    return {"ImageName": added.key, "Status": status, "Location": location(added.key)}


def _size_of(part: UploadFile) -> int:
    part.file.seek(0, os.SEEK_END)
    return part.file.tell()


def _rejected(key: str, status: int, code: str, message: str) -> dict[str, Any]:
    return {"ImageName": key, "Status": "rejected", "Error": error_body(code, message), "_status": status}


def _record(rt: Runtime, key: str) -> ImageRecord:
    found = rt.lens.show(key)
    if found is None:
        raise not_found(f"no image {printable(key)!r} in the catalog")
    return found


def _sub(rt: Runtime, key: str, what: str) -> ImageRecord | None:
    """The record of the image ``.../{key}/{what}`` is about (one catalog read); None when the whole path is an
    image's key itself (a file named like a sub-resource, inside a folder named like an image: only possible where
    folders are prefixes, as on S3). 404 when neither is an image."""
    found = rt.lens.catalog.get(key)
    if found is None and rt.lens.catalog.get(f"{key}/{what}") is not None:
        return None
    if found is None:
        raise not_found(f"no image {printable(key)!r} in the catalog")
    return found


@router.get("/{key:path}/original", dependencies=[Depends(require("read"))], responses=models.NOT_FOUND)
def original(key: str, rt: RuntimeDep) -> Response:
    """The image's bytes, as stored."""
    found = _sub(rt, key, "original")
    if found is None:
        return record(f"{key}/original", rt)  # type: ignore[return-value]
    image_type = found.ContentType if found.Status is Status.ANALYZED and found.ContentType else None
    headers = {
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(key.rsplit('/', 1)[-1])}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
    }
    path_of = getattr(rt.lens.store, "path_of", None)
    if path_of is None:  # a bucket: its bytes pass through as they arrive
        stream = rt.lens.store.stream(key)
        if stream is None:
            raise not_found(f"the file of {printable(key)!r} is gone from the store")
        return StreamingResponse(_chunks(stream), media_type=image_type or "application/octet-stream", headers=headers)
    path = Path(path_of(key))
    if not path.is_file():
        raise not_found(f"the file of {printable(key)!r} is gone from the store")
    return FileResponse(path, media_type=image_type or "application/octet-stream", headers=headers)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    """A stored object's bytes in pieces (iterated in a worker thread by Starlette), closed at the end."""
    try:
        while chunk := stream.read(1 << 16):
            yield chunk
    finally:
        stream.close()


@router.get(
    "/{key:path}/thumbnail",
    dependencies=[Depends(require("read"))],
    responses={**models.NOT_FOUND, 200: {"content": {"image/webp": {}}}},
)
def thumbnail(key: str, rt: RuntimeDep) -> Response:
    """The image's WebP thumbnail."""
    found = _sub(rt, key, "thumbnail")
    if found is None:
        return record(f"{key}/thumbnail", rt)  # type: ignore[return-value]
    if not found.Thumbnail:
        raise not_found(f"{printable(key)!r} has no thumbnail (not analysed yet, failed, or thumbnails are off)")
    headers = {"Cache-Control": "private, max-age=60"}
    name = found.Thumbnail
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != FOLDER or any(part in ("", ".", "..") for part in parts):
        raise not_found(f"the thumbnail of {printable(key)!r} is missing")
    place = rt.lens.thumbnails
    path = place.local_path(name)
    if path is None:  # in a bucket: its bytes pass through as they arrive
        stream = place.stream(name)
        if stream is None:
            raise not_found(f"the thumbnail of {printable(key)!r} is missing")
        return StreamingResponse(_chunks(stream), media_type="image/webp", headers=headers)
    if not path.is_file():
        raise not_found(f"the thumbnail of {printable(key)!r} is missing")
    return FileResponse(path, media_type="image/webp", headers=headers)


@router.get(
    "/{key:path}/similar",
    response_model=models.SimilarAnswer,
    dependencies=[Depends(require("read"))],
    responses=models.NOT_FOUND,
)
def similar(key: str, rt: RuntimeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 10) -> Any:
    """The images that look most like this one, best first."""
    if _sub(rt, key, "similar") is None:
        return record(f"{key}/similar", rt)
    return {"Images": [shapes.similar(other, sim) for other, sim in rt.lens.similar(key, limit)]}


@router.post(
    "/{key:path}/reanalyze",
    status_code=202,
    response_model=models.Queued,
    dependencies=[Depends(require("write"))],
    responses=models.NOT_FOUND,
)
def reanalyze(key: str, rt: RuntimeDep) -> Any:
    """Analyse the image again with every analyser (a failed one too)."""
    job = rt.lens.reanalyze(key)
    if job is None:
        raise not_found(f"no image {printable(key)!r} in the store")
    rt.submit(job)
    return {"ImageName": key, "Status": Status.PENDING.value, "Location": location(key)}


@router.get("/{key:path}", dependencies=[Depends(require("read"))], responses=models.NOT_FOUND)
def record(key: str, rt: RuntimeDep) -> dict[str, Any]:
    """The image's record (as ``pixlens show``): labels, text, faces, moderation, properties, EXIF, status."""
    return shapes.record(_record(rt, key))


@router.delete(
    "/{key:path}",
    status_code=204,
    dependencies=[Depends(require("write"))],
    responses={**models.NOT_FOUND, 503: {"model": models.ErrorBody}},
)
def delete(key: str, rt: RuntimeDep) -> Response:
    """Remove the image: its file, its record, vectors, faces and thumbnail."""
    if not rt.ready:  # the analysers (which keep files such as thumbnails) are not loaded
        why = rt.error or "pixlens is starting (loading the models)"
        raise ApiError(503, "not_ready", f"{why}: try again in a moment")
    try:
        rt.lens.store.stat(key)
    except StoreError:
        raise not_found(f"no image {printable(key)!r}") from None
    if not rt.lens.delete(key):
        raise not_found(f"no image {printable(key)!r}")
    return Response(status_code=204)
