"""Bucket events: S3-format event notifications (and EventBridge events, SeaweedFS filer notifications) -> analyse
or forget.

What a notification names is read by :mod:`pixlens.events.notices` (S3 records, SNS envelopes, EventBridge events,
S3's test message, a SeaweedFS filer's webhook); this module applies it to a bucket store's catalog.

An event is a hint, never the truth: each object it names is looked at again (a HEAD), and what the bucket holds
now decides, through :func:`pixlens.work.needs_work` as for every other caller. So a replayed, duplicated or
reordered event changes nothing (no ``sequencer`` bookkeeping is needed): an object created is analysed once per
content, an object removed is forgotten only once it is really gone (a "removed" event for an object that was put
again is kept), and the object itself is never deleted. Objects of another bucket, outside the store's prefix, or
not named like images are ignored with a reason; a malformed record is an error of its own, and the others are
still applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pixlens.catalog.base import Catalog
from pixlens.errors import StoreError, StoreMissingError
from pixlens.events.notices import (
    BUCKETS_FOLDER,
    CREATED,
    REMOVED,
    EventError,
    Ignored,
    Notice,
    parse_notification,
    parse_text,
)
from pixlens.pipeline import Job
from pixlens.store.base import ObjectStore, is_image_key
from pixlens.store.names import printable
from pixlens.work import Reason, needs_work

__all__ = [
    "CREATED",
    "REMOVED",
    "Action",
    "BucketEvents",
    "Decision",
    "EventError",
    "EventsReport",
    "Ignored",
    "Notice",
    "bucket_of",
    "parse_notification",
    "parse_text",
]

log = logging.getLogger(__name__)

KEPT_REASON = "removed, but the bucket still has it: kept"


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


class Action(StrEnum):
    """What looking at one object decided."""

    QUEUED = "queued"  # it needs analysis: ``job`` is to run (marked pending first, or found pending)
    FORGOTTEN = "forgotten"  # gone from the bucket: taken out of the catalog
    UNCHANGED = "unchanged"  # the catalog holds what the bucket holds (or a job for it is queued already)
    ABSENT = "absent"  # neither the bucket nor the catalog has it: nothing to do
    KEPT = "kept"  # only "removed" events named it, but the bucket still has it
    ERROR = "error"  # it could not be looked at, or could not be forgotten (``reason``)


@dataclass(frozen=True)
class Decision:
    key: str
    action: Action
    job: Job | None = None
    reason: str = ""


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
            key = self.key_of(notice)
            if isinstance(key, Ignored):
                report.ignored.append(key)
            else:
                kinds.setdefault(key, set()).add(notice.kind)
        for decision in self.decide(kinds).values():
            _report(decision, report)
        for item in report.ignored:
            log.info("bucket event ignored: %s: %s", printable(item.key), item.reason)
        for error in report.errors:
            log.warning("bucket event not applied: %s", error)
        return report

    def key_of(self, notice: Notice) -> str | Ignored:
        """The store's key for a notice's object, or why it is not followed (another bucket, outside the prefix:
        refused; not an image name: ignored)."""
        if notice.bucket != self.bucket:
            return Ignored(notice.name, f"bucket {notice.bucket!r} is not the store's ({self.bucket!r})", refused=True)
        if not notice.name.startswith(self.root):
            return Ignored(notice.name, f"outside the store's prefix {self.root!r}", refused=True)
        key = notice.name[len(self.root) :]
        if "\0" in key or not is_image_key(key):
            return Ignored(notice.name, "not an image name (or a hidden one, or a folder)")
        return key

    def decide(self, kinds: Mapping[str, set[str]], take_pending: bool = False) -> dict[str, Decision]:
        """What each key's object is now decides, whatever the events said (``kinds``: what they said of each key).

        A key that needs analysis is marked pending (one mark per key: the catalog's answer is atomic, so two
        deliveries of one event make one job). One found pending already has a job queued elsewhere, unless
        ``take_pending``: then the delivery is the job (a Lambda retried after a timeout or a crash, where no other
        queue holds it). StoreMissingError when the bucket or its server is away: nothing can be judged, the sender
        should retry."""
        decisions: dict[str, Decision] = {}
        present: dict[str, str] = {}
        gone: list[str] = []
        for key in kinds:
            try:
                info = self.store.stat(key)
            except StoreMissingError:
                raise
            except StoreError as exc:
                decisions[key] = Decision(key, Action.ERROR, reason=str(exc))
                continue
            if info is None:
                gone.append(key)
            else:
                present[key] = info.etag
        states = {state.key: state for state in self.catalog.states([*present, *gone])}
        for key, etag in present.items():
            need = needs_work(states.get(key), etag)
            pending = need is not None and need.reason is Reason.PENDING
            if need is None or (pending and not take_pending):
                taken = False
            elif need.marks_pending:
                taken = bool(self.catalog.mark_pending([(key, etag)]))
            else:
                taken = True
            if taken:
                assert need is not None
                decisions[key] = Decision(key, Action.QUEUED, Job(key, etag, need.analyzers))
            elif kinds[key] == {REMOVED}:
                decisions[key] = Decision(key, Action.KEPT, reason=KEPT_REASON)
            else:
                decisions[key] = Decision(key, Action.UNCHANGED)
        catalogued = [key for key in gone if key in states]
        decisions.update({key: Decision(key, Action.ABSENT) for key in gone if key not in states})
        if catalogued and self.may_forget(len(catalogued)):
            self.forget(catalogued)
            decisions.update({key: Decision(key, Action.FORGOTTEN) for key in catalogued})
        elif catalogued:
            reason = "not forgotten (too many deletions at once)"
            decisions.update({key: Decision(key, Action.ERROR, reason=reason) for key in catalogued})
        return {key: decisions[key] for key in kinds if key in decisions}


def _report(decision: Decision, report: EventsReport) -> None:
    key, action = decision.key, decision.action
    if action is Action.QUEUED:
        assert decision.job is not None
        report.queued.append(key)
        report.jobs.append(decision.job)
    elif action is Action.FORGOTTEN:
        report.forgotten.append(key)
    elif action in (Action.UNCHANGED, Action.ABSENT):
        report.unchanged.append(key)
    elif action is Action.KEPT:
        report.ignored.append(Ignored(key, decision.reason))
    else:
        report.errors.append(f"{printable(key)}: {decision.reason}")


def bucket_of(store: ObjectStore) -> tuple[str, str] | None:
    """The bucket and prefix of a bucket store; None for a folder."""
    bucket, prefix = getattr(store, "bucket", None), getattr(store, "prefix", None)
    return (bucket, prefix) if isinstance(bucket, str) and isinstance(prefix, str) else None
