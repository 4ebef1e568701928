"""Bucket notifications -> the objects they name: one parser for every way an S3-compatible bucket says that an
object was created or removed.

- S3 event notifications (AWS S3, MinIO, Ceph RGW, Garage): ``{"Records": [...]}``, each record with an
  ``eventName`` (``ObjectCreated:Put``, ``s3:ObjectRemoved:Delete``...), the bucket's name and the object's key,
  URL-encoded with ``+`` for a space, and its ``eTag`` and ``sequencer`` where S3 gives them.
- The same, wrapped by SNS: ``{"Type": "Notification", "Message": "<json>"}`` (its signature is not checked: whoever
  may hand pixlens events may send events).
- EventBridge events from S3: ``{"source": "aws.s3", "detail-type": "Object Created" | "Object Deleted",
  "detail": {"bucket": {"name"}, "object": {"key", "etag", "sequencer"}}}``. The key is decoded as in S3's own
  notifications (a key without ``%`` or ``+`` reads the same either way).
- S3's test message (``{"Event": "s3:TestEvent"}``, sent when a notification is set up): names nothing.
- A SeaweedFS filer's webhook: ``{"key": "/buckets/<bucket>/<name>", "event_type": "create|update|delete|rename"}``.

Used by :mod:`pixlens.events.bucket` (``POST /v1/events/s3``, ``pixlens events``) and :mod:`pixlens.aws.events`
(the Lambda function, which also unwraps SQS batches). A body that is no notification at all is an EventError;
a record that cannot be read is an error of its own (in ``Parsed.errors``), and the others are still read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from pixlens.errors import PixlensError

CREATED = "created"
REMOVED = "removed"
FILER_KINDS = {"create": CREATED, "update": CREATED, "delete": REMOVED}
BUCKETS_FOLDER = "/buckets"  # where a SeaweedFS filer keeps its buckets (filer.options.buckets_folder)
EVENTBRIDGE_KINDS = {"Object Created": CREATED, "Object Deleted": REMOVED}


class EventError(PixlensError):
    """A body that is no bucket notification at all (not JSON, no ``Records``, an SNS message that is not one)."""


@dataclass(frozen=True)
class Notice:
    """One object an event names: its full name in ``bucket`` (decoded), whether it was created or removed, and
    S3's ``etag`` and ``sequencer`` for it when the event carries them (for the logs: what the bucket holds when
    the object is looked at decides, not the event)."""

    bucket: str
    name: str
    kind: str
    etag: str | None = None
    sequencer: str | None = None


@dataclass(frozen=True)
class Ignored:
    """An object an event names that is not acted on, and why. ``refused``: it is not the store's (another bucket,
    outside its prefix), as opposed to the store's but not followed (another event, not an image name)."""

    key: str
    reason: str
    refused: bool = False


@dataclass
class Parsed:
    """What one notification names: the objects, those it names but that are not followed, and the records that
    could not be read. ``test_event``: S3's test message, which names nothing."""

    notices: list[Notice] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    test_event: bool = False


def parse_text(text: str | bytes) -> Any:
    """A notification as JSON text; a JSON string holding JSON (``jq -c .Body`` of an SQS message) is read again.
    EventError when it is not JSON."""
    try:
        body = json.loads(text)
        if isinstance(body, str):
            body = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError(f"not JSON: {exc}") from None
    return body


def parse_notification(body: Any, buckets_folder: str = BUCKETS_FOLDER) -> Parsed:
    """The objects a notification names; EventError when the body is no notification at all."""
    if not isinstance(body, dict):
        raise EventError(f"a notification is a JSON object, not {type(body).__name__}")
    if body.get("Type") == "SubscriptionConfirmation":
        raise EventError(
            "an SNS subscription confirmation: confirm the subscription by opening its SubscribeURL (pixlens does "
            "not confirm subscriptions itself)"
        )
    if body.get("Type") == "Notification" and "Message" in body:  # SNS (its signature is not checked)
        message = body["Message"]
        if not isinstance(message, str):
            raise EventError("an SNS notification whose Message is not a string")
        return parse_notification(parse_text(message), buckets_folder)
    parsed = Parsed()
    if "Records" in body:
        records = body["Records"]
        if not isinstance(records, list):
            raise EventError("Records is not a list")
        for index, record in enumerate(records):
            _s3_record(index, record, parsed)
        return parsed
    if "detail-type" in body and "detail" in body:
        _eventbridge_event(body, parsed)
        return parsed
    if "event_type" in body and "key" in body:
        _filer_notification(body, parsed, buckets_folder)
        return parsed
    if str(body.get("Event", "")).endswith("TestEvent"):  # AWS S3's test message when a notification is set up
        parsed.test_event = True
        return parsed
    raise EventError(
        "not a bucket notification: expected S3 event records ({'Records': [...]}), an SNS envelope "
        "({'Type': 'Notification', 'Message': ...}), an EventBridge event from S3 ({'source': 'aws.s3', "
        "'detail-type': ..., 'detail': ...}) or a SeaweedFS filer notification ({'key', 'event_type'})"
    )


