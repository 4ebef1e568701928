"""All the benchmarks in turn: label quality, throughput (and peak memory), search latency, the cascade; then a
summary. (The vector index at a million vectors takes ~20 minutes to build: benchmarks/bench_vectors.py, alone.)

    ./dev bench [--quick] [--json]

--quick: fewer images, one round, a smaller catalog, fewer runs, only the default label mode.
--json: also write every figure to benchmarks/out/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cascade
import label_quality
import search_latency
import throughput

OUT = Path(__file__).resolve().parent / "out"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


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


def label_quality_run(quick: bool) -> dict[str, Any]:
    modes: dict[str, Any] = dict(list(label_quality.MODES.items())[:1]) if quick else label_quality.MODES
    results: dict[str, Any] = {mode: label_quality.evaluate(SAMPLES, overrides) for mode, overrides in modes.items()}
    print("Label quality on the samples (COCO classes), MinConfidence 55, MaxLabels 10:")
    for mode, result in results.items():
        d = result["default"]
        print(
            f"  {mode:38s} precision {d['precision']:.3f}  recall {d['recall']:.3f}  F1 {d['f1']:.3f}"
            f"  ({result['ms_per_image']} ms/image)"
        )
    return results


def summary(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, value, target verdict) rows."""
    t, s = results["throughput"], results["search"]
    rows = []
    for name, quality in results["label_quality"].items():
        d = quality["default"]
        rows.append((f"labels {name.split(' (')[0]}: P / R / F1", f"{d['precision']} / {d['recall']} / {d['f1']}", ""))
    for name in ("phone", "small"):
        r = t[name]
        rows.append(
            (
                f"{name}: pipeline / naive / ceiling",
                f"{r['pipeline_ips']} / {r['naive_ips']} / {r['ceiling_ips']} img/s",
                "",
            )
        )
    rows.append(
        (
            "phone: pipeline / naive",
            f"{t['phone']['pipeline_vs_naive']}x",
            f">= 3x  {t['targets']['phone: pipeline >= 3x naive']}",
        )
    )
    rows.append(
        (
            "small: pipeline / ceiling",
            f"{t['small']['pipeline_vs_ceiling']:.0%}",
            f">= 80%  {t['targets']['small: pipeline >= 80% of ceiling']}",
        )
    )
    rows.append(("small: naive / ceiling", f"{t['small']['naive_vs_ceiling']:.0%}", "(reference)"))
    rows.append(
        ("peak RSS, phone set", f"{t['memory']['peak_mb']:.0f} MB", f"< 1 GB  {t['targets']['peak RSS < 1 GB']}")
    )
    for q in s["queries"].values():
        rows.append((f"search p95: {q['query']}", f"{q['p95']} ms", f"< {q['target_ms']:.0f} ms  {q['verdict']}"))
    c = results["cascade"]
    verdict = "PASS" if c["speedup"] >= cascade.TARGET else "MISS"
    rows.append(("full analysis: cascade / every step", f"{c['speedup']:.2f}x", f">= {cascade.TARGET}x  {verdict}"))
    rows.append(("full analysis with the cascade", f"{c['images_per_second']['cascade']:.2f} img/s", ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a shorter run")
    parser.add_argument("--json", action="store_true", help="write the figures to benchmarks/out/results.json")
    args = parser.parse_args()
    images, rounds, records, runs = (12, 1, 20_000, 100) if args.quick else (30, 3, 100_000, 200)

    started, busy_before, own_before = time.perf_counter(), busy_jiffies(), os.times()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    results["label_quality"] = label_quality_run(args.quick)
    print()
    results["throughput"] = throughput.run(images, rounds)
    throughput.report(results["throughput"])
    print()
    results["search"] = search_latency.run(records, runs)
    search_latency.report(results["search"])
    print()
    results["cascade"] = cascade.measure(1 if args.quick else 3)
    cascade.report(results["cascade"])

    elapsed = time.perf_counter() - started
    own_after = os.times()
    own = sum(own_after[:4]) - sum(own_before[:4])  # user + system, this process and its children
    others = (busy_jiffies() - busy_before) / os.sysconf("SC_CLK_TCK") - own
    results["seconds"] = round(elapsed, 1)
    results["other_processes_cpu_share"] = round(max(0.0, others) / (elapsed * (os.cpu_count() or 1)), 3)

    print(f"\nSummary ({results['machine']['cpus']} x {results['machine']['cpu']}, {elapsed:.0f} s):")
    for figure, value, target in summary(results):
        print(f"  {figure:48s} {value:34s} {target}")
    share = results["other_processes_cpu_share"]
    print(f"  other processes used {share:.0%} of the CPUs during the run", end="")
    print(" (figures above are disturbed; rerun on an idle machine)" if share > 0.05 else "")
    if args.json:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        print(f"  figures written to {OUT / 'results.json'}")


if __name__ == "__main__":
    main()
