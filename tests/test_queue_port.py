"""The WorkQueue port's conformance suite: the same behaviour from every queue adapter: the in-process pool, and
Celery workers (real `pixlens worker` processes) on the Redis and RabbitMQ that run on 127.0.0.1.

Real images and the cheap analysers (properties, thumbnail), so that each adapter is checked in seconds."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from celery_workers import BROKERS, queue_name, running_worker, worker_env
from conftest import SAMPLES, make_lens
from pixlens.errors import ConfigError
from pixlens.pipeline import Job, Outcome, Result
from pixlens.queue import open_queue
from pixlens.queue.base import WorkQueue
from pixlens.record import Status
from pixlens.service import Pixlens

QUEUE_URLS = ["local://", BROKERS["redis"], BROKERS["rabbitmq"]]
ANALYZERS = ["properties", "thumbnail"]
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "000000000785.jpg"]


@pytest.fixture(params=QUEUE_URLS)
def lens(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pixlens]:
    store = tmp_path / "images"
    store.mkdir()
    for name in PHOTOS:
        shutil.copy(SAMPLES / name, store / name)
    (store / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    url: str = request.param
    name = queue_name()
    lens = make_lens(tmp_path, queue=url, analyzers=ANALYZERS, batch_size=2, celery={"queue_name": name})
    lens.catalog.mark_pending([(name, None) for name in [*PHOTOS, "broken.jpg"]])
    if url == "local://":
        yield lens
    else:
        env = worker_env(url, name, analyzers='["properties", "thumbnail"]', batch_size="2")
        with running_worker(tmp_path, env, tmp_path / "worker.log"):
            yield lens
    lens.close()


def test_every_job_gets_one_result_and_a_record(lens: Pixlens) -> None:
    queue: WorkQueue = lens.queue()
    seen: list[Result] = []
    results = queue.run([Job(name) for name in [*PHOTOS, "broken.jpg"]], seen.append)
    assert sorted(result.key for result in results) == sorted([*PHOTOS, "broken.jpg"])
    assert sorted(result.key for result in seen) == sorted(result.key for result in results)
    outcomes = {result.key: result.outcome for result in results}
    assert {outcomes[name] for name in PHOTOS} == {Outcome.ANALYZED}
    assert outcomes["broken.jpg"] is Outcome.FAILED
    for name in PHOTOS:
        record = lens.show(name)
        assert record is not None and record.Status is Status.ANALYZED
    broken = lens.show("broken.jpg")
    assert broken is not None and broken.Status is Status.FAILED and broken.Error


def test_results_are_reported_in_the_calling_thread(lens: Pixlens) -> None:
    threads: set[int] = set()
    lens.queue().run([Job(name) for name in PHOTOS], lambda result: threads.add(threading.get_ident()))
    assert threads == {threading.get_ident()}


def test_a_blocking_feed_and_stop(lens: Pixlens) -> None:
    """Jobs may come from a blocking source (a watcher); after stop, the jobs already taken are finished."""
    stop = threading.Event()

    def feed() -> Iterator[Job]:
        yield Job(PHOTOS[0])
        yield Job(PHOTOS[1])
        stop.set()
        yield Job(PHOTOS[2])  # taken after stop: never run
        yield Job(PHOTOS[3])

    results = lens.queue().run(feed(), None, stop)
    assert sorted(result.key for result in results) == sorted(PHOTOS[:2])
    for name in PHOTOS[2:]:
        unrun = lens.show(name)
        assert unrun is not None and unrun.Status is Status.PENDING  # still in the ledger: reconcile picks it up


def test_a_failing_feed_finishes_what_it_started(lens: Pixlens) -> None:
    def feed() -> Iterator[Job]:
        yield Job(PHOTOS[0])
        raise OSError("the source broke")

    results = lens.queue().run(feed())
    assert [result.key for result in results] == [PHOTOS[0]]


def test_describe_says_where_work_runs(lens: Pixlens) -> None:
    assert lens.queue().describe()


def test_unknown_queue_scheme(tmp_path: Path) -> None:
    lens = make_lens(tmp_path, queue="carrierpigeon://loft")
    try:
        with pytest.raises(ConfigError, match="unsupported queue URL scheme 'carrierpigeon'"):
            open_queue(lens.settings, lens.pipeline)
    finally:
        lens.close()
