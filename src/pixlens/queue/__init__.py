"""Work queues, picked by URL from the registry ``QUEUES``: ``local://`` is the in-process worker pool;
``redis://`` and ``amqp://`` are Celery workers (``pixlens worker``) on that broker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixlens.parts import Registry
from pixlens.queue.base import WorkQueue

if TYPE_CHECKING:
    from pixlens.config import Settings
    from pixlens.pipeline import Pipeline

QUEUES: Registry[WorkQueue] = Registry("queue")
QUEUES.register("local", "pixlens.queue.local:open_local_queue")
QUEUES.register(("redis", "rediss", "amqp", "amqps"), "pixlens.queue.celery:open_celery_queue", extra="celery")


def open_queue(settings: Settings, pipeline: Pipeline) -> WorkQueue:
    return QUEUES.create(settings.queue, pipeline, settings)
