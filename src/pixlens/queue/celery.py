"""Celery workers on Redis or RabbitMQ: the queue of a pixlens that outgrew one process (``PIXLENS_QUEUE``).

A command that has work (ingest, reconcile, serve's watcher and uploads) sends batches of jobs to the broker and,
unless told not to wait, reports each image's result as its batch finishes. ``pixlens worker`` runs the workers:
each worker process builds its own Pixlens from the same settings (home, store, catalog) after the fork, loads
the models once, and runs each batch through the in-process pool.

Nothing is lost: the jobs are pending in the catalog before they are sent; a batch is acknowledged only when it
is done (``acks_late``), so a worker killed mid-batch gives it back to the broker (RabbitMQ at once, Redis after
``celery.visibility_timeout``); one whose run raises (the catalog unreachable) is retried with backoff, then
given up, its images still pending for the next reconcile. An image already analysed with the same content is
skipped by the pipeline, so a batch run twice changes nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from queue import Empty, Queue
from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.result import AsyncResult

from pixlens.errors import ConfigError, QueueError
from pixlens.pipeline import Job, Outcome, Pipeline, Result
from pixlens.queue.base import ResultCallback

if TYPE_CHECKING:
    from pixlens.config import Settings
    from pixlens.service import Pixlens

__all__ = ["CeleryQueue", "make_app", "open_celery_queue", "run_worker"]

log = logging.getLogger(__name__)

TASK = "pixlens.analyze"
SCHEMES = ("redis", "rediss", "amqp", "amqps")
FLUSH_AFTER = 0.05  # seconds to wait for more jobs before sending a partial batch
STOP_GRACE = 30.0  # seconds a stopped run still waits for the batches it sent (a server shutting down)
CHECKED_PER_POLL = 64  # the oldest unfinished batches looked at per poll (batches finish about in order)


def make_app(settings: Settings) -> Celery:
    """The Celery app of these settings: the broker is ``settings.queue``; results come back through Redis
    itself, or over AMQP to the sender (``rpc://``)."""
    url = settings.queue
    if url.split("://", 1)[0].lower() not in SCHEMES:
        raise ConfigError(f"Celery needs a redis:// or amqp:// queue URL, not {url!r}")
    backend = url if url.lower().startswith("redis") else "rpc://"
    options = settings.celery
    app = Celery("pixlens", broker=url, backend=backend, set_as_current=False)
    app.conf.update(
        task_default_queue=options.queue_name,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # one batch per worker process: another idle worker takes the next
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=86_400,
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(options.visibility_timeout),
        broker_heartbeat=options.heartbeat_seconds,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    app.task(name=TASK, bind=True, max_retries=options.max_retries)(_analyze_task)
    app.pixlens_settings = settings  # read by the task in the worker processes
    return app


def _transport_options(visibility_timeout: float) -> dict[str, float]:
    """Redis gives back the batch of a dead worker once it is older than the visibility timeout, when a worker's
    sweep looks (kombu sweeps every interval x throttle seconds, 100 s by default): sweep about four times per
    timeout, between every second and every 100 s, so that a short timeout is honoured too."""
    sweep = min(100.0, max(1.0, visibility_timeout / 4))
    interval = min(10.0, sweep)
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": interval,
        "unacked_restore_throttle": max(1, round(sweep / interval)),
    }


class CeleryQueue:
    """The WorkQueue of Celery workers: batches of ``batch_size`` jobs, results as batches finish."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = make_app(settings)
        self.batch_size = settings.batch_size

    def describe(self) -> str:
        return f"Celery workers on {_without_password(self.settings.queue)} (queue {self.settings.celery.queue_name})"

    def run(
        self,
        jobs: Iterable[Job],
        on_result: ResultCallback | None = None,
        stop: threading.Event | None = None,
    ) -> list[Result]:
        stop = stop or threading.Event()
        self.check()
        try:
            return self._run(jobs, on_result, stop)
        except QueueError:
            raise
        except Exception as exc:  # kombu's and the result store's errors: the broker went away mid-run
            raise QueueError(
                f"lost the queue ({self.describe()}): {exc}; the images not yet analysed stay pending "
                "(pixlens reconcile sends them again)"
            ) from exc

    def submit(self, jobs: Iterable[Job]) -> int:
        self.check()
        batch: list[Job] = []
        sent = 0
        try:
            for job in jobs:
                batch.append(job)
                if len(batch) >= self.batch_size:
                    self._send(batch)
                    sent, batch = sent + len(batch), []
            if batch:
                self._send(batch)
                sent += len(batch)
        except Exception as exc:
            raise QueueError(
                f"lost the queue ({self.describe()}) after sending {sent} images: {exc}; the rest stay pending "
                "(pixlens reconcile sends them again)"
            ) from exc
        return sent

    def check(self) -> None:
        """QueueError unless the broker answers (a few quick tries, not Celery's endless reconnecting)."""
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.5)
        except Exception as exc:
            raise QueueError(f"cannot reach the queue's broker ({self.describe()}): {exc}") from exc

    def _run(self, jobs: Iterable[Job], on_result: ResultCallback | None, stop: threading.Event) -> list[Result]:
        intake: Queue[object] = Queue()
        feeder = threading.Thread(target=_feed, args=(jobs, intake, stop), name="pixlens-enqueue", daemon=True)
        feeder.start()
        sent: deque[tuple[AsyncResult, list[Job]]] = deque()
        results: list[Result] = []
        batch: list[Job] = []
        fed = False
        looked = 0.0  # when finished batches were last looked for (once a poll: each look asks the result store)
        while not fed:
            try:
                item = intake.get(timeout=FLUSH_AFTER)
            except Empty:
                item = None
            if item is _DONE:
                fed = True
            elif isinstance(item, Job):
                batch.append(item)
            if batch and (fed or item is None or len(batch) >= self.batch_size):
                sent.append((self._send(batch), batch))
                batch = []
            if sent and time.monotonic() - looked >= self.settings.celery.poll_seconds:
                self._collect(sent, results, on_result, block=False)
                looked = time.monotonic()
        feeder.join()
        stopped_at: float | None = None
        while sent:
            if stop.is_set():  # the workers finish what was sent; wait for them a while, not for ever
                stopped_at = stopped_at or time.monotonic()
                if time.monotonic() - stopped_at > STOP_GRACE:
                    log.warning("stopped with %d batches still with the workers (they finish them)", len(sent))
                    break
            self._collect(sent, results, on_result, block=True)
        return results

    def _send(self, batch: list[Job]) -> AsyncResult:
        payload = [{"key": job.key, "etag": job.etag, "analyzers": job.analyzers, "force": job.force} for job in batch]
        return self.app.send_task(TASK, args=[payload], queue=self.settings.celery.queue_name)

    def _collect(
        self,
        sent: deque[tuple[AsyncResult, list[Job]]],
        results: list[Result],
        on_result: ResultCallback | None,
        block: bool,
    ) -> None:
        """Report the batches that finished among the oldest ones; with ``block``, wait a poll if none did."""
        finished = []
        for handle, batch in list(sent)[:CHECKED_PER_POLL]:
            if handle.ready():
                finished.append((handle, batch))
        if not finished:
            if block:
                time.sleep(self.settings.celery.poll_seconds)
            return
        for handle, batch in finished:
            sent.remove((handle, batch))
            for result in _outcomes(handle, batch):
                results.append(result)
                if on_result is not None:
                    on_result(result)
            handle.forget()


def _outcomes(handle: AsyncResult, batch: list[Job]) -> list[Result]:
    if handle.successful():
        return [Result(row["key"], Outcome(row["outcome"]), row.get("error")) for row in handle.result]
    reason = f"not analysed: the worker gave up on its batch ({handle.result!r}); still pending for reconcile"
    return [Result(job.key, Outcome.FAILED, reason) for job in batch]


_DONE = object()


def _feed(jobs: Iterable[Job], intake: Queue[object], stop: threading.Event) -> None:
    try:
        for job in jobs:
            if stop.is_set():
                break
            intake.put(job)
    except Exception:
        log.exception("the job source failed; sending the jobs already taken")
    finally:
        intake.put(_DONE)


# -- the worker side ------------------------------------------------------------------------------------------
_lens: Pixlens | None = None
_lens_pid = 0
_lens_lock = threading.Lock()


def _worker_lens(settings: Settings) -> Pixlens:
    """This worker process's Pixlens, made on its first batch (after the fork: no connection crosses it)."""
    global _lens, _lens_pid
    with _lens_lock:
        if _lens is None or _lens_pid != os.getpid():
            from pixlens.service import Pixlens

            _lens, _lens_pid = Pixlens(settings), os.getpid()
        return _lens


def _analyze_task(task: Any, payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    settings: Settings = task.app.pixlens_settings
    jobs = [
        Job(row["key"], row.get("etag"), tuple(row["analyzers"]) if row.get("analyzers") else None, bool(row["force"]))
        for row in payload
    ]
    try:
        from pixlens.queue.local import open_local_queue

        lens = _worker_lens(settings)
        results = open_local_queue("local://", lens.pipeline, lens.settings).run(jobs)
    except Exception as exc:
        attempt = task.request.retries
        delay = min(settings.celery.retry_backoff_max, 2.0**attempt)
        log.warning("batch of %d failed (attempt %d): %s; retrying in %.0f s", len(jobs), attempt + 1, exc, delay)
        raise task.retry(exc=exc, countdown=delay) from exc
    return [{"key": r.key, "outcome": r.outcome.value, "error": r.error} for r in results]


def run_worker(settings: Settings, loglevel: str = "INFO") -> None:
    """Run Celery worker processes for these settings until stopped (SIGTERM: finish the batch in hand)."""
    concurrency = settings.celery.concurrency
    if concurrency > 1 and settings.model_threads == 0:  # N processes on N cores: one model thread each
        settings = settings.model_copy(update={"model_threads": max(1, settings.cpu_count() // concurrency)})
    if concurrency > 1 and settings.workers == 0:
        settings = settings.model_copy(update={"workers": max(1, settings.cpu_count() // concurrency)})
    app = make_app(settings)
    worker = app.Worker(
        concurrency=concurrency,
        pool="prefork" if concurrency > 1 else "solo",
        loglevel=loglevel,
        hostname=f"pixlens-{os.getpid()}@{socket.gethostname()}",
        queues=[settings.celery.queue_name],
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
    )
    worker.start()
    if worker.exitcode:
        raise SystemExit(worker.exitcode)


def open_celery_queue(url: str, pipeline: Pipeline, settings: Settings) -> CeleryQueue:
    """The registry's factory: the pipeline stays unused here (the workers run their own)."""
    return CeleryQueue(settings)


def _without_password(url: str) -> str:
    head, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{head}{sep}{user}:***@{host}" if user else f"{head}{sep}***@{host}"
