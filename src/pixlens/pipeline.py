"""The one handler every runner calls: a job (key, etag) -> an analysed record in the catalog.

    fetch bytes (ObjectStore) -> sha256 -> skip if unchanged -> decode once -> prepare per analyser
        -> analysers on a batch -> catalog.put

``prepare`` (fetch, hash, decode, model inputs) is thread-safe and runs in worker threads; ``analyze`` runs the
models on a batch, ``parallel`` analysers at once (each one after those it reads: ``After``). Nothing here knows
which store, catalog or queue it runs on. A failure of one image becomes a record with ``Status: failed`` and a
clear ``Error``; it never stops the batch.

What analysers wrote outside the catalog follows the record: when a record leaves the catalog (``forget``, a
vanished file) or is replaced by one that no longer points at it (a failure after a success, new content),
analysers that keep files (``release``: the thumbnails) remove those no record uses any more.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pixlens.allocator import release_free_memory
from pixlens.analysis.base import FAILED, Analyzer
from pixlens.catalog.base import Catalog
from pixlens.errors import DecodeError, PixlensError, StoreError
from pixlens.imageio import DecodeLimits, decode
from pixlens.record import ImageRecord, Status, utc_now
from pixlens.store.base import BucketObject, ObjectStore
from pixlens.when_where import locate
from pixlens.work import analysed_content, analyzers_to_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """Analyse the object ``key``; ``etag`` is the store's change token when the job was made (may be None).

    ``analyzers`` names the analysers to re-run on an image whose content is unchanged (after one of them got a
    new version); None runs them all. ``force`` runs every analyser whatever the record holds (asked for).
    """

    key: str
    etag: str | None = None
    analyzers: tuple[str, ...] | None = None
    force: bool = False


class Outcome(StrEnum):
    ANALYZED = "analyzed"
    UNCHANGED = "unchanged"  # same content and models as the catalogued record: nothing to do
    FAILED = "failed"
    VANISHED = "vanished"  # the object was deleted before it could be read: it leaves the catalog


@dataclass
class Prepared:
    """A job after the thread-safe half: either a record to finish, or an outcome that needs no models."""

    job: Job
    record: ImageRecord
    outcome: Outcome | None = None  # set when no analysis is needed
    inputs: dict[str, Any] = field(default_factory=dict)  # analyser name -> its prepared input
    shared: dict[str, Any] = field(default_factory=dict)  # what analysers share with later ones (not stored)
    previous: ImageRecord | None = None  # the catalog's record before this job (None: it had none)


@dataclass(frozen=True)
class Result:
    key: str
    outcome: Outcome
    error: str | None = None


class Pipeline:
    def __init__(
        self,
        store: ObjectStore,
        catalog: Catalog,
        analyzers: Sequence[Analyzer],
        limits: DecodeLimits,
        parallel: int = 1,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.analyzers = list(analyzers)
        self.parallel = max(1, parallel)
        self.limits = limits
        self.versions = {analyzer.name: analyzer.version for analyzer in self.analyzers}
        # Told (analyser, seconds, images) after each model run on a batch: for metrics.
        self.on_timing: Callable[[str, float, int], None] | None = None

    # -- thread-safe half ----
    def prepare(self, job: Job) -> Prepared:
        record = ImageRecord(ImageName=job.key, ETag=job.etag)
        old: ImageRecord | None = None
        try:
            old = self.catalog.get(job.key)  # read once: what it kept (a thumbnail) may have to go in analyze
            info = self.store.stat(job.key)
            if info is None:
                return Prepared(job, record, Outcome.VANISHED, previous=old)
            record.ETag = info.etag
            data = self.store.read(job.key, self.limits.max_bytes)
            record.Size = len(data)
            record.ContentSha256 = hashlib.sha256(data).hexdigest()
            wanted = self._wanted(job, record, old)
            if not wanted:
                return Prepared(job, record, Outcome.UNCHANGED, previous=old)
            if old is not None and analysed_content(old, record.ContentSha256):
                # Only some analysers re-run: the others' fields (even of analysers not run today) stay.
                record = self._carry_over(old, record)
            image = dataclasses.replace(
                decode(data, self.limits), sha256=record.ContentSha256, data=data, origin=self._origin(job.key)
            )
            del data
            record.ContentType = image.content_type
            record.Width, record.Height = image.width, image.height
            record.Exif = dict(image.exif)
            record.Location = locate(record.Exif)
            inputs = {analyzer.name: analyzer.prepare(image) for analyzer in wanted}
        except StoreError as exc:
            try:
                vanished = self.store.stat(job.key) is None
            except StoreError:
                vanished = False  # the store cannot say either (it is away): the read's failure stands
            if vanished:
                return Prepared(job, record, Outcome.VANISHED, previous=old)
            return self._failed(job, record, str(exc), old)
        except DecodeError as exc:
            return self._failed(job, record, str(exc), old)
        except Exception as exc:  # a bug or a library error must still not lose the image
            log.exception("unexpected error preparing %s", job.key)
            return self._failed(job, record, f"unexpected error: {type(exc).__name__}: {exc}", old)
        return Prepared(job, record, inputs=inputs, previous=old)

    def _origin(self, key: str) -> BucketObject | None:
        """Where the object lies in a bucket, if the store keeps it in one (for services that read it there)."""
        locate = getattr(self.store, "bucket_object", None)
        return locate(key) if locate is not None else None

    def _wanted(self, job: Job, record: ImageRecord, old: ImageRecord | None) -> list[Analyzer]:
        """The analysers to run (``pixlens.work`` decides): none for content already analysed by these versions (a
        touched or re-delivered file), the stale ones for unchanged content, all of them for new or changed content."""
        names = set(analyzers_to_run(old, record.ContentSha256, self.versions, job.analyzers, job.force))
        return [analyzer for analyzer in self.analyzers if analyzer.name in names]

    @staticmethod
    def _carry_over(old: ImageRecord, fresh: ImageRecord) -> ImageRecord:
        record = old.model_copy(deep=True)
        record.ETag, record.Size, record.ContentSha256 = fresh.ETag, fresh.Size, fresh.ContentSha256
        record.Status, record.Error = Status.PENDING, None
        return record

    def unprepared(self, job: Job, reason: str) -> Prepared:
        """A job whose preparation broke off outside ``prepare``'s own handling: a failed record that says why,
        never a job without an outcome."""
        return self._failed(job, ImageRecord(ImageName=job.key, ETag=job.etag), reason, None)

    @classmethod
    def _failed(cls, job: Job, record: ImageRecord, reason: str, previous: ImageRecord | None) -> Prepared:
        cls._mark_failed(record, reason)
        return Prepared(job, record, Outcome.FAILED, previous=previous)

    @staticmethod
    def _mark_failed(record: ImageRecord, reason: str) -> None:
        record.Status = Status.FAILED
        record.Error = reason
        record.AnalyzedAt = utc_now()

    # -- the models, on a batch ----
    def analyze(self, batch: Sequence[Prepared]) -> list[Result]:
        """Finish a batch of prepared jobs and write them to the catalog in one transaction."""
        todo = [item for item in batch if item.outcome is None]
        if todo:
            self._run_models(todo)
        results: list[Result] = []
        to_put: list[ImageRecord] = []
        vanished: list[str] = []
        dropped: list[ImageRecord] = []
        for item in batch:
            outcome = item.outcome or Outcome.ANALYZED
            if outcome is Outcome.VANISHED:
                vanished.append(item.job.key)
            elif outcome is Outcome.UNCHANGED:
                self._refresh_etag(item.record, item.previous, to_put)
            else:
                to_put.append(item.record)
            if outcome is not Outcome.UNCHANGED:
                kept = None if outcome is Outcome.VANISHED else item.record.Thumbnail
                if item.previous is not None and item.previous.Thumbnail != kept:
                    dropped.append(item.previous)
            results.append(Result(item.job.key, outcome, item.record.Error))
        if to_put:
            self.catalog.put(to_put)
        if vanished:
            self.catalog.delete(vanished)
        self._release(dropped)
        if todo:
            release_free_memory()  # what the batch's images and model runs freed goes back to the system
        return results

    def forget(self, keys: Iterable[str]) -> int:
        """Take images out of the catalog, with the files analysers kept for them; returns how many were in it."""
        previous = [record for key in keys if (record := self.catalog.get(key)) is not None]
        deleted = self.catalog.delete(record.ImageName for record in previous)
        self._release(previous)
        return deleted

    def _release(self, dropped: Sequence[ImageRecord]) -> None:
        """Let analysers that keep files remove those that ``dropped`` (records as they were) alone used."""
        if not dropped:
            return
        for analyzer in self.analyzers:
            release = getattr(analyzer, "release", None)
            if release is not None:
                release(dropped, self.catalog)

    def _run_models(self, todo: list[Prepared]) -> None:
        lock = threading.Lock()  # guards the records and shared values that the analysers' threads read and set
        waiting, done = list(self.analyzers), set[str]()
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="pixlens-analysis") as pool:
            running: dict[Future[None], str] = {}
            while waiting or running:
                for analyzer in self._ready(waiting, done, busy=bool(running)):
                    waiting.remove(analyzer)
                    running[pool.submit(self._run_one, analyzer, todo, lock)] = analyzer.name
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    done.add(running.pop(future))
                    future.result()  # a bug (not a PixlensError) stops the batch, as it would without threads
        for item in todo:
            item.inputs, item.shared = {}, {}
            if item.outcome is None:
                item.record.Status = Status.ANALYZED
                item.record.Error = None
                item.record.AnalyzedAt = utc_now()

    def _ready(self, waiting: list[Analyzer], done: set[str], busy: bool) -> list[Analyzer]:
        """The waiting analysers whose ``after`` analysers are done (or not run at all), in the given order."""
        ready = [a for a in waiting if all(n in done or n not in self.versions for n in getattr(a, "after", ()))]
        return ready or ([] if busy else waiting[:1])  # nothing ready and nothing running: a cycle, broken here

    def _run_one(self, analyzer: Analyzer, todo: list[Prepared], lock: threading.Lock) -> None:
        with lock:
            items = [item for item in todo if analyzer.name in item.inputs and not self._gated(analyzer, item)]
            inputs = [self._focused(analyzer, item) for item in items]
            for item in todo:  # its inputs go when its run ends, not with the batch's last analyser
                item.inputs.pop(analyzer.name, None)
        if not items:
            return
        started = time.perf_counter()
        try:
            fields = analyzer.analyze(inputs)
        except PixlensError as exc:
            with lock:
                for item in items:
                    self._mark_failed(item.record, f"{analyzer.name} analyser failed: {exc}")
                    item.outcome = Outcome.FAILED
            return
        if self.on_timing is not None:
            self.on_timing(analyzer.name, time.perf_counter() - started, len(items))
        with lock:
            for item, values in zip(items, fields, strict=True):
                if FAILED in values:  # this image alone failed (a service refused it): the others go on
                    self._mark_failed(item.record, f"{analyzer.name} analyser failed: {values[FAILED]}")
                    item.outcome = Outcome.FAILED
                    continue
                _apply(item.record, analyzer, values)
                item.shared.update(values.get("Shared", {}))

    @staticmethod
    def _gated(analyzer: Analyzer, item: Prepared) -> bool:
        """Whether an earlier analyser's result spares this one the image (recorded as skipped)."""
        gate = getattr(analyzer, "skip_reason", None)
        reason = gate(item.record) if gate is not None and item.outcome is None else None
        if reason is not None:
            _apply(item.record, analyzer, {"Skipped": {f"{analyzer.name}.all": reason}})
        return reason is not None

    @staticmethod
    def _focused(analyzer: Analyzer, item: Prepared) -> Any:
        """The analyser's prepared input, narrowed (or completed) by what the earlier analysers found or shared."""
        focus = getattr(analyzer, "focus", None)
        prepared = item.inputs[analyzer.name]
        return focus(item.record, prepared, item.shared) if focus is not None else prepared

    @staticmethod
    def _refresh_etag(record: ImageRecord, old: ImageRecord | None, to_put: list[ImageRecord]) -> None:
        """Content already analysed: the record read in ``prepare`` is written back with the new etag (if it
        changed), analysed again if it was marked pending."""
        if old is not None and (old.ETag != record.ETag or old.Status != Status.ANALYZED):
            old.ETag = record.ETag
            old.Status = Status.ANALYZED
            to_put.append(old)

    def process(self, jobs: Sequence[Job], batch_size: int = 8) -> list[Result]:
        """Process jobs here and now, one batch at a time (what a Lambda or a Celery task calls)."""
        results: list[Result] = []
        for start in range(0, len(jobs), batch_size):
            results.extend(self.analyze([self.prepare(job) for job in jobs[start : start + batch_size]]))
        return results


def _apply(record: ImageRecord, analyzer: Analyzer, values: dict[str, Any]) -> None:
    """Replace an analyser's fields in a record (resetting those it did not return) and its skip notes."""
    for name in analyzer.fields:
        default = ImageRecord.model_fields[name].get_default(call_default_factory=True)
        setattr(record, name, values.get(name, default))
    prefix = f"{analyzer.name}."
    skipped = {key: why for key, why in record.Skipped.items() if not key.startswith(prefix)}
    skipped.update(values.get("Skipped", {}))
    record.Skipped = skipped
    record.AnalyzerVersions = {**record.AnalyzerVersions, analyzer.name: analyzer.version}
