"""The Lambda function with the bundled models: cold start and warm latency per image, measured here, and what
1,000 images cost on Lambda against Amazon Rekognition's price, the arithmetic shown.

    .venv/bin/python benchmarks/lambda_bench.py [--images 30] [--rounds 5] [--json]

Measured in one run, on a SeaweedFS bucket started here (as in the tests) and a SQLite catalog in the home, every
default analyser (labels, text, faces, moderation, colours and quality, embedding, thumbnail):

- cold start: a fresh Python process imports ``pixlens.aws.lambda_handler`` and builds the function's app (the
  models loaded, the catalog opened), as Lambda's init phase does; ``--rounds`` processes, median and spread; the
  first image that process then analyses is timed too (the runtimes' first runs allocate);
- warm latency: the handler in this process, called as Lambda calls it, once per image with a one-record S3
  event, then with SQS batches of ``SQS_BATCH`` messages (the images analysed in batches: the deployment to
  prefer); what the handler does per image, end to end (HEAD, GET, decode, models, catalog write, the check after).

Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU (AWS Lambda Developer Guide,
"Configuring function memory"); the figures here come from 2 cores, so the cost is computed at the memory that buys
2 vCPUs, ``MEMORY_MB`` = 3,538 MB (also ample room: the peak resident memory is printed).

Prices (US East (N. Virginia), from AWS's published pricing pages, looked up on 2026-12-07): AWS Lambda, x86,
$0.0000166667 per GB-second (the first 6 billion GB-seconds a month) and $0.20 per million requests, the init phase
billed as duration too; Amazon Rekognition Image, DetectLabels (like DetectText, DetectFaces,
DetectModerationLabels, each billed per image), $0.001 per image for the first million images a month: $1 per
1,000 for labels alone. Free tiers are left out of both. S3 and catalog requests cost the same either way and are
left out too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pixlens.aws import lambda_handler  # noqa: E402
from pixlens.aws.context import LocalContext  # noqa: E402

SAMPLES = ROOT / "samples"
IMAGES = 30
ROUNDS = 5
SQS_BATCH = 10
MEMORY_MB = 3538  # 2 x 1,769 MB: two vCPUs, as the 2 cores measured here
PRICE_GB_SECOND = 0.0000166667  # Lambda, x86, US East (N. Virginia)
PRICE_REQUEST = 0.20 / 1_000_000  # Lambda, per invocation
PRICE_REKOGNITION_IMAGE = 0.001  # DetectLabels, first million images a month
PREFIX = "photos"

COLD_START = """
import json, resource, time
started = time.perf_counter()
import pixlens.aws.lambda_handler as module
imported = time.perf_counter()
module.app()
loaded = time.perf_counter()
from pixlens.aws.context import LocalContext
event = json.loads({event!r})
module.handler(event, LocalContext())
first = time.perf_counter()
print(json.dumps({{"import_s": imported - started, "load_s": loaded - imported, "first_image_s": first - loaded,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}), flush=True)
"""


def s3_event(bucket: str, name: str) -> dict[str, Any]:
    """A one-record S3 notification, as S3 sends it."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(f"{PREFIX}/{name}", safe="/")}},
            }
        ]
    }


def sqs_batch(bucket: str, names: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": str(uuid.uuid4()), "body": json.dumps(s3_event(bucket, name)), "eventSource": "aws:sqs"}
            for name in names
        ]
    }


def photos() -> list[Path]:
    return sorted(SAMPLES.glob("*.jpg")) + sorted(SAMPLES.glob("*.png"))


