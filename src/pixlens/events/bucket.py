"""Bucket events: S3-format event notifications (and SeaweedFS filer notifications) -> analyse or forget.

An S3 notification (AWS S3, MinIO, Ceph RGW, Garage; forwarded by SNS, SQS or a Lambda) carries ``Records``, each
with an ``eventName`` (``ObjectCreated:Put``, ``s3:ObjectRemoved:Delete``...), the bucket's name and the object's
key, URL-encoded with ``+`` for a space. SNS wraps it in ``{"Type": "Notification", "Message": "<json>"}``: it is
unwrapped (its signature is not checked: whoever may call the endpoint may send events). A SeaweedFS filer's
webhook sends ``{"key": "/buckets/<bucket>/<name>", "event_type": "create|update|delete|rename", "message": ...}``.

An event is a hint, never the truth: each object it names is looked at again (a HEAD), and what the bucket holds
now decides, through :func:`pixlens.work.needs_work` as for every other caller. So a replayed, duplicated or
reordered event changes nothing (no ``sequencer`` bookkeeping is needed): an object created is analysed once per
content, an object removed is forgotten only once it is really gone (a "removed" event for an object that was put
again is kept), and the object itself is never deleted. Objects of another bucket, outside the store's prefix, or
not named like images are ignored with a reason; a malformed record is an error of its own, and the others are
still applied.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from pixlens.catalog.base import Catalog
from pixlens.errors import PixlensError, StoreError, StoreMissingError
from pixlens.pipeline import Job
from pixlens.store.base import ObjectStore, is_image_key
from pixlens.store.names import printable
from pixlens.work import Reason, needs_work

log = logging.getLogger(__name__)

CREATED = "created"
REMOVED = "removed"
FILER_KINDS = {"create": CREATED, "update": CREATED, "delete": REMOVED}
BUCKETS_FOLDER = "/buckets"  # where a SeaweedFS filer keeps its buckets (filer.options.buckets_folder)


class EventError(PixlensError):
    """A body that is no bucket notification at all (not JSON, no ``Records``, an SNS message that is not one)."""


@dataclass(frozen=True)
class Notice:
    """One object an event names: its full name in ``bucket`` (decoded), and whether it was created or removed."""

    bucket: str
    name: str
    kind: str


@dataclass(frozen=True)
class Ignored:
    key: str
    reason: str


@dataclass
class EventsReport:
    """What a batch of notifications did: images queued and forgotten, keys with nothing to do, keys ignored (with
    why), records that could not be read; ``jobs`` are for the caller to run or hand to the workers."""

    queued: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)

    def add(self, other: EventsReport) -> None:
        self.queued += other.queued
        self.forgotten += other.forgotten
        self.unchanged += other.unchanged
        self.ignored += other.ignored
        self.errors += other.errors
        self.jobs += other.jobs

    def answer(self) -> dict[str, Any]:
        """The report as the API and ``pixlens events --json`` give it (PascalCase)."""
        return {
            "Queued": len(self.queued),
            "Forgotten": len(self.forgotten),
            "Unchanged": len(self.unchanged),
            "Ignored": [{"Key": item.key, "Reason": item.reason} for item in self.ignored],
            "Errors": list(self.errors),
        }


@dataclass
class _Parsed:
    notices: list[Notice] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


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


def parse_notification(body: Any, buckets_folder: str = BUCKETS_FOLDER) -> _Parsed:
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
    parsed = _Parsed()
    if "Records" in body:
        records = body["Records"]
        if not isinstance(records, list):
            raise EventError("Records is not a list")
        for index, record in enumerate(records):
            _s3_record(index, record, parsed)
        return parsed
    if "event_type" in body and "key" in body:
        _filer_notification(body, parsed, buckets_folder)
        return parsed
    if str(body.get("Event", "")).endswith("TestEvent"):  # AWS S3's test message when a notification is set up
        return parsed
    raise EventError(
        "not a bucket notification: expected S3 event records ({'Records': [...]}), an SNS envelope "
        "({'Type': 'Notification', 'Message': ...}) or a SeaweedFS filer notification ({'key', 'event_type'})"
    )


def _kind_of(event_name: str) -> str | None:
    name = event_name.removeprefix("s3:")
    if name.startswith("ObjectCreated:"):
        return CREATED
    if name.startswith("ObjectRemoved:"):
        return REMOVED
    return None


def _s3_record(index: int, record: Any, parsed: _Parsed) -> None:
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
        if not isinstance(value, str) or not value
    ]
    if missing:
        parsed.errors.append(f"{where}: no {', '.join(missing)} (or not a string)")
        return
    assert isinstance(event_name, str) and isinstance(bucket_name, str) and isinstance(raw_key, str)
    try:
        name = unquote_plus(raw_key, errors="strict")
    except UnicodeDecodeError:
        parsed.errors.append(f"{where}: the key {raw_key!r} is not URL-encoded UTF-8")
        return
    kind = _kind_of(event_name)
    if kind is None:
        parsed.ignored.append(Ignored(name, f"{event_name} is not followed (only ObjectCreated:* and ObjectRemoved:*)"))
        return
    parsed.notices.append(Notice(bucket_name, name, kind))


def _filer_notification(body: Mapping[str, Any], parsed: _Parsed, buckets_folder: str) -> None:
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


class BucketEvents:
    """Applies notifications to the catalog of a bucket store: ``bucket``, and ``prefix`` (the store's keys are
    object names relative to it). ``forget`` is the service's (the records with what analysers kept for them);
    ``may_forget`` its guard against forgetting too much at once."""

    def __init__(
        self,
        store: ObjectStore,
        catalog: Catalog,
        bucket: str,
        prefix: str,
        forget: Callable[[list[str]], object],
        may_forget: Callable[[int], bool] | None = None,
        buckets_folder: str = BUCKETS_FOLDER,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.bucket = bucket
        self.root = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.forget = forget
        self.may_forget = may_forget or (lambda count: True)
        self.buckets_folder = buckets_folder

    def apply_text(self, text: str | bytes) -> EventsReport:
        """Apply one notification given as JSON text (EventError when it is not one)."""
        return self.apply(parse_text(text))

    def apply(self, body: Any) -> EventsReport:
        """Apply one notification (parsed JSON): mark what needs analysis pending and return its jobs; forget what
        is gone. EventError when the body is no notification; a bad record is an error in the report."""
        parsed = parse_notification(body, self.buckets_folder)
        report = EventsReport(ignored=list(parsed.ignored), errors=list(parsed.errors))
        kinds: dict[str, set[str]] = {}
        for notice in parsed.notices:
            key = self._key_of(notice, report)
            if key is not None:
                kinds.setdefault(key, set()).add(notice.kind)
        self._act(kinds, report)
        for item in report.ignored:
            log.info("bucket event ignored: %s: %s", printable(item.key), item.reason)
        for error in report.errors:
            log.warning("bucket event not applied: %s", error)
        return report

    def _key_of(self, notice: Notice, report: EventsReport) -> str | None:
        """The store's key for a notice's object, or None (ignored, with the reason in the report)."""
        if notice.bucket != self.bucket:
            reason = f"bucket {notice.bucket!r} is not the store's ({self.bucket!r})"
            report.ignored.append(Ignored(notice.name, reason))
            return None
        if not notice.name.startswith(self.root):
            report.ignored.append(Ignored(notice.name, f"outside the store's prefix {self.root!r}"))
            return None
        key = notice.name[len(self.root) :]
        if "\0" in key or not is_image_key(key):
            report.ignored.append(Ignored(notice.name, "not an image name (or a hidden one, or a folder)"))
            return None
        return key

    def _act(self, kinds: Mapping[str, set[str]], report: EventsReport) -> None:
        """What each key's object is now decides, whatever the events said."""
        present: dict[str, str] = {}
        gone: list[str] = []
        for key in kinds:
            try:
                info = self.store.stat(key)
            except StoreMissingError:
                raise  # the bucket or the server is away: nothing can be judged, the sender should retry
            except StoreError as exc:
                report.errors.append(f"{printable(key)}: {exc}")
                continue
            if info is None:
                gone.append(key)
            else:
                present[key] = info.etag
        states = {state.key: state for state in self.catalog.states([*present, *gone])}
        for key, etag in present.items():
            need = needs_work(states.get(key), etag)
            queued = need is not None and need.reason is Reason.PENDING
            # One mark per key: the catalog's answer is atomic, so two deliveries of one event make one job.
            if need is None or queued or (need.marks_pending and not self.catalog.mark_pending([(key, etag)])):
                if kinds[key] == {REMOVED}:
                    report.ignored.append(Ignored(key, "removed, but the bucket still has it: kept"))
                else:
                    report.unchanged.append(key)
                continue
            report.queued.append(key)
            report.jobs.append(Job(key, etag, need.analyzers))
        catalogued = [key for key in gone if key in states]
        report.unchanged += [key for key in gone if key not in states]
        if catalogued and self.may_forget(len(catalogued)):
            self.forget(catalogued)
            report.forgotten += catalogued
        elif catalogued:
            report.errors += [f"{printable(key)}: not forgotten (too many deletions at once)" for key in catalogued]


def bucket_of(store: ObjectStore) -> tuple[str, str] | None:
    """The bucket and prefix of a bucket store; None for a folder."""
    bucket, prefix = getattr(store, "bucket", None), getattr(store, "prefix", None)
    return (bucket, prefix) if isinstance(bucket, str) and isinstance(prefix, str) else None
