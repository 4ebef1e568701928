"""Issue 13's whole chain, every part real: 300 images put into a bucket of SeaweedFS -> the filer's event
notifications -> `pixlens serve` (POST /v1/events/s3) -> Celery workers on Redis (`pixlens worker`, 2 processes)
-> a PostgreSQL catalog -> searchable through the API. No reconcile runs (`serve --no-watch`): the notifications
alone bring every image in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from celery_workers import BROKERS, queue_name, start_worker, stop_worker
from conftest import SAMPLES, sample_files
from pgserver import fresh_database
from s3server import aws_environment, start_s3_server

pytestmark = pytest.mark.slow

PIXLENS = Path(sys.executable).with_name("pixlens")
IMAGES = 300


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_three_hundred_images_from_a_bucket_to_search(tmp_path: Path) -> None:
    api_port = _free_port()
    weed = tmp_path / "weed"
    weed.mkdir()
    (weed / "notification.toml").write_text(
        "[notification.webhook]\nenabled = true\n"
        f'endpoint = "http://127.0.0.1:{api_port}/v1/events/s3"\n'
        "backoff_seconds = 1\nmax_backoff_seconds = 2\n"
    )
    server = start_s3_server(weed)
    api: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        bucket = server.new_bucket()
        with fresh_database() as catalog:
            env = {
                **{key: value for key, value in os.environ.items() if not key.startswith(("PIXLENS_", "AWS_"))},
                **aws_environment(),
                "PIXLENS_STORE": f"s3://{bucket}/photos",
                "PIXLENS_S3__ENDPOINT_URL": server.endpoint,
                "PIXLENS_CATALOG": catalog,
                "PIXLENS_QUEUE": BROKERS["redis"],
                "PIXLENS_CELERY__QUEUE_NAME": queue_name(),
                "PIXLENS_ANALYZERS": '["labels"]',
                "PIXLENS_MODEL_THREADS": "1",
            }
            home = tmp_path / "home"
            worker = start_worker(home, env, tmp_path / "worker.log", "--concurrency", "2")
            with (tmp_path / "api.log").open("wb") as log:
                api = subprocess.Popen(
                    [str(PIXLENS), "--home", str(home), "serve", "--port", str(api_port), "--no-watch"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            client = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30)

            def ready() -> bool:
                try:
                    return client.get("/readyz").status_code == 200
                except httpx.HTTPError:
                    return False

            _until(ready, 120, "the API to be ready")

            s3 = server.client()
            names = sample_files()
            expected_cats = set()
            for i in range(IMAGES):
                name = names[i % len(names)]
                key = f"batch {i // 100}/{i:03d} {name}"  # spaces: '+' in the notifications' keys
                body = (SAMPLES / name).read_bytes() + i.to_bytes(4, "big")  # each object's content its own
                s3.put_object(Bucket=bucket, Key=f"photos/{key}", Body=body)
                if name == "chelsea.png":
                    expected_cats.add(key)

            def all_analysed() -> bool:
                stats = client.get("/v1/stats").json()
                return bool(stats["Analyzed"] == IMAGES)

            _until(all_analysed, 600, f"{IMAGES} images analysed")
            stats = client.get("/v1/stats").json()
            assert (stats["Images"], stats["Failed"], stats["Pending"]) == (IMAGES, 0, 0)

            found = client.get("/v1/search", params={"q": "cat", "limit": 100}).json()
            keys = {image["ImageName"] for image in found["Images"]}
            assert expected_cats <= keys
            one = next(iter(expected_cats))
            record = client.get(f"/v1/images/{one}").json()
            assert record["Status"] == "analyzed" and any(label["Name"] == "Cat" for label in record["Labels"])

            s3.delete_object(Bucket=bucket, Key=f"photos/{one}")  # a removal notification forgets it
            _until(lambda: client.get(f"/v1/images/{one}").status_code == 404, 120, "the deletion to follow")
            client.close()
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=60)
        if worker is not None:
            stop_worker(worker)
        server.stop()