@contextmanager
def bucket_environment(folder: Path) -> Iterator[tuple[Any, str, dict[str, str]]]:
    """A SeaweedFS server and bucket, and the function's environment for it (set in this process meanwhile)."""
    from s3server import aws_environment, start_s3_server

    server = start_s3_server(folder / "seaweedfs")
    bucket = server.new_bucket()
    env = {
        **aws_environment(),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PIXLENS_HOME": str(folder / "home"),
        "PIXLENS_STORE": f"s3://{bucket}/{PREFIX}",
        "PIXLENS_S3__ENDPOINT_URL": server.endpoint,
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield server, bucket, env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


def upload(server: Any, bucket: str, names: dict[str, Path]) -> None:
    client = server.client()
    for name, path in names.items():
        client.upload_file(str(path), bucket, f"{PREFIX}/{name}")


def cold_starts(server: Any, bucket: str, env: dict[str, str], folder: Path, rounds: int) -> list[dict[str, float]]:
    """Fresh processes, each with a fresh home (as a new container has a fresh /tmp)."""
    found = []
    for number in range(rounds):
        name = f"cold/{number}.jpg"
        upload(server, bucket, {name: SAMPLES / "000000000785.jpg"})
        child_env = {**os.environ, **env, "PIXLENS_HOME": str(folder / f"cold-home-{number}")}
        child_env.pop("AWS_LAMBDA_FUNCTION_NAME", None)  # the import alone, then the app: timed apart
        code = COLD_START.format(event=json.dumps(s3_event(bucket, name)))
        started = time.perf_counter()
        with subprocess.Popen(
            [sys.executable, "-c", code], env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process:
            assert process.stdout is not None and process.stderr is not None
            line = process.stdout.readline()
            total = time.perf_counter() - started  # the line is printed once the first image is done
            errors = process.stderr.read()
        if process.returncode != 0 or not line.strip():
            raise RuntimeError(f"the cold-start process failed:\n{errors[-3000:]}")
        figures = json.loads(line)
        # From the process's start to the app ready: the interpreter's own start is what the three parts leave.
        figures["cold_start_s"] = total - figures["first_image_s"]
        found.append(figures)
    return found


def warm(server: Any, bucket: str, images: int) -> dict[str, Any]:
    """The handler in this process: one image per invocation, then SQS batches."""
    sources = photos()
    single = {f"warm/one/{i:03d}{sources[i % len(sources)].suffix}": sources[i % len(sources)] for i in range(images)}
    batched = {f"warm/sqs/{i:03d}{sources[i % len(sources)].suffix}": sources[i % len(sources)] for i in range(images)}
    warmup = {f"warm/up/{i}.jpg": sources[i] for i in range(2)}
    upload(server, bucket, {**single, **batched, **warmup})
    lambda_handler.reset()
    app = lambda_handler.app()
    try:
        lambda_handler.handler(sqs_batch(bucket, list(warmup)), LocalContext())  # first runs of every model
        per_image = []
        for name in single:
            started = time.perf_counter()
            answer = lambda_handler.handler(s3_event(bucket, name), LocalContext())
            per_image.append(time.perf_counter() - started)
            assert answer == {"outcomes": {"analyzed": 1}}, answer
        per_batch = []
        names = list(batched)
        for start in range(0, len(names), SQS_BATCH):
            chunk = names[start : start + SQS_BATCH]
            started = time.perf_counter()
            answer = lambda_handler.handler(sqs_batch(bucket, chunk), LocalContext())
            per_batch.append((time.perf_counter() - started) / len(chunk))
            assert answer == {"batchItemFailures": []}, answer
        analyzers = list(app.pipeline.versions)
    finally:
        lambda_handler.reset()
    return {
        "analyzers": analyzers,
        "one_per_invocation_s": summary(per_image),
        "sqs_batch_per_image_s": summary(per_batch),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 3),
        "mean": round(statistics.fmean(ordered), 3),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
        "n": len(ordered),
    }


def costs(seconds_per_image: float, cold_start_s: float, images_per_invocation: int) -> dict[str, float]:
    """Dollars per 1,000 images on Lambda at ``MEMORY_MB`` (one cold start per 1,000 images: an estimate)."""
    gigabytes = MEMORY_MB / 1024
    duration = 1000 * seconds_per_image * gigabytes * PRICE_GB_SECOND
    requests = 1000 / images_per_invocation * PRICE_REQUEST
    init = cold_start_s * gigabytes * PRICE_GB_SECOND
    return {
        "duration": duration,
        "requests": requests,
        "one_cold_start": init,
        "total": duration + requests + init,
    }


def run(images: int = IMAGES, rounds: int = ROUNDS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pixlens-lambda-bench-") as name:
        folder = Path(name)
        with bucket_environment(folder) as (server, bucket, env):
            cold = cold_starts(server, bucket, env, folder, rounds)
            hot = warm(server, bucket, images)
    cold_total = [figures["cold_start_s"] for figures in cold]
    cold_start = statistics.median(cold_total)
    # What is billed is the time spent: the mean per image, not the median.
    batch_s = hot["sqs_batch_per_image_s"]["mean"]
    single_s = hot["one_per_invocation_s"]["mean"]
    return {
        "images": images,
        "rounds": rounds,
        "memory_mb": MEMORY_MB,
        "cold_start_s": summary(cold_total),
        "cold_import_s": summary([figures["import_s"] for figures in cold]),
        "cold_load_s": summary([figures["load_s"] for figures in cold]),
        "first_image_s": summary([figures["first_image_s"] for figures in cold]),
        "cold_peak_rss_mb": round(max(figures["peak_rss_mb"] for figures in cold)),
        **hot,
        "prices": {
            "gb_second": PRICE_GB_SECOND,
            "request": PRICE_REQUEST,
            "rekognition_image": PRICE_REKOGNITION_IMAGE,
            "looked_up": "2026-12-07",
        },
        "cost_per_1000": {
            "lambda_sqs_batches": costs(batch_s, cold_start, SQS_BATCH),
            "lambda_one_per_invocation": costs(single_s, cold_start, 1),
            "rekognition_labels": 1000 * PRICE_REKOGNITION_IMAGE,
            "rekognition_labels_text_faces_moderation": 4 * 1000 * PRICE_REKOGNITION_IMAGE,
        },
    }


def report(results: dict[str, Any]) -> None:
    cold, load, imported = results["cold_start_s"], results["cold_load_s"], results["cold_import_s"]
    print(f"Lambda function, bundled models ({', '.join(results['analyzers'])}), measured on 2 cores")
    print(
        f"  cold start (new process -> ready)  median {cold['median']:.2f} s,"
        f" spread {cold['min']:.2f}-{cold['max']:.2f} s over {cold['n']} processes"
        f" (import {imported['median']:.2f} s, models and catalog {load['median']:.2f} s)"
    )
    first = results["first_image_s"]
    print(f"  first image after a cold start     median {first['median']:.2f} s")
    for label, key in (
        ("warm, one image per invocation", "one_per_invocation_s"),
        (f"warm, SQS batches of {SQS_BATCH}", "sqs_batch_per_image_s"),
    ):
        figures = results[key]
        print(
            f"  {label:<34} mean {figures['mean']:.3f} s/image, median {figures['median']:.3f} s,"
            f" p95 {figures['p95']:.3f} s ({figures['n']} samples)"
        )
    print(f"  peak resident memory               {max(results['peak_rss_mb'], results['cold_peak_rss_mb'])} MB")
    gigabytes = results["memory_mb"] / 1024
    prices = results["prices"]
    print(
        f"Cost per 1,000 images (prices of {prices['looked_up']}, US East; at {results['memory_mb']} MB ="
        f" {gigabytes:.3f} GB, two vCPUs):"
    )
    for label, key, per_image, batch in (
        (f"Lambda, SQS batches of {SQS_BATCH}", "lambda_sqs_batches", results["sqs_batch_per_image_s"], SQS_BATCH),
        ("Lambda, one image per invocation", "lambda_one_per_invocation", results["one_per_invocation_s"], 1),
    ):
        cost = results["cost_per_1000"][key]
        print(
            f"  {label}: 1,000 x {per_image['mean']:.3f} s x {gigabytes:.3f} GB x ${prices['gb_second']:.10f}"
            f" = ${cost['duration']:.4f}; + {1000 // batch:,} requests x $0.0000002 = ${cost['requests']:.4f};"
            f" + one cold start {cold['median']:.2f} s x {gigabytes:.3f} GB x ${prices['gb_second']:.10f}"
            f" = ${cost['one_cold_start']:.4f}  => ${cost['total']:.3f}"
        )
    rekognition = results["cost_per_1000"]
    ratio = rekognition["rekognition_labels"] / rekognition["lambda_sqs_batches"]["total"]
    labels, everything = rekognition["rekognition_labels"], rekognition["rekognition_labels_text_faces_moderation"]
    print(
        f"  Rekognition DetectLabels: 1,000 x ${prices['rekognition_image']:.3f} = ${labels:.2f}"
        f" (with DetectText, DetectFaces, DetectModerationLabels: ${everything:.2f})"
    )
    print(
        f"  => Rekognition's labels alone cost {ratio:.1f}x what Lambda with the bundled models costs for all of them"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=IMAGES)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.images, args.rounds)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        report(results)


if __name__ == "__main__":
    main()
