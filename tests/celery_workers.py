"""Real Celery workers for tests: `pixlens worker` processes on the Redis and RabbitMQ that run on 127.0.0.1.

Each test gets a queue of its own (celery.queue_name), so that tests never take each other's batches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

BROKERS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}
PIXLENS = Path(sys.executable).with_name("pixlens")


def queue_name() -> str:
    return f"pixlens-test-{uuid.uuid4().hex[:12]}"


def worker_env(queue_url: str, name: str, **settings: str) -> dict[str, str]:
    """The environment of a worker and of the commands that send it work: the same queue and settings."""
    env = {**os.environ, "PIXLENS_QUEUE": queue_url, "PIXLENS_CELERY__QUEUE_NAME": name}
    env.update({f"PIXLENS_{key.upper()}": value for key, value in settings.items()})
    return env


def start_worker(home: Path, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(PIXLENS), "--home", str(home), "-v", "worker", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a kill -9 of its group takes its pool processes too
        )


def stop_worker(process: subprocess.Popen[bytes], hard: bool = False) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL if hard else signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def running_worker(home: Path, env: dict[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    process = start_worker(home, env, log, *args)
    try:
        yield process
    finally:
        stop_worker(process)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
