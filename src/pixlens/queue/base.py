"""The WorkQueue port: how analysis jobs reach the workers that run the pipeline on them.

The embedded default runs them in this process (``local://``, :mod:`pixlens.queue.local`). Whatever the queue, the
catalog is the durable ledger: a job is marked pending there before it is queued, so that a crash, a lost message
or a killed worker loses nothing (reconcile finds the pending record and queues it again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from pixlens.pipeline import Job, Result

ResultCallback = Callable[[Result], None]


class WorkQueue(Protocol):
    def run(
        self,
        jobs: Iterable[Job],
        on_result: ResultCallback | None = None,
        stop: threading.Event | None = None,
    ) -> list[Result]:
        """Have every job analysed and return the results; ``on_result`` is called in the calling thread as each
        image's result is written (progress bars, webhooks). ``jobs`` may block (a watcher's feed); ``stop`` ends
        the intake, and the jobs already taken are finished."""

    def submit(self, jobs: Iterable[Job]) -> int:
        """Queue the jobs for workers elsewhere and return at once, with how many were queued (``--no-wait``);
        ConfigError from a queue whose work runs in the calling process."""

    def describe(self) -> str:
        """Where the work runs, for people (``stats``, logs)."""
