"""The in-process worker pool: decode threads feed analysis lanes that work on batches.

Jobs come from any iterable, which may block (the watcher's queue): a feeder thread submits them to the
decode threads, at most ``window`` in flight so that memory stays bounded. The calling thread gathers prepared
images into batches of ``batch_size`` (a smaller batch rather than wait when nothing else is ready) and hands
each to one of ``lanes`` analysis threads; results are reported in the calling thread as batches finish.
The catalog is the durable ledger: jobs are marked pending there before they run, so a crash loses nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from pixlens.errors import ConfigError
from pixlens.pipeline import Job, Outcome, Pipeline, Prepared, Result

if TYPE_CHECKING:
    from pixlens.config import Settings

log = logging.getLogger(__name__)

_DONE = object()
FLUSH_AFTER = 0.05  # seconds to wait for more images before running a partial batch


class LocalQueue:
    def __init__(self, pipeline: Pipeline, workers: int, batch_size: int, lanes: int = 1) -> None:
        self.pipeline = pipeline
        self.workers = max(1, workers)
        self.batch_size = max(1, batch_size)
        self.lanes = max(1, lanes)
        self.window = self.batch_size * (1 + self.lanes) + self.workers

    def submit(self, jobs: Iterable[Job]) -> int:
        raise ConfigError(
            "the local:// queue analyses in this process: there is no queue to leave work in "
            "(--no-wait needs PIXLENS_QUEUE=redis://... or amqp://... and `pixlens worker`)"
        )

    def describe(self) -> str:
        return f"this process: {self.workers} decode threads, {self.lanes} analysis lanes, batches of {self.batch_size}"

    def run(
        self,
        jobs: Iterable[Job],
        on_result: Callable[[Result], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[Result]:
        """Process every job; ``on_result`` is called in this thread after each image is written."""
        stop = stop or threading.Event()
        ready: queue.Queue[object] = queue.Queue()
        slots = threading.Semaphore(self.window)
        results: list[Result] = []
        running: set[Future[list[Result]]] = set()

        def report(finished: Iterable[Future[list[Result]]]) -> None:
            for future in finished:
                running.discard(future)
                for result in future.result():
                    results.append(result)
                    slots.release()
                    if on_result is not None:
                        on_result(result)

        with (
            ThreadPoolExecutor(self.workers, thread_name_prefix="pixlens-decode") as pool,
            ThreadPoolExecutor(self.lanes, thread_name_prefix="pixlens-lane") as lanes,
        ):
            feeder = threading.Thread(
                target=self._feed, args=(jobs, pool, ready, slots, stop), name="pixlens-feed", daemon=True
            )
            feeder.start()
            batch: list[Prepared] = []
            finished = False
            while not finished:
                try:
                    # Never block for good while a lane is busy: its results free the slots the feeder waits for.
                    item = ready.get(timeout=FLUSH_AFTER if batch or running else None)
                except queue.Empty:
                    item = None
                if item is _DONE:
                    finished = True
                elif isinstance(item, Prepared):
                    batch.append(item)
                if batch and (finished or item is None or len(batch) >= self.batch_size):
                    while len(running) >= self.lanes:
                        report(wait(running, return_when=FIRST_COMPLETED).done)
                    running.add(lanes.submit(self._finish, batch))
                    batch = []
                report([future for future in running if future.done()])
            while running:
                report(wait(running, return_when=FIRST_COMPLETED).done)
            feeder.join()
        return results

    def _finish(self, batch: list[Prepared]) -> list[Result]:
        try:
            return self.pipeline.analyze(batch)
        except Exception as exc:  # the catalog write failed: these stay pending in the ledger for a rerun
            log.exception("could not finish a batch of %d images", len(batch))
            return [Result(item.job.key, Outcome.FAILED, f"not saved: {exc}") for item in batch]

    def _feed(
        self,
        jobs: Iterable[Job],
        pool: ThreadPoolExecutor,
        ready: queue.Queue[object],
        slots: threading.Semaphore,
        stop: threading.Event,
    ) -> None:
        in_flight = [0]
        idle = threading.Condition()

        def prepare(job: Job) -> None:
            try:
                try:
                    prepared = self.pipeline.prepare(job)
                except Exception as exc:  # prepare records failures itself; a job must end with an outcome anyway
                    log.exception("could not prepare %r", job.key)
                    prepared = self.pipeline.unprepared(job, f"unexpected error: {type(exc).__name__}: {exc}")
                ready.put(prepared)  # every job puts one item, and its result gives its slot back
            finally:
                with idle:
                    in_flight[0] -= 1
                    idle.notify_all()

        try:
            for job in jobs:
                if stop.is_set():
                    break
                slots.acquire()
                with idle:
                    in_flight[0] += 1
                pool.submit(prepare, job)
        except Exception:
            log.exception("the job source failed; finishing the jobs already started")
        finally:
            with idle:
                idle.wait_for(lambda: in_flight[0] == 0)
            ready.put(_DONE)


def open_local_queue(url: str, pipeline: Pipeline, settings: Settings) -> LocalQueue:
    """The in-process pool of a ``local://`` URL (the registry's factory), sized by the settings."""
    workers = settings.workers or settings.cpu_count()
    return LocalQueue(pipeline, workers, settings.batch_size, settings.analysis_lanes)
