"""What runs behind the HTTP API: the library (one :class:`~pixlens.service.Pixlens`), the analysis workers fed
by uploads and by the folder watcher, and the numbers the status page and the metrics show."""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from queue import Queue

from pixlens.api.answers import AnswerCache
from pixlens.api.metrics import Metrics
from pixlens.pipeline import Job, Outcome, Result
from pixlens.record import Status
from pixlens.service import Pixlens
from pixlens.store.names import printable

log = logging.getLogger(__name__)

THROUGHPUT_WINDOW = 60.0  # seconds over which throughput is measured
DEPTH_EVERY = 1.0  # seconds a counted queue depth is reused
RESTART_AFTER = 2.0  # seconds before the workers start again after a failure (doubling up to the max)
RESTART_AFTER_MAX = 60.0
ANALYSIS_NICENESS = 10  # added to the analysis threads' niceness (0 is a request thread's)
MATCH_EVERY = 2.0  # seconds between looks for images waiting to be matched (also woken by each analysis)


class Runtime:
    """Starts the workers (and the watcher) in background threads; ``ready`` once the models are loaded."""

    def __init__(self, lens: Pixlens, watch: bool = True) -> None:
        self.lens = lens
        self.watch = watch
        lens.store, lens.catalog, lens.taxonomy  # noqa: B018 (built here, before any request thread may race to)
        self.intake: Queue[Job] = Queue()
        self.stop_event = threading.Event()
        self.metrics = Metrics(self.queue_depth)
        api = lens.settings.api
        self.answers = AnswerCache(lens.catalog.generation, api.search_cache_answers, api.search_cache_mb << 20)
        self.finished: collections.deque[float] = collections.deque()
        self.error: str | None = None  # why the workers stopped, when they did
        # Called in a thread of their own after images were analysed (and every few seconds): the saved-search
        # matching, which reads the images waiting for it in the catalog. It never holds up the workers.
        self.on_analyzed: list[Callable[[], object]] = []
        self._analyzed = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._matcher: threading.Thread | None = None
        self._helpers: list[threading.Thread] = []
        self._depth: tuple[float, int] = (0.0, 0)
        self._lock = threading.Lock()

    # -- life ----
    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="pixlens-workers", daemon=True)
        self._thread.start()
        self._matcher = threading.Thread(target=self._tell_analyzed, name="pixlens-matching", daemon=True)
        self._matcher.start()
        for helper in self._helpers:
            helper.start()

    def also_run(self, name: str, target: Callable[[threading.Event], object]) -> None:
        """Run ``target(stop_event)`` in a thread of its own from ``start`` until ``stop`` (the webhook sender)."""
        self._helpers.append(threading.Thread(target=target, args=(self.stop_event,), name=name, daemon=True))

    def _tell_analyzed(self) -> None:
        while not self.stop_event.is_set():
            self._analyzed.wait(MATCH_EVERY)
            self._analyzed.clear()
            for callback in self.on_analyzed:
                try:
                    callback()
                except Exception:
                    log.exception("matching the analysed images failed (they wait in the catalog: tried again)")

    def _work(self) -> None:
        _yield_to_requests()
        try:
            self.lens.catalog.stats()  # opened (and migrated) before the first request needs it
            self.lens.pipeline.on_timing = self.metrics.timing  # loads the models
        except Exception as exc:
            self.error = f"cannot start: {type(exc).__name__}: {exc}"
            log.exception("the analysis workers cannot start")
            return
        self._ready.set()
        delay = RESTART_AFTER
        while not self.stop_event.is_set():
            try:
                self.lens.work(self.stop_event, self.intake, self._done, watch=self.watch)
                reason = "the job source stopped"
            except Exception as exc:  # the store gone, the catalog failing: said, then tried again
                reason = f"{type(exc).__name__}: {exc}"
            if self.stop_event.is_set():
                break
            self.error = f"analysis stopped ({reason}); starting again in {delay:.0f} s"
            log.error("%s", self.error)
            self.stop_event.wait(delay)
            delay = min(2 * delay, RESTART_AFTER_MAX)
        self._ready.clear()

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        for thread in (self._thread, self._matcher, *self._helpers):
            if thread is not None:
                thread.join(timeout)
        self.lens.close()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    # -- work ----
    def submit(self, job: Job) -> None:
        """Queue a job (its image is already marked pending in the catalog: a crash before it runs loses nothing)."""
        self.intake.put(job)

    def _done(self, result: Result) -> None:
        now = time.monotonic()
        self.error = None  # working (again)
        if result.outcome is Outcome.ANALYZED:
            self.metrics.analyzed.inc()
            with self._lock:
                self.finished.append(now)
                self._forget_older_than(now - THROUGHPUT_WINDOW)
            self._analyzed.set()
            log.info("analysed %s", printable(result.key))
        elif result.outcome is Outcome.FAILED:
            self.metrics.failure(result.error)
            log.warning("failed %s: %s", printable(result.key), result.error)
        elif result.outcome is Outcome.UNCHANGED:
            self.metrics.unchanged.inc()

    # -- numbers ----
    def queue_depth(self) -> int:
        """Images pending in the catalog (the durable queue), counted at most once a second."""
        now = time.monotonic()
        with self._lock:
            if now - self._depth[0] < DEPTH_EVERY:
                return self._depth[1]
        try:
            depth = self.lens.catalog.status_counts()[Status.PENDING.value]
        except Exception:
            return self._depth[1]
        with self._lock:
            self._depth = (now, depth)
        return depth

    def throughput(self) -> float:
        """Images analysed per second over the last minute."""
        with self._lock:
            self._forget_older_than(time.monotonic() - THROUGHPUT_WINDOW)
            return len(self.finished) / THROUGHPUT_WINDOW

    def _forget_older_than(self, moment: float) -> None:
        """Keeps ``finished`` to the window (also when nobody asks for the throughput)."""
        while self.finished and self.finished[0] < moment:
            self.finished.popleft()


def _yield_to_requests() -> None:
    """Lower this thread's priority, and so that of the threads it starts (decoding, the model runtimes' pools,
    made when the models load here): requests go first, analysis takes the rest of the CPU. Linux sets it per
    thread; elsewhere it stays as it is."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ANALYSIS_NICENESS)
    except (AttributeError, OSError):
        log.debug("cannot lower the analysis threads' priority here")
