"""DynamoDB catalog: label Query latency against a local endpoint (moto's server on 127.0.0.1, in this process).

    .venv/bin/python benchmarks/dynamodb.py [--records 100000] [--runs 50] [--json]

The table is filled with the index items the catalog writes for ``records`` analysed images (BatchWriteItem,
the layout of ``pixlens.catalog.dynamodb``), not through ``put``: ``put`` on moto takes about 10 ms an image.
Each image holds 3 labels drawn with a Zipf-like frequency from 200 labels (``Person`` in about a third of them).
Measured through the catalog's port (``DynamoCatalog.page``: Queries of every shard, postings, matched labels,
keys of the page, count): one frequent label, one rare one, an AND, an AND NOT; and one raw Query of the first
page of 20 index items of the frequent label (what a reader of the table alone would run). The read units are
DynamoDB's for the same Queries (eventually consistent: 0.5 per 4 KB read), computed from the items' sizes.
A local endpoint measures the catalog's work and the protocol, not AWS's latency (single-digit ms per Query page).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pixlens.catalog.dynamodb import DynamoCatalog, connection_of, create_table
from pixlens.catalog.dynamodb_items import (
    ANALYSED,
    count_name,
    counts_list,
    entry_list,
    id_name,
    index_name,
    item_size,
    milli,
    rank,
)
from pixlens.query import Term, parse

LABELS = 200
PER_IMAGE = 3
TABLE = "pixlens-bench"
QUERIES = {"frequent": "Label0", "rare": "Label150", "and": "Label0 Label1", "and not": "Label0 -Label1"}


def _fill(catalog: DynamoCatalog, records: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    weights = [1.0 / (rank_ + 1) for rank_ in range(LABELS)]
    counts: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    for image_id in range(1, records + 1):
        names = {f"Label{n}" for n in rng.choices(range(LABELS), weights, k=PER_IMAGE)}
        entries = {name: milli(rng.uniform(55, 100)) for name in names} | {ANALYSED: 0}
        for entry, value in entries.items():
            counts[entry] = counts.get(entry, 0) + 1
            batch.append({"ImageName": index_name(image_id, entry), "pxEntry": entry_list(entry, 0),
                          "pxRank": rank(value, image_id)})  # fmt: skip
        batch.append({"ImageName": id_name(image_id), "pxRef": f"bench/{image_id:07}.jpg"})
        if len(batch) >= 2500:
            catalog.table.batch_write(batch)
            batch = []
    catalog.table.batch_write(batch)
    catalog.table.batch_write(
        {"ImageName": count_name(entry), "pxEntry": counts_list(entry), "pxRank": n, "pxShards": 1}
        for entry, n in counts.items()
    )
    catalog.table.add("/meta", "pxLabels")
    return counts


def _timed(work: Any, runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p95": times[max(0, int(len(times) * 0.95) - 1)]}


def run(records: int = 100_000, runs: int = 50) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = {name: os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    url = f"dynamodb://{TABLE}?region=us-east-1&endpoint=http://{host}:{port}"
    try:
        create_table(url)
        catalog = DynamoCatalog(connection_of(url), home=Path(tempfile.mkdtemp(prefix="pixlens-bench-")))
        started = time.perf_counter()
        counts = _fill(catalog, records)
        filled = time.perf_counter() - started

        def resolve(term: Term) -> list[str]:
            return [term.value.title()] if term.value.title() in counts else []

        results: dict[str, Any] = {"records": records, "runs": runs, "fill_seconds": round(filled, 1), "queries": {}}
        for name, text in QUERIES.items():
            query = parse(text)
            _, total = catalog.page(query, resolve, limit=20)
            figures = _timed(lambda q=query: catalog.page(q, resolve, limit=20), runs)
            words = [word for word in text.replace("-", "").split()]
            read = sum(counts.get(word, 0) for word in words) + (counts[ANALYSED] if "-" in text else 0)
            item = {"ImageName": index_name(records, "Label0"), "pxEntry": "Label0#0", "pxRank": rank(99_999, records)}
            units = read * item_size(item) / 4096 * 0.5
            results["queries"][name] = {"query": text, "hits": total, **figures, "read_units": round(units, 1)}
        first_page = _timed(lambda: list(catalog.table.query(entry_list("Label0", 0), limit=20)), runs)
        results["queries"]["raw first page"] = {"query": "Query Label0#0 Limit 20", "hits": 20, **first_page,
                                                "read_units": 0.5}  # fmt: skip
        catalog.close()
        return results
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


def report(results: dict[str, Any]) -> None:
    print(
        f"DynamoDB label Query (moto's server on 127.0.0.1): {results['records']:,} records "
        f"(filled in {results['fill_seconds']} s), {results['runs']} runs per query, limit 20, in ms"
    )
    print(f"  {'query':16s} {'text':26s} {'hits':>7s} {'p50':>8s} {'p95':>8s} {'read units':>11s}")
    for name, q in results["queries"].items():
        print(f"  {name:16s} {q['query']:26s} {q['hits']:7,d} {q['p50']:8.1f} {q['p95']:8.1f} {q['read_units']:11.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.records, args.runs)
    print(json.dumps(results, indent=2)) if args.json else report(results)


if __name__ == "__main__":
    main()
