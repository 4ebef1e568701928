"""Celery under faults: the same key in flight twice on two worker processes, and a broker that restarts empty
(its messages lost) with a worker connected. Every image ends analysed once: none lost, none duplicated.

The restarted broker is a Redis of the test's own (``redis-server`` on a free port, nothing kept on disk), so
that the machine's shared one is never touched."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from celery_workers import BROKERS, queue_name, start_worker, stop_worker, wait_until, worker_env
from conftest import SAMPLES, make_lens
from pixlens.pipeline import Job, Outcome
from pixlens.record import Status

pytestmark = pytest.mark.slow

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "000000000785.jpg", "000000012062.jpg", "000000423617.jpg"]


def _fill(store: Path, names: list[str]) -> None:
    store.mkdir(parents=True)
    for name in names:
        shutil.copy(SAMPLES / name, store / name)


def test_one_key_twice_on_two_workers_is_analysed_once(tmp_path: Path) -> None:
    _fill(tmp_path / "images", PHOTOS[:2])
    name = queue_name()
    analyzers = '["labels", "faces"]'
    env = worker_env(BROKERS["redis"], name, analyzers=analyzers, batch_size="1", model_threads="1")
    lens = make_lens(
        tmp_path, queue=BROKERS["redis"], analyzers=["labels", "faces"], batch_size=1, celery={"queue_name": name}
    )
    worker = start_worker(tmp_path, env, tmp_path / "worker.log", "--concurrency", "2")
    try:
        lens.catalog.mark_pending([(key, None) for key in PHOTOS[:2]])
        jobs = [Job(key) for key in PHOTOS[:2] for _ in range(3)]  # each key three times, in separate batches
        results = lens.run(jobs)
    finally:
        stop_worker(worker)
    try:
        assert len(results) == 6
        assert {result.outcome for result in results} <= {Outcome.ANALYZED, Outcome.UNCHANGED}
        for key in PHOTOS[:2]:
            record = lens.show(key)
            assert record is not None and record.Status is Status.ANALYZED
        stats = lens.catalog.stats()
        astronaut = lens.show("astronaut.png")
        assert astronaut is not None and len(astronaut.FaceDetails) == 1
        assert stats["faces"] == 1 and stats["people"] == 1  # not one face per run of the key
        hits = lens.search("cat", limit=50).hits
        assert [hit.key for hit in hits] == ["chelsea.png"]
    finally:
        lens.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateRedis:
    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.folder),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, 30, "the private redis-server")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (this machine kind provides it)")
    folder = tmp_path / "redis"
    folder.mkdir()
    redis = PrivateRedis(folder)
    redis.start()
    yield redis
    redis.kill()


def test_a_broker_that_restarts_empty_loses_nothing(tmp_path: Path, private_redis: PrivateRedis) -> None:
    _fill(tmp_path / "images", PHOTOS)
    name = queue_name()
    env = worker_env(private_redis.url, name, analyzers='["properties", "thumbnail"]', batch_size="2")
    lens = make_lens(
        tmp_path,
        queue=private_redis.url,
        analyzers=["properties", "thumbnail"],
        batch_size=2,
        celery={"queue_name": name},
    )
    try:
        lens.catalog.mark_pending([(key, None) for key in PHOTOS])
        assert lens.enqueue([Job(key) for key in PHOTOS]) == len(PHOTOS)
        private_redis.kill()  # the queued batches are gone with it
        private_redis.start()
        worker = start_worker(tmp_path, env, tmp_path / "worker.log")
        try:
            time.sleep(1)
            assert lens.catalog.status_counts()["pending"] == len(PHOTOS)  # the ledger still has every one
            plan = lens.reconcile()  # what a scheduled reconcile does: the pending images are sent again
            assert sorted(result.key for result in plan.results) == sorted(PHOTOS)
            private_redis.kill()  # now with the worker connected: it reconnects by itself
            private_redis.start()
            (tmp_path / "images" / "late.png").write_bytes((SAMPLES / "coffee.png").read_bytes() + b"late")
            late = lens.reconcile()
            assert [result.key for result in late.results] == ["late.png"]
        finally:
            stop_worker(worker)
        counts = {status: count for status, count in lens.catalog.status_counts().items() if count}
        assert counts == {"analyzed": len(PHOTOS) + 1}
    finally:
        lens.close()
