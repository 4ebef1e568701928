"""Celery workers under faults: a worker killed mid-batch loses nothing and analyses nothing twice; the
`pixlens worker` command refuses a queue it cannot serve. Real workers, real Redis and RabbitMQ on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from celery_workers import BROKERS, PIXLENS, queue_name, start_worker, stop_worker, wait_until, worker_env
from conftest import SAMPLES, make_lens, sample_files
from pixlens.pipeline import Job, Outcome, Result
from pixlens.record import Status

pytestmark = pytest.mark.slow


def _fill(store: Path, count: int) -> list[str]:
    store.mkdir(parents=True)
    names = sample_files()[:count]
    for name in names:
        shutil.copy(SAMPLES / name, store / name)
    return names


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {status: count for status, count in counts.items() if count}


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_worker_killed_mid_batch_loses_nothing(tmp_path: Path, broker: str) -> None:
    names = _fill(tmp_path / "images", 12)
    name = queue_name()
    settings = {"analyzers": '["labels", "properties"]', "batch_size": "4", "model_threads": "1"}
    # Redis gives a batch that a dead worker held to another after the visibility timeout: short here.
    env = worker_env(BROKERS[broker], name, **settings, celery__visibility_timeout="2")
    lens = make_lens(
        tmp_path,
        queue=BROKERS[broker],
        analyzers=["labels", "properties"],
        batch_size=4,
        celery={"queue_name": name, "visibility_timeout": 2},
    )
    lens.catalog.mark_pending([(key, None) for key in names])
    results: list[Result] = []
    sender = threading.Thread(target=lambda: results.extend(lens.run([Job(key) for key in names])))
    first = start_worker(tmp_path, env, tmp_path / "first.log")
    try:
        sender.start()
        # Kill it once its first batch is written and it works on the next one (the models are loaded).
        wait_until(lambda: lens.catalog.status_counts().get("analyzed", 0) >= 4, 120, "the first batch")
        stop_worker(first, hard=True)
        assert lens.catalog.status_counts().get("pending", 0) > 0
        second = start_worker(tmp_path, env, tmp_path / "second.log")
        try:
            sender.join(timeout=240)
            assert not sender.is_alive(), "the sender never heard back about every batch"
        finally:
            stop_worker(second)
    finally:
        stop_worker(first, hard=True)
    assert sorted(result.key for result in results) == sorted(names)
    assert {result.outcome for result in results} <= {Outcome.ANALYZED, Outcome.UNCHANGED}
    for key in names:
        record = lens.show(key)
        assert record is not None and record.Status is Status.ANALYZED, key
    assert _nonzero(lens.catalog.status_counts()) == {"analyzed": len(names)}
    cats = lens.search("cat", limit=100)
    assert len({hit.key for hit in cats.hits}) == len(cats.hits)  # one entry per image in the index
    lens.close()


def test_worker_refuses_the_local_queue(tmp_path: Path) -> None:
    done = subprocess.run([str(PIXLENS), "--home", str(tmp_path), "worker"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "PIXLENS_QUEUE=redis://" in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_broker_is_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    names = _fill(tmp_path / "photos", 2)
    env = worker_env("redis://127.0.0.1:1/0", queue_name())
    done = subprocess.run(
        [str(PIXLENS), "--home", str(tmp_path / "home"), "ingest", str(tmp_path / "photos")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "cannot reach the queue's broker" in done.stderr and "Traceback" not in done.stderr
    lens = make_lens(tmp_path / "home")  # the local queue: what was sent nowhere is still pending
    try:
        assert _nonzero(lens.catalog.status_counts()) == {"pending": len(names)}
        assert {result.outcome for result in lens.reconcile().results} == {Outcome.ANALYZED}
    finally:
        lens.close()


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_no_wait_leaves_the_work_for_a_worker_started_later(tmp_path: Path, broker: str) -> None:
    photos = _fill(tmp_path / "photos", 3)
    env = worker_env(BROKERS[broker], queue_name(), analyzers='["properties", "thumbnail"]')
    home = tmp_path / "home"
    queued = subprocess.run(
        [str(PIXLENS), "--home", str(home), "ingest", "--no-wait", "--json", str(tmp_path / "photos")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert queued.returncode == 0, queued.stderr
    assert '"Queued": 3' in queued.stdout
    lens = make_lens(home)
    try:
        assert _nonzero(lens.catalog.status_counts()) == {"pending": 3}
        worker = start_worker(home, env, tmp_path / "worker.log")
        try:
            wait_until(lambda: lens.catalog.status_counts().get("analyzed", 0) == 3, 120, "the worker")
        finally:
            stop_worker(worker)
        assert sorted(state.key.removeprefix("photos/") for state in lens.catalog.states()) == sorted(photos)
    finally:
        lens.close()


def test_the_http_api_sends_uploads_to_the_workers(tmp_path: Path) -> None:
    from serving import serve

    name = queue_name()
    env = worker_env(BROKERS["redis"], name, analyzers='["labels", "properties"]')
    lens = make_lens(tmp_path, queue=BROKERS["redis"], analyzers=["labels", "properties"], celery={"queue_name": name})
    worker = start_worker(tmp_path, env, tmp_path / "worker.log")
    try:
        with serve(lens) as served:
            parts = [("file", ("cat.png", (SAMPLES / "chelsea.png").read_bytes(), "image/png"))]
            answer = served.client.post("/v1/images", files=parts)
            assert answer.status_code == 202, answer.text
            record = served.wait_for("cat.png")
            assert any(label["Name"] == "Cat" for label in record["Labels"])
            found = served.client.get("/v1/search", params={"q": "cat"}).json()
            assert [image["ImageName"] for image in found["Images"]] == ["cat.png"]
    finally:
        stop_worker(worker)
        lens.close()
