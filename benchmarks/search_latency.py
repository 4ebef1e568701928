"""Search latency on a catalog of synthetic records: p50 / p95 / p99 per query, through ``Searcher.search``.

    .venv/bin/python benchmarks/search_latency.py [--records 100000] [--runs 200] [--json]

The catalog is built once with ``SqliteCatalog.put`` and cached in benchmarks/out/ (keyed by VERSION, the record
count and the taxonomy version). Records are realistic in shape: 3-10 labels each, drawn from the model classes
with a Zipf-like frequency (Person in ~30% of images), confidences 55-100, parents, aliases and categories
from the taxonomy. Each query runs the full path: parse, resolve through the taxonomy, SQL, matched labels, count.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pixlens.analysis.taxonomy import Taxonomy
from pixlens.catalog.sqlite import SqliteCatalog
from pixlens.record import ImageRecord, Label, NameRef, Status
from pixlens.search import Searcher

OUT = Path(__file__).resolve().parent / "out"
VERSION = "3"  # bump when the generator or the catalog schema changes
SEED = 20261125
PERSON_SHARE = 0.30
ZIPF_EXPONENT = 1.0
ZIPF_OFFSET = 10  # Zipf-Mandelbrot: flattens the head, so that the top class is in ~10% of images, not 60%
RARE_RANK = 700  # the label at this frequency rank is the "rare label" query
BATCH = 1000
ONE_LABEL_P95_MS = 10.0
BOOLEAN_P95_MS = 50.0


def vocabulary(taxonomy: Taxonomy) -> list[str]:
    """The model classes in frequency order: Person, a few everyday classes, then the rest in a fixed shuffle,
    animals last (ImageNet has ~400 animal classes; a photo collection is not 40% wildlife)."""
    names = {taxonomy.coco_label(i) for i in range(80)} | {taxonomy.imagenet_label(i) for i in range(1000)}
    common = ["Car", "Dog", "Chair", "Cup", "Cat", "Bottle", "Bird", "Truck", "Bicycle", "Horse"]
    rest = sorted(names - {"Person", *common})
    random.Random(SEED).shuffle(rest)
    rest.sort(key=lambda name: "Animal" in taxonomy.info(name).parents)
    return ["Person", *common, *rest]


def synthetic_records(count: int, taxonomy: Taxonomy) -> Iterator[ImageRecord]:
    rng = random.Random(SEED)
    names = vocabulary(taxonomy)
    others = names[1:]
    cumulative: list[float] = []
    total = 0.0
    for rank in range(len(others)):
        total += 1.0 / (rank + 1 + ZIPF_OFFSET) ** ZIPF_EXPONENT
        cumulative.append(total)
    infos = {name: taxonomy.info(name) for name in names}
    for index in range(count):
        wanted = rng.randint(3, 10)
        chosen = ["Person"] if rng.random() < PERSON_SHARE else []
        while len(chosen) < wanted:
            name = rng.choices(others, cum_weights=cumulative)[0]
            if name not in chosen:
                chosen.append(name)
        labels = []
        for name in chosen:
            info = infos[name]
            labels.append(
                Label(
                    Name=name,
                    Confidence=round(rng.uniform(55, 100), 2),
                    Parents=[NameRef(Name=p) for p in info.parents],
                    Aliases=[NameRef(Name=a) for a in info.aliases],
                    Categories=[NameRef(Name=c) for c in info.categories],
                )
            )
        labels.sort(key=lambda label: -label.Confidence)
        digest = hashlib.sha256(str(index).encode()).hexdigest()
        yield ImageRecord(
            ImageName=f"photos/{index // 1000:03d}/{index:06d}.jpg",
            ContentSha256=digest,
            Size=2_000_000 + index,
            ContentType="image/jpeg",
            Width=4032,
            Height=3024,
            Status=Status.ANALYZED,
            AnalyzedAt="2026-11-25T12:00:00Z",
            Labels=labels,
            LabelModelVersion="synthetic",
            AnalyzerVersions={"labels": "synthetic"},
            ETag=digest[:16],
        )


def catalog_path(count: int, taxonomy: Taxonomy) -> Path:
    """The cached catalog of ``count`` synthetic records, built on first use."""
    path = OUT / f"search-v{VERSION}-{count}-{taxonomy.version}.db"
    if path.is_file():
        return path
    building = path.with_suffix(".building")
    for leftover in OUT.glob(building.name + "*"):
        leftover.unlink()
    catalog = SqliteCatalog(building)
    started = time.perf_counter()
    batch: list[ImageRecord] = []
    for record in synthetic_records(count, taxonomy):
        batch.append(record)
        if len(batch) == BATCH:
            catalog.put(batch)
            batch = []
    catalog.put(batch)
    catalog.close()
    building.rename(path)
    print(f"  (built {path.name} in {time.perf_counter() - started:.0f} s)")
    return path


def queries(taxonomy: Taxonomy) -> dict[str, tuple[str, str]]:
    """Query text -> (kind, text); kind picks the target."""
    rare = vocabulary(taxonomy)[RARE_RANK]
    return {
        "frequent label": ("one label", "person"),
        f"rare label ({rare})": ("one label", f'"{rare.lower()}"'),
        "parent": ("one label", "animal"),
        "plural": ("one label", "cars"),
        "threshold": ("one label", "dog>=80"),
        "three terms, AND NOT": ("boolean", "dog AND NOT cat AND person"),
        "three terms, OR + NOT": ("boolean", "(cat OR dog) AND NOT person"),
    }


def measure(searcher: Searcher, text: str, runs: int) -> dict[str, Any]:
    for _ in range(5):
        result = searcher.search(text, limit=20)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        searcher.search(text, limit=20)
        times.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2), "p99": round(cuts[98], 2), "hits": result.total}


def run(records: int = 100_000, runs: int = 200) -> dict[str, Any]:
    taxonomy = Taxonomy.load()
    catalog = SqliteCatalog(catalog_path(records, taxonomy))
    searcher = Searcher(catalog, taxonomy, catalog.label_names())
    results: dict[str, Any] = {"records": records, "runs": runs, "queries": {}}
    for name, (kind, text) in queries(taxonomy).items():
        figures = measure(searcher, text, runs)
        limit = ONE_LABEL_P95_MS if kind == "one label" else BOOLEAN_P95_MS
        figures["target_ms"] = limit
        figures["verdict"] = "PASS" if figures["p95"] < limit else "MISS"
        results["queries"][name] = {"query": text, **figures}
    catalog.close()
    return results


def report(results: dict[str, Any]) -> None:
    print(f"Search latency: {results['records']:,} records, {results['runs']} runs per query, limit 20, in ms")
    print(f"  {'query':36s} {'text':32s} {'hits':>7s} {'p50':>7s} {'p95':>7s} {'p99':>7s}  target p95")
    for name, q in results["queries"].items():
        print(
            f"  {name:36s} {q['query']:32s} {q['hits']:7,d} {q['p50']:7.2f} {q['p95']:7.2f} {q['p99']:7.2f}"
            f"  < {q['target_ms']:.0f} ms {q['verdict']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    results = run(args.records, args.runs)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        report(results)


if __name__ == "__main__":
    main()
