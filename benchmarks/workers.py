"""Celery workers side by side: label throughput with 1 and with 2 worker processes (one model thread each).

    .venv/bin/python benchmarks/workers.py [--images 64] [--rounds 3] [--broker redis://127.0.0.1:6379/0] [--json]
    (or ./dev bench --only workers)

Issue 13's target: on 2 cores, 2 worker processes analyse labels at >= 1.8x the rate of 1. Each round starts a
real `pixlens worker --concurrency N` (``model_threads = 1``, ``workers = 1`` decode thread per process) on the
broker, warms it up (every process loads its models on a first batch, not timed), then times ``Pixlens.ingest`` of
``--images`` copies of the sample photos (renamed, each byte-distinct so none is skipped as unchanged) through
the queue until every result is back. The two concurrencies alternate, round after round, so that both see the
same machine; the median round counts and each round's ratio is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pixlens.config import load_settings
from pixlens.pipeline import Job, Outcome
from pixlens.service import Pixlens

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
PIXLENS = Path(sys.executable).with_name("pixlens")
BROKER = "redis://127.0.0.1:6379/0"
IMAGES = 64
ROUNDS = 3
BATCH = 4
TARGET = 1.8


def _photos(store: Path, count: int) -> list[str]:
    """``count`` distinct files made from the sample photos (a trailing byte after the image data keeps each one's
    content, and so its hash, its own, while it decodes the same)."""
    store.mkdir(parents=True)
    samples = sorted(SAMPLES.glob("*.png")) + sorted(SAMPLES.glob("*.jpg"))
    names = []
    for i in range(count):
        source = samples[i % len(samples)]
        name = f"{i:04d}{source.suffix}"
        (store / name).write_bytes(source.read_bytes() + i.to_bytes(4, "big"))
        names.append(name)
    return names


def _round(concurrency: int, images: int, broker: str) -> float:
    """Images per second for one run of ``images`` label analyses on ``concurrency`` worker processes."""
    with tempfile.TemporaryDirectory(prefix="pixlens-workers-") as folder:
        home = Path(folder)
        names = _photos(home / "images", images + 2 * concurrency)
        warm, timed = names[: 2 * concurrency], names[2 * concurrency :]
        queue = f"pixlens-bench-{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "PIXLENS_QUEUE": broker,
            "PIXLENS_CELERY__QUEUE_NAME": queue,
            "PIXLENS_ANALYZERS": '["labels"]',
            "PIXLENS_MODEL_THREADS": "1",
            "PIXLENS_WORKERS": "1",
            "PIXLENS_BATCH_SIZE": str(BATCH),
        }
        log = (home / "worker.log").open("wb")
        worker = subprocess.Popen(
            [str(PIXLENS), "--home", str(home), "worker", "--concurrency", str(concurrency)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        settings = load_settings(home, queue=broker, analyzers=["labels"], batch_size=1, celery={"queue_name": queue})
        lens = Pixlens(settings)
        try:
            lens.catalog.mark_pending([(name, None) for name in names])
            # One batch of one image per process, at once: each loads its models before the clock starts.
            warmed = lens.run([Job(name) for name in warm])
            assert {result.outcome for result in warmed} == {Outcome.ANALYZED}, warmed
            lens.settings.batch_size = BATCH
            started = time.perf_counter()
            results = lens.run([Job(name) for name in timed])
            elapsed = time.perf_counter() - started
            assert len(results) == len(timed) and {r.outcome for r in results} == {Outcome.ANALYZED}, results[:3]
        finally:
            lens.close()
            os.killpg(worker.pid, 15)
            worker.wait(timeout=60)
            log.close()
        return len(timed) / elapsed


def run(images: int = IMAGES, rounds: int = ROUNDS, broker: str = BROKER) -> dict[str, Any]:
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(rounds):
        for concurrency in (1, 2):
            rates[concurrency].append(_round(concurrency, images, broker))
    ratios = [two / one for one, two in zip(rates[1], rates[2], strict=True)]
    return {
        "images": images,
        "rounds": rounds,
        "broker": broker.split("://", 1)[0],
        "batch_size": BATCH,
        "images_per_second": {str(c): round(statistics.median(r), 2) for c, r in rates.items()},
        "images_per_second_per_round": {str(c): [round(x, 2) for x in r] for c, r in rates.items()},
        "ratio": round(statistics.median(ratios), 2),
        "ratio_per_round": [round(r, 2) for r in ratios],
        "target": TARGET,
    }


def report(results: dict[str, Any]) -> None:
    rates = results["images_per_second"]
    print(
        f"Celery workers ({results['broker']}), labels only, {results['images']} images, batches of "
        f"{results['batch_size']}, one model thread per process, {results['rounds']} rounds interleaved"
    )
    for concurrency in ("1", "2"):
        each = ", ".join(f"{x:.2f}" for x in results["images_per_second_per_round"][concurrency])
        print(f"  {concurrency} process(es)  {rates[concurrency]:6.2f} img/s (median; rounds {each})")
    verdict = "PASS" if results["ratio"] >= TARGET else "MISS"
    print(
        f"  2 vs 1 (median)  {results['ratio']:.2f}x  (target >= {TARGET}x: {verdict}); per round "
        + ", ".join(f"{r:.2f}x" for r in results["ratio_per_round"])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=IMAGES)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--broker", default=BROKER)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.images, args.rounds, args.broker)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        report(results)


if __name__ == "__main__":
    main()
