"""The library API that the CLI (and later the HTTP API) are thin shells over.

lens = Pixlens(load_settings())          # the home found as pixlens.home says; its store and catalog
lens.ingest(["~/Photos"])             # copy in (or analyse in place), analyse, catalogue
lens.search("dog AND NOT cat").hits   # ranked hits
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from queue import Empty, Queue
from typing import BinaryIO

from pixlens.allocator import limit_arenas
from pixlens.analysis.base import create_analyzers
from pixlens.analysis.taxonomy import Taxonomy
from pixlens.analysis.thumbnail import ThumbnailPlace, thumbnail_place
from pixlens.catalog import open_catalog
from pixlens.catalog.base import Catalog, DuplicateSet, PersonRow
from pixlens.config import Settings
from pixlens.errors import ConfigError, DecodeError, PixlensError, TooLargeError
from pixlens.events.bucket import BucketEvents, bucket_of
from pixlens.events.reconcile import ReconcilePlan, plan_reconcile
from pixlens.home import bind
from pixlens.imageio import DecodeLimits, declared_pixels, sniff_content_type
from pixlens.lexicon import Lexicon
from pixlens.pipeline import Job, Outcome, Pipeline, Result
from pixlens.queue import open_queue
from pixlens.queue.base import WorkQueue
from pixlens.record import ImageRecord, Status
from pixlens.search import FACET_LABELS, FACET_PEOPLE, Facets, Searcher, SearchResult
from pixlens.store import is_folder, open_store
from pixlens.store.base import ObjectStore
from pixlens.store.collect import Collected, collect, place
from pixlens.store.local import SNIFF_BYTES
from pixlens.work import needs_work

log = logging.getLogger(__name__)

ResultCallback = Callable[[Result], None]
FREQUENT_LABELS_FOR = 5.0  # seconds the most frequent labels (the facets' candidates, not their counts) are reused


@dataclass
class IngestReport:
    collected: Collected
    results: list[Result] = field(default_factory=list)
    skipped_unchanged: int = 0  # already catalogued with the same content and models: not even read
    queued: int = 0  # left in the shared queue for the workers (``wait=False``): their results come later


@dataclass(frozen=True)
class Added:
    """An image brought in from a stream: its key (perhaps renamed), its catalog status, the job it needs."""

    key: str
    status: Status
    job: Job | None
    copied: bool  # False: the store already held these bytes under that key


def _sha256_of(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    _rewound(stream)
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _rewound(stream: BinaryIO) -> BinaryIO:
    stream.seek(0)
    return stream


class ReconcileRefusedError(PixlensError):
    """Reconcile would forget more of the catalog at once than the settings allow."""


class DeletionGuard:
    """While watching: images forgotten one event at a time add up, and stop being forgotten beyond
    ``reconcile_max_delete`` of the catalog (a store being emptied or unmounted file by file); they stay catalogued
    until a ``reconcile --yes``. Each reconcile starts the count again."""

    def __init__(self, share: float) -> None:
        self.share = share
        self.catalogued = 0
        self.forgotten = 0
        self.refused = False
        self._lock = threading.Lock()

    def restart(self, catalogued: int) -> None:
        with self._lock:
            self.catalogued, self.forgotten = catalogued, 0

    def arrived(self) -> None:
        """An image was analysed meanwhile (perhaps a new one: counting re-analyses too errs on the lenient side)."""
        with self._lock:
            self.catalogued += 1

    def allows(self, count: int) -> bool:
        with self._lock:
            total = self.forgotten + count
            if total > 1 and total > self.share * self.catalogued:
                if not self.refused:
                    log.error(
                        "not forgetting more images: %d of the %d catalogued were deleted from the store since "
                        "watching began (or the last reconcile), more than reconcile_max_delete = %g. Is the store "
                        "being emptied or unmounted? They stay catalogued; if they really were deleted, run "
                        "pixlens reconcile --yes",
                        total,
                        self.catalogued,
                        self.share,
                    )
                    self.refused = True
                return False
            self.forgotten = total
            return True


class Pixlens:
    def __init__(self, settings: Settings, move_store: bool = False, move_catalog: bool = False) -> None:
        self.settings = bind(settings, move_store, move_catalog)
        self._searcher: tuple[list[str], Searcher] | None = None
        self._lexicon: Lexicon | None = None  # one per service: it keeps what the sentence model said
        self._frequent_labels: tuple[Hashable | None, float, list[str]] | None = None  # generation, time, labels

    # -- parts (built on first use: a search never loads the models) --------------------------------------------
    @cached_property
    def thumbnails(self) -> ThumbnailPlace:
        """Where the thumbnails are kept (thumbnails.location)."""
        return thumbnail_place(self.settings)

    @cached_property
    def store(self) -> ObjectStore:
        return open_store(self.settings)

    @cached_property
    def catalog(self) -> Catalog:
        return open_catalog(self.settings.catalog_url, self.settings.faces.cluster_similarity, home=self.settings.home)

    @cached_property
    def taxonomy(self) -> Taxonomy:
        return Taxonomy.load()

    @cached_property
    def pipeline(self) -> Pipeline:
        decode = self.settings.decode
        limits = DecodeLimits(decode.max_bytes, decode.max_pixels, decode.min_side, decode.work_size)
        limit_arenas(self.settings.malloc_arenas)  # before the pipeline's threads allocate
        analyzers = create_analyzers(self.settings)
        return Pipeline(self.store, self.catalog, analyzers, limits, self.settings.parallel_analyzers)

    @property
    def versions(self) -> dict[str, str]:
        return self.pipeline.versions

    def close(self) -> None:
        if "catalog" in self.__dict__:
            self.catalog.close()

    # -- work ----
    def queue(self) -> WorkQueue:
        return open_queue(self.settings, self.pipeline)

    def ingest(
        self,
        paths: Sequence[Path],
        on_collected: Callable[[int], None] | None = None,
        on_result: ResultCallback | None = None,
        wait: bool = True,
    ) -> IngestReport:
        """Bring files into the store (files already inside stay in place), then analyse what needs it (or, without
        ``wait``, leave it in the shared queue for the workers)."""
        if not wait:
            self.enqueue([])  # a queue that cannot take work (local://, a broker down) refuses before any copy
        collected = collect(self.store, paths)
        if on_collected is not None:
            on_collected(len(collected.objects))
        keys: dict[str, str | None] = {info.key: info.etag for info in collected.objects}
        todo = self._outstanding(keys)
        report = IngestReport(collected, skipped_unchanged=len(keys) - len(todo))
        if wait:
            report.results = self.run(todo, on_result)
        else:
            report.queued = self.enqueue(todo)
        return report

    def _outstanding(self, keys: dict[str, str | None]) -> list[Job]:
        """Jobs for the named keys that need work (``pixlens.work``; failed ones were asked again: try again),
        recorded as pending first where the decision says so: one read and at most one write for them all."""
        known = {state.key: state for state in self.catalog.states(keys)}
        needs = {key: needs_work(known.get(key), etag, self.versions, retry_failed=True) for key, etag in keys.items()}
        to_mark = [(key, keys[key]) for key, need in needs.items() if need is not None and need.marks_pending]
        if to_mark:
            self.catalog.mark_pending(to_mark)
        return [Job(key, keys[key], need.analyzers) for key, need in needs.items() if need is not None]

    def add(self, key: str, stream: BinaryIO, rename: bool = True) -> Added:
        """Bring an image from a stream (an upload) into the store under ``key`` and mark it pending; the job
        it needs (None when these bytes are catalogued already) is for the caller to run or queue.

        The content decides, never the name: DecodeError when the bytes are not an image pixlens reads. A ``key``
        holding other bytes gets ``name (2).ext`` (or ObjectExistsError without ``rename``); the same bytes under
        it are not stored twice."""
        content_type = sniff_content_type(stream.read(SNIFF_BYTES))
        if content_type is None:
            raise DecodeError("not an image pixlens can read (by its content: JPEG, PNG, WebP, GIF, BMP, TIFF, HEIF)")
        pixels = declared_pixels(_rewound(stream), content_type)
        limit = self.settings.decode.max_pixels
        if pixels is not None and pixels > limit:
            raise TooLargeError(f"{pixels / 1e6:,.1f} megapixels, more than the {limit / 1e6:,.1f} allowed")
        placed = place(
            self.store,
            key,
            lambda: _sha256_of(stream),
            lambda candidate: self.store.put_stream(candidate, _rewound(stream), overwrite=False),
            rename,
        )
        info = placed.info
        if self.catalog.mark_pending([(info.key, info.etag)]):
            return Added(info.key, Status.PENDING, Job(info.key, info.etag), placed.copied)
        state = next(self.catalog.states([info.key]), None)
        need = needs_work(state, info.etag)  # pending: perhaps left by a crash
        status = state.status if state is not None else Status.PENDING
        return Added(info.key, status, Job(info.key, info.etag) if need else None, placed.copied)

    def ingest_bytes(self, key: str, data: bytes) -> tuple[Added, list[Result]]:
        """Add an image from memory and analyse it now (the library's one-call upload)."""
        added = self.add(key, io.BytesIO(data))
        return added, self.run([added.job] if added.job else [])

    def delete(self, key: str) -> bool:
        """Remove a catalogued image: its file from the store, then its record, vectors, faces and thumbnail.
        False (nothing touched) when the catalog has no such image: other files of the store are not pixlens's."""
        if self.catalog.get(key) is None:
            return False
        self.store.delete(key)
        self.pipeline.forget([key])
        return True

    def reanalyze(self, key: str) -> Job | None:
        """Mark an image pending again with every analyser to run (failed ones too); its job, or None when the
        store has no such image."""
        info = self.store.stat(key)
        if info is None:
            return None
        self.catalog.mark_pending([(key, info.etag)], force=True)
        return Job(key, info.etag, force=True)

    def run(self, jobs: Iterable[Job], on_result: ResultCallback | None = None) -> list[Result]:
        return self.queue().run(jobs, on_result)

    def enqueue(self, jobs: Iterable[Job]) -> int:
        """Leave the jobs in the shared queue for the workers and return how many (ConfigError on local://)."""
        return self.queue().submit(jobs)

    def failed_jobs(self, keys: Iterable[str] | None = None) -> list[Job]:
        """Jobs that try the failed images again (all of them, or those of ``keys`` that failed), every analyser
        anew; each is marked pending first, so that a crash loses none of them."""
        failed = [state for state in self.catalog.states(keys) if state.status is Status.FAILED]
        self.catalog.mark_pending([(state.key, state.etag) for state in failed], force=True)
        return [Job(state.key, state.etag, force=True) for state in failed]

    def plan_reconcile(self, retry_failed: bool = False) -> ReconcilePlan:
        return plan_reconcile(self.store, self.catalog, self.versions, retry_failed)

    def reconcile(self, retry_failed: bool = False, on_result: ResultCallback | None = None) -> ReconcilePlan:
        """Catalogue what the store has and the catalog lacks (or has stale); drop what the store lost."""
        plan = self.apply_reconcile(self.plan_reconcile(retry_failed))
        plan.results = self.run(plan.jobs(), on_result)
        return plan

    def apply_reconcile(self, plan: ReconcilePlan, confirmed: bool = False) -> ReconcilePlan:
        """Carry out a plan: forget deleted images, mark the jobs pending. ReconcileRefusedError, with nothing changed,
        when the plan would forget more than ``reconcile_max_delete`` of the catalog and is not ``confirmed``."""
        refusal = None if confirmed else self.deletion_refusal(plan)
        if refusal is not None:
            raise ReconcileRefusedError(refusal)
        if plan.deleted:
            self.pipeline.forget(plan.deleted)  # with the thumbnails (and other files) analysers kept for them
        if jobs := plan.jobs():
            self.catalog.mark_pending(((job.key, job.etag) for job in jobs), force=True)
        return plan

    def _reconcile_while_watching(self, guard: DeletionGuard) -> ReconcilePlan:
        """A watcher's reconcile: a refused mass deletion is logged and left out, the rest still done."""
        plan = self.plan_reconcile()
        try:
            self.apply_reconcile(plan)
        except ReconcileRefusedError as exc:
            log.error("%s", exc)
            plan.deleted = []
            self.apply_reconcile(plan, confirmed=True)
        guard.restart(plan.catalogued - len(plan.deleted))
        return plan

    def deletion_refusal(self, plan: ReconcilePlan) -> str | None:
        """Why the plan's deletions need confirming (more than ``reconcile_max_delete`` of the catalog), or None."""
        deleted, catalogued = len(plan.deleted), plan.catalogued
        share = self.settings.reconcile_max_delete
        if deleted <= 1 or deleted <= share * catalogued:
            return None
        return (
            f"reconcile would forget {deleted} of the {catalogued} catalogued images: their files are gone from "
            f"{self.store.describe()}. Is the store unmounted, or the wrong folder? Nothing was changed; "
            f"if they really were deleted, run again with --yes (limit: reconcile_max_delete = {share:g})."
        )

    # -- questions ----
    def searcher(self) -> Searcher:
        """A searcher over the catalog's labels as they are now (reused while they are the same)."""
        names = self.catalog.label_names()
        kept = self._searcher
        if kept is not None and kept[0] is names:
            return kept[1]
        moderation = self.settings.moderation
        if self._lexicon is None:
            self._lexicon = Lexicon.with_meanings()
        searcher = Searcher(
            self.catalog,
            self.taxonomy,
            names,
            people=self.catalog.person_ids,
            unsafe_from=moderation.min_confidence,
            hide_unsafe=moderation.hide_unsafe,
            lexicon=self._lexicon,
        )
        self._searcher = (names, searcher)
        return searcher

    def search(self, query: str, limit: int = 20, offset: int = 0, cursor: str | None = None) -> SearchResult:
        return self.searcher().search(query, limit=limit, offset=offset, cursor=cursor)

    def facets(self, query: str) -> Facets:
        """Counts of labels, categories, colours, text, faces and people over every hit of a query."""
        return self.searcher().facets(query, self._frequent_labels_now(), self.catalog.top_people(FACET_PEOPLE))

    def _frequent_labels_now(self) -> list[str]:
        """The most frequent labels (the facets' candidates, not their counts): read again after any write where
        the catalog tells (answers are kept until then: pixlens.api.answers), else every few seconds."""
        generation, now = self.catalog.generation(), time.monotonic()
        kept = self._frequent_labels
        if kept is not None and (
            kept[0] == generation if generation is not None else now - kept[1] <= FREQUENT_LABELS_FOR
        ):
            return kept[2]
        labels = [name for name, _ in self.catalog.labels()[:FACET_LABELS]]
        self._frequent_labels = (generation, now, labels)
        return labels

    def show(self, key: str) -> ImageRecord | None:
        """An image's record; each face of a named person carries the name as it is now (``PersonName``)."""
        record = self.catalog.get(key)
        if record is not None and any("PersonId" in face for face in record.FaceDetails):
            names = self.catalog.person_names(face["PersonId"] for face in record.FaceDetails if "PersonId" in face)
            for face in record.FaceDetails:
                name = names.get(face.get("PersonId", -1))
                if name is not None:
                    face["PersonName"] = name
        return record

    def similar(self, key: str, k: int = 10) -> list[tuple[str, float]]:
        return self.catalog.similar(key, k)

    def duplicates(self) -> list[DuplicateSet]:
        return self.catalog.duplicates()

    def people(self) -> list[PersonRow]:
        return self.catalog.people()

    def name_person(self, person_id: int, name: str | None) -> bool:
        """Name a person; the name is kept in Unicode's composed form (NFC), as ``person:`` queries look it up."""
        return self.catalog.name_person(person_id, unicodedata.normalize("NFC", name) if name else None)

    def labels(self) -> list[tuple[str, int]]:
        return self.catalog.labels()

    def check(self) -> list[str]:
        """A full check of the catalog (SQLite's integrity check, then its own rules); the problems found."""
        return self.catalog.check()

    def stats(self) -> dict[str, object]:
        return {
            "home": str(self.settings.home),
            "store": self.store.describe(),
            "queue": self.queue().describe(),
            **self.catalog.stats(),
        }

    def watch(
        self,
        stop: threading.Event,
        on_result: ResultCallback | None = None,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        """Reconcile, then analyse every image that arrives or changes until ``stop`` is set."""
        self.work(stop, Queue(), on_result, on_event)

    def work(
        self,
        stop: threading.Event,
        intake: Queue[Job],
        on_result: ResultCallback | None = None,
        on_event: Callable[[str, str], None] | None = None,
        watch: bool = True,
    ) -> None:
        """Analyse the jobs put in ``intake`` (uploads, re-analyses, bucket events) and, with ``watch``, reconcile and
        then follow the store's changes (a folder's events; a bucket's listing, every ``reconcile_interval``), until
        ``stop`` is set. What is queued but not done stays pending in the catalog."""
        from pixlens.events.watcher import FolderWatcher

        guard = DeletionGuard(self.settings.reconcile_max_delete)

        def reported(result: Result) -> None:
            # A file deleted while its job waited leaves the catalog through the job (VANISHED), not through the
            # watcher's deletion event (which then finds nothing left to delete): report it either way.
            if result.outcome is Outcome.VANISHED and on_event is not None:
                on_event("deleted", result.key)
            if result.outcome is Outcome.ANALYZED:
                guard.arrived()
            if on_result is not None:
                on_result(result)

        if not watch:  # still, what a crash or a stop left pending is done first
            for state in self.catalog.states():
                if needs_work(state, state.etag):  # with the etag it has: only pending ones
                    intake.put(Job(state.key, state.etag))
            self.queue().run(_drain(intake, stop), reported, stop)
            return
        if not is_folder(self.store):  # a bucket: no file-system events; reconcile on a schedule, and take events
            poll_failures: list[Exception] = []
            poller = threading.Thread(
                target=self._poll,
                args=(stop, intake, guard, on_event, poll_failures),
                name="pixlens-reconcile",
                daemon=True,
            )
            poller.start()
            self.queue().run(_drain(intake, stop, poller), reported, stop)
            if poll_failures:
                raise poll_failures[0]
            return
        watcher = FolderWatcher(
            self.store,
            self.catalog,
            settle_seconds=self.settings.watch_settle_seconds,
            on_event=on_event,
            reconcile=lambda: self._reconcile_while_watching(guard).jobs(),
            forget=self.pipeline.forget,
            may_forget=guard.allows,
            reconcile_interval=self.settings.reconcile_interval,
        )
        watcher.start()  # before the reconcile, so that nothing arriving meanwhile is missed
        try:
            for job in self._reconcile_while_watching(guard).jobs():
                intake.put(job)
            failures: list[Exception] = []
            feeder = threading.Thread(
                target=_pour, args=(watcher.jobs(stop), intake, failures), name="pixlens-watch", daemon=True
            )
            feeder.start()
            self.queue().run(_drain(intake, stop, feeder), reported, stop)
        finally:
            watcher.stop()
        if watcher.failure is not None:
            raise watcher.failure
        if failures:
            raise failures[0]

    def _poll(
        self,
        stop: threading.Event,
        intake: Queue[Job],
        guard: DeletionGuard,
        on_event: Callable[[str, str], None] | None,
        failures: list[Exception],
    ) -> None:
        """Reconcile a store that cannot be watched now and every ``reconcile_interval`` seconds (0: only now),
        putting the jobs in ``intake``: what a lost bucket event left out is caught up. A round that fails (the
        server away) is logged and tried again at the next; anything else ends the loop (kept in ``failures``)."""
        interval = self.settings.reconcile_interval
        first = True
        try:
            while True:
                try:
                    plan = self._reconcile_while_watching(guard)
                except PixlensError as exc:
                    log.error("reconciling %s failed (tried again in %g s): %s", self.store.describe(), interval, exc)
                else:
                    # Pending images are queued already (by an event, an upload, or the first round): once is enough.
                    jobs = plan.jobs() if first else [*plan.new, *plan.changed, *plan.outdated, *plan.retried]
                    first = False
                    summary = ", ".join(f"{name} {count}" for name, count in plan.summary().items())
                    log.info("reconciled %s: %s", self.store.describe(), summary)
                    if on_event is not None:
                        on_event("reconciled", summary)
                        for key in plan.deleted:
                            on_event("deleted", key)
                        for job in jobs:
                            on_event("queued", job.key)
                    for job in jobs:
                        intake.put(job)
                if stop.wait(interval if interval > 0 else None):
                    return
        except Exception as exc:
            failures.append(exc)

    def bucket_events(self, may_forget: Callable[[int], bool] | None = None) -> BucketEvents:
        """What applies bucket event notifications to this catalog; ConfigError when the store is a folder."""
        where = bucket_of(self.store)
        if where is None:
            raise ConfigError(
                f"bucket events need a bucket store (s3://bucket/prefix); {self.store.describe()} is a folder "
                "(pixlens watch follows it)"
            )
        return BucketEvents(
            self.store, self.catalog, *where, forget=lambda keys: self.pipeline.forget(keys), may_forget=may_forget
        )


def _pour(jobs: Iterable[Job], intake: Queue[Job], failures: list[Exception]) -> None:
    """Put the watcher's jobs in ``intake``; what stops it (the catalog failing) is kept for ``work`` to raise."""
    try:
        for job in jobs:
            intake.put(job)
    except Exception as exc:
        failures.append(exc)


def _drain(intake: Queue[Job], stop: threading.Event, source: threading.Thread | None = None) -> Iterator[Job]:
    """The jobs put in ``intake`` until ``stop`` is set, or the ``source`` thread filling it ended (the watcher
    stopped) and it is empty. Jobs left in it are pending in the catalog: the next start finds them."""
    while not stop.is_set() and (source is None or source.is_alive() or not intake.empty()):
        try:
            yield intake.get(timeout=0.1)
        except Empty:
            continue