def _kind_of(event_name: str) -> str | None:
    name = event_name.removeprefix("s3:")
    if name.startswith("ObjectCreated:"):
        return CREATED
    if name.startswith("ObjectRemoved:"):
        return REMOVED
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _decoded(raw_key: str, where: str, parsed: Parsed) -> str | None:
    try:
        return unquote_plus(raw_key, errors="strict")
    except UnicodeDecodeError:
        parsed.errors.append(f"{where}: the key {raw_key!r} is not URL-encoded UTF-8")
        return None


def _s3_record(index: int, record: Any, parsed: Parsed) -> None:
    where = f"record {index}"
    if not isinstance(record, dict):
        parsed.errors.append(f"{where}: not a JSON object")
        return
    event_name = record.get("eventName")
    s3 = record.get("s3")
    bucket = s3.get("bucket") if isinstance(s3, dict) else None
    found = s3.get("object") if isinstance(s3, dict) else None
    bucket_name = bucket.get("name") if isinstance(bucket, dict) else None
    raw_key = found.get("key") if isinstance(found, dict) else None
    missing = [
        name
        for name, value in (("eventName", event_name), ("s3.bucket.name", bucket_name), ("s3.object.key", raw_key))
        if _text(value) is None
    ]
    if missing:
        parsed.errors.append(f"{where}: no {', '.join(missing)} (or not a string)")
        return
    assert isinstance(event_name, str) and isinstance(bucket_name, str) and isinstance(raw_key, str)
    assert isinstance(found, dict)
    name = _decoded(raw_key, where, parsed)
    if name is None:
        return
    kind = _kind_of(event_name)
    if kind is None:
        parsed.ignored.append(Ignored(name, f"{event_name} is not followed (only ObjectCreated:* and ObjectRemoved:*)"))
        return
    parsed.notices.append(Notice(bucket_name, name, kind, _text(found.get("eTag")), _text(found.get("sequencer"))))


def _eventbridge_event(body: Mapping[str, Any], parsed: Parsed) -> None:
    where = f"EventBridge event {body.get('id', '')}".rstrip()
    source, detail_type, detail = body.get("source"), body.get("detail-type"), body.get("detail")
    if source != "aws.s3":
        parsed.errors.append(f"{where}: from {source!r}, not from S3 (aws.s3)")
        return
    bucket = detail.get("bucket") if isinstance(detail, dict) else None
    found = detail.get("object") if isinstance(detail, dict) else None
    bucket_name = _text(bucket.get("name")) if isinstance(bucket, dict) else None
    raw_key = _text(found.get("key")) if isinstance(found, dict) else None
    fields = (("detail-type", _text(detail_type)), ("detail.bucket.name", bucket_name), ("detail.object.key", raw_key))
    missing = [name for name, value in fields if value is None]
    if missing:
        parsed.errors.append(f"{where}: no {', '.join(missing)} (or not a string)")
        return
    assert isinstance(detail_type, str) and bucket_name is not None and raw_key is not None
    assert isinstance(found, dict)
    name = _decoded(raw_key, where, parsed)
    if name is None:
        return
    kind = EVENTBRIDGE_KINDS.get(detail_type)
    if kind is None:
        followed = " and ".join(repr(kind) for kind in EVENTBRIDGE_KINDS)
        parsed.ignored.append(Ignored(name, f"{detail_type!r} is not followed (only {followed})"))
        return
    parsed.notices.append(Notice(bucket_name, name, kind, _text(found.get("etag")), _text(found.get("sequencer"))))


def _filer_notification(body: Mapping[str, Any], parsed: Parsed, buckets_folder: str) -> None:
    path, event_type, message = body.get("key"), body.get("event_type"), body.get("message")
    if not isinstance(path, str) or not isinstance(event_type, str):
        parsed.errors.append("filer notification: key and event_type must be strings")
        return
    message = message if isinstance(message, dict) else {}
    entries = [entry for entry in (message.get("old_entry"), message.get("new_entry")) if isinstance(entry, dict)]
    if any(entry.get("is_directory") for entry in entries):
        parsed.ignored.append(Ignored(path, "a folder"))
        return
    changes: list[tuple[str, str]] = []
    if event_type == "rename":
        new_entry = message.get("new_entry")
        new_parent = message.get("new_parent_path")
        changes.append((path, REMOVED))
        if isinstance(new_entry, dict) and isinstance(new_parent, str) and isinstance(new_entry.get("name"), str):
            changes.append((f"{new_parent.rstrip('/')}/{new_entry['name']}", CREATED))
        else:
            parsed.errors.append(f"filer notification: a rename of {path!r} without new_parent_path and new_entry")
    elif event_type in FILER_KINDS:
        changes.append((path, FILER_KINDS[event_type]))
    else:
        parsed.ignored.append(Ignored(path, f"filer event {event_type!r} is not followed"))
        return
    root = buckets_folder.rstrip("/") + "/"
    for full_path, kind in changes:
        if not full_path.startswith(root):
            parsed.ignored.append(Ignored(full_path, f"not in a bucket (outside {root})"))
            continue
        bucket, _, name = full_path[len(root) :].partition("/")
        if not bucket or not name:
            parsed.ignored.append(Ignored(full_path, "a bucket, not an object"))
            continue
        parsed.notices.append(Notice(bucket, name, kind))
