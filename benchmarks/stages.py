"""What each shared part costs per image, measured here, and what that implies at 10, 100 and 1,000 workers.

    .venv/bin/python benchmarks/stages.py [--count 300] [--json]
    (or ./dev bench --only stages)

Measured on this machine, one client, one request at a time (latency, not a server's capacity):
- the S3 store (SeaweedFS started here, as in the tests): a PUT of a 640-pixel JPEG (no-overwrite write), a HEAD
  (stat) and a GET (read), through ``pixlens.store.s3``;
- a catalog upsert: ``Catalog.put`` of one analysed record (real labels, colours, embedding) under a new key, one
  transaction each, for every catalog adapter registered that can be reached here (SQLite; PostgreSQL on
  127.0.0.1 when its adapter is installed);
- a broker round trip: publish one batch message and take it back (kombu, as Celery does), on Redis and RabbitMQ.

The projection divides: a worker analyses ``per_worker_ips`` images/s (the 640-pixel labels pipeline of the
throughput benchmark, on its 2 cores); N workers ask N times that of each shared part. A part saturates when that
exceeds what one client measured here can do, times the concurrency the part serves in parallel (S3: scales out;
SQLite: one writer at a time, so its upsert rate is a hard ceiling; PostgreSQL: concurrent writers, bounded by its
disks and connections; the broker: one message per batch of ``batch_size`` images). These are estimates from one
machine's latencies, labelled as such, not a load test of a cluster.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pixlens.catalog import CATALOGS, open_catalog  # noqa: E402
from pixlens.config import load_settings  # noqa: E402
from pixlens.record import ImageRecord  # noqa: E402
from pixlens.service import Pixlens  # noqa: E402

SAMPLES = ROOT / "samples"
COUNT = 300
WORKERS = (10, 100, 1000)
BROKERS = {"redis": "redis://127.0.0.1:6379/0", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//"}
POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def timed(action: Callable[[int], object], count: int) -> dict[str, float]:
    """Median and p95 in ms of ``count`` calls ``action(i)``, after 5 not counted."""
    for i in range(5):
        action(-1 - i)
    each = []
    for i in range(count):
        started = time.perf_counter()
        action(i)
        each.append((time.perf_counter() - started) * 1000)
    each.sort()
    return {"median_ms": round(statistics.median(each), 2), "p95_ms": round(each[int(0.95 * (len(each) - 1))], 2)}


def a_photo() -> bytes:
    from PIL import Image

    with Image.open(SAMPLES / "000000000785.jpg") as image:
        image.thumbnail((640, 640))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=90)
        return out.getvalue()


def s3_costs(count: int, folder: Path) -> dict[str, Any]:
    import os

    from pixlens.store import open_store
    from s3server import aws_environment, start_s3_server

    server = start_s3_server(folder / "seaweedfs")
    saved = {name: os.environ.get(name) for name in aws_environment()}
    os.environ.update(aws_environment())
    try:
        bucket = server.new_bucket()
        settings = load_settings(folder / "home", store=f"s3://{bucket}/bench", s3={"endpoint_url": server.endpoint})
        store = open_store(settings)
        photo = a_photo()
        keys = [f"p/{i:05d}.jpg" for i in range(count + 5)]

        def put(i: int) -> None:
            store.put_stream(keys[i], io.BytesIO(photo), overwrite=False)

        result = {"bytes": len(photo), "put": timed(put, count)}
        result["head"] = timed(lambda i: store.stat(keys[i]), count)
        result["get"] = timed(lambda i: store.read(keys[i], 10_000_000), count)
        return result
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


def an_analysed_record(folder: Path) -> ImageRecord:
    home = folder / "record-home"
    (home / "images").mkdir(parents=True)
    shutil.copy(SAMPLES / "chelsea.png", home / "images" / "cat.png")
    lens = Pixlens(load_settings(home, analyzers=["labels", "properties", "embedding"]))
    try:
        lens.ingest([home / "images"])
        record = lens.show("cat.png")
        assert record is not None
        return record
    finally:
        lens.close()


def catalog_urls(folder: Path) -> dict[str, str]:
    urls = {"sqlite": f"sqlite:///{folder / 'bench.db'}"}
    if "postgresql" in CATALOGS.schemes():
        psycopg = importlib.import_module("psycopg")  # the postgres extra
        name = f"pixlens_bench_{uuid.uuid4().hex[:8]}"
        try:
            with psycopg.connect(POSTGRES, autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE {name}")
            urls["postgresql"] = POSTGRES.rsplit("/", 1)[0] + "/" + name
        except psycopg.Error as exc:
            print(f"  (no PostgreSQL here: {exc})")
    return urls


def catalog_costs(count: int, folder: Path) -> dict[str, Any]:
    record = an_analysed_record(folder)
    costs = {}
    for name, url in catalog_urls(folder).items():
        catalog = open_catalog(url)
        try:
            run = uuid.uuid4().hex[:6]

            def put(i: int, catalog: Any = catalog, run: str = run) -> None:
                catalog.put([record.model_copy(update={"ImageName": f"{run}/{i}.png"})])

            costs[name] = timed(put, count)
        finally:
            catalog.close()
    return costs


def broker_costs(count: int) -> dict[str, Any]:
    connection_of = importlib.import_module("kombu").Connection  # the celery extra

    payload = [
        {"key": f"photos/{i:05d}.jpg", "etag": uuid.uuid4().hex, "analyzers": None, "force": False} for i in range(8)
    ]
    costs = {}
    for name, url in BROKERS.items():
        queue_name = f"pixlens-bench-{uuid.uuid4().hex[:8]}"
        with connection_of(url) as connection:
            queue = connection.SimpleQueue(queue_name)

            def round_trip(i: int, queue: Any = queue) -> None:
                queue.put(payload)
                message = queue.get(timeout=10)
                message.ack()

            costs[name] = timed(round_trip, count)
            queue.clear()
            queue.close()
    return costs


def per_worker_rate() -> float:
    """Images/s of one 2-core worker (the throughput benchmark's 640-pixel labels pipeline, latest run)."""
    figures = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    return float(figures["throughput"]["small"]["pipeline_ips"])


def projection(results: dict[str, Any], batch_size: int = 8) -> dict[str, Any]:
    """For each worker count: images/s asked, and for each part the rate it must serve vs one client's rate."""
    ips = results["per_worker_ips"]
    rows = {}
    for workers in WORKERS:
        asked = workers * ips
        parts = {
            "s3_get_per_s": asked,
            "s3_put_per_s": asked,  # uploads arrive at the rate they are analysed, in a steady state
            "catalog_upserts_per_s": asked,
            "broker_messages_per_s": asked / batch_size,
        }
        rows[str(workers)] = {"images_per_s": round(asked, 1), **{k: round(v, 1) for k, v in parts.items()}}
    one_client = {
        "sqlite_upserts_per_s": round(1000 / results["catalog"]["sqlite"]["median_ms"], 1),
        "s3_get_per_s_per_connection": round(1000 / results["s3"]["get"]["median_ms"], 1),
        **{f"{name}_round_trips_per_s": round(1000 / cost["median_ms"], 1) for name, cost in results["broker"].items()},
    }
    if "postgresql" in results["catalog"]:
        one_client["postgresql_upserts_per_s_per_connection"] = round(
            1000 / results["catalog"]["postgresql"]["median_ms"], 1
        )
    return {
        "rows": rows,
        "one_client": one_client,
        "sqlite_saturates_at_workers": round(one_client["sqlite_upserts_per_s"] / ips, 1),
    }


def run(count: int = COUNT) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pixlens-stages-") as name:
        folder = Path(name)
        results: dict[str, Any] = {"count": count, "per_worker_ips": per_worker_rate()}
        results["s3"] = s3_costs(count, folder)
        results["catalog"] = catalog_costs(count, folder)
        results["broker"] = broker_costs(count)
    results["projection"] = projection(results)
    return results


def report(results: dict[str, Any]) -> None:
    def cost(figure: dict[str, float]) -> str:
        return f"{figure['median_ms']:6.2f} ms median, {figure['p95_ms']:6.2f} ms p95"

    print(f"Per-stage costs, one client, {results['count']} calls each (latency, not capacity)")
    s3 = results["s3"]
    print(f"  S3 (SeaweedFS here), {s3['bytes'] / 1024:.0f} KB JPEG:")
    for name in ("put", "head", "get"):
        print(f"    {name:4s} {cost(s3[name])}")
    for name, figure in results["catalog"].items():
        print(f"  catalog upsert, {name:10s} {cost(figure)}")
    for name, figure in results["broker"].items():
        print(f"  broker round trip, {name:8s} {cost(figure)}")
    p = results["projection"]
    print(f"  one worker (2 cores, 640-px labels) analyses {results['per_worker_ips']:.1f} images/s; at N workers:")
    for workers, row in p["rows"].items():
        print(
            f"    {workers:>5s} workers: {row['images_per_s']:8.0f} images/s -> {row['s3_get_per_s']:8.0f} S3 GET/s,"
            f" {row['catalog_upserts_per_s']:8.0f} upserts/s, {row['broker_messages_per_s']:6.0f} broker messages/s"
        )
    print(f"  one client's rates here: {p['one_client']}")
    print(f"  SQLite (one writer) saturates at about {p['sqlite_saturates_at_workers']} workers")
    if "postgresql_saturates_at_workers" in p:
        print(f"  PostgreSQL (writes under one advisory lock) at about {p['postgresql_saturates_at_workers']} workers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.count)
    print(json.dumps(results, indent=1)) if args.json else report(results)


if __name__ == "__main__":
    main()
