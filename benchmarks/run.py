"""The benchmarks in turn: label quality, throughput (and peak memory), search latency, the HTTP API under load,
the cascade, the vocabulary (held-out search words, free-text latency), Celery workers (1 vs 2 processes), per-stage
costs; then a summary. (The vector index at a million vectors takes ~20 minutes to build: bench_vectors.py, alone.)

    ./dev bench [--quick] [--json] [--only SECTION ...]

--quick: fewer images, one round, a smaller catalog, fewer runs, only the default label mode.
--json: write the figures to benchmarks/results.json (the sections run replace theirs; the others are kept) and
        rewrite the generated blocks of README.md and docs/PERFORMANCE.md from it (scripts/gen_figures.py).
--only: run only these sections; ``tenk`` (10,000 photos, ~10 minutes of both cores) runs only when named.

Each section records when it ran, on which machine, whether it was quick, and how much of the CPUs other
processes used meanwhile (from /proc/stat): figures of a shared machine are marked as disturbed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import api_load
import cascade
import dynamodb
import gen_figures
import label_quality
import lambda_bench
import search_latency
import stages
import tenk
import throughput
import vocabulary
import workers

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEFAULT_SECTIONS = (
    "label_quality",
    "throughput",
    "search",
    "api",
    "cascade",
    "vocabulary",
    "workers",
    "stages",
    "lambda",
    "dynamodb",
)
SECTIONS = (*DEFAULT_SECTIONS, "tenk")


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu": model, "python": platform.python_version()}


def busy_jiffies() -> int:
    """CPU time (all cores, all processes) spent not idle since boot, in clock ticks."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # minus idle and iowait


def sections(quick: bool) -> dict[str, tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], None]]]:
    """Section -> (measure, report)."""
    # The search's target is at 1,000,000 records: that catalog is built once (~25 minutes; PostgreSQL's, by COPY,
    # ~10 minutes) and cached.
    images, rounds, records, runs = (12, 1, 20_000, 100) if quick else (30, 3, 1_000_000, 200)
    api = (20_000, 4.0, 1) if quick else (api_load.RECORDS, 8.0, 2)  # records, seconds per wrk run, rounds
    modes = dict(list(label_quality.MODES.items())[:1]) if quick else label_quality.MODES
    return {
        "label_quality": (lambda: label_quality.run(SAMPLES, modes), label_quality.report),
        "throughput": (lambda: throughput.run(images, rounds), throughput.report),
        "search": (lambda: search_latency.run(records, runs, rounds=rounds, postgres=True), search_latency.report),
        # The API's target is at 100,000 records (~4 minutes: 24 wrk runs of 8 s while uploads are analysed).
        "api": (lambda: api_load.run(*api), api_load.report),
        "cascade": (lambda: cascade.measure(rounds), cascade.report),
        # Its latency target is at 100,000 records (the quick run shares the search's smaller catalog).
        "vocabulary": (
            lambda: vocabulary.measure(records if quick else vocabulary.RECORDS, rounds=rounds),
            vocabulary.report,
        ),
        # Celery workers on the Redis of 127.0.0.1: 1 and 2 processes side by side (~3 minutes).
        "workers": (lambda: workers.run(16 if quick else workers.IMAGES, rounds), workers.report),
        # Per-stage costs (S3 on a SeaweedFS started here, catalog upserts, broker round trips) and the projection.
        "stages": (lambda: stages.run(60 if quick else stages.COUNT), stages.report),
        # The Lambda function with the bundled models: cold starts in new processes, warm latency (~3 minutes).
        "lambda": (
            lambda: lambda_bench.run(12 if quick else lambda_bench.IMAGES, 2 if quick else lambda_bench.ROUNDS),
            lambda_bench.report,
        ),
        # The DynamoDB catalog's label Query on dynalite (a local DynamoDB-protocol server): read units, local times.
        "dynamodb": (lambda: dynamodb.run(20_000 if quick else 100_000, rounds=rounds), dynamodb.report),
        "tenk": (tenk.run, tenk.report),
    }


def measured(
    name: str, quick: bool, measure: Callable[[], dict[str, Any]], report: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """The section's figures (reported as they come), with when and how they were measured."""
    started, busy_before, own_before = time.perf_counter(), busy_jiffies(), os.times()
    results = measure()
    report(results)
    elapsed = time.perf_counter() - started
    own_after = os.times()
    own = sum(own_after[:4]) - sum(own_before[:4])  # user + system, this process and its children
    others = (busy_jiffies() - busy_before) / os.sysconf("SC_CLK_TCK") - own
    results["measured"] = {
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "machine": machine(),
        "quick": quick and name != "tenk",  # the 10,000 photos are the same in either mode
        "seconds": round(elapsed, 1),
        "other_processes_cpu_share": round(max(0.0, others) / (elapsed * (os.cpu_count() or 1)), 3),
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a shorter run")
    parser.add_argument("--json", action="store_true", help="write benchmarks/results.json and the docs' figures")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="these sections only")
    args = parser.parse_args()
    chosen = args.only or DEFAULT_SECTIONS
    results: dict[str, Any] = {}
    for name, (measure, report) in sections(args.quick).items():
        if name in chosen:
            results[name] = measured(name, args.quick, measure, report)
            print()

    print("Summary:")
    for figure, value, target in gen_figures.speed_rows(results):
        print(f"  {figure:70s} {value:60s} {target}")
    for name, section in results.items():
        seconds = section["measured"]["seconds"]
        print(f"  {gen_figures.TITLES[name]}: {seconds:.0f} s, measured {gen_figures.context(section)}")
    if args.json:
        kept = gen_figures.load() if gen_figures.FIGURES.is_file() else {}
        figures = {name: kept[name] for name in SECTIONS if name in kept} | results
        figures = {name: figures[name] for name in SECTIONS if name in figures}
        # Through JSON and back, so that the docs are rendered from exactly what the file holds.
        gen_figures.FIGURES.write_text(json.dumps(figures, indent=1) + "\n")
        print(f"  figures written to {gen_figures.FIGURES}")
        for changed in gen_figures.update(gen_figures.load()):
            print(f"  rewrote the figures in {changed}")


if __name__ == "__main__":
    main()
