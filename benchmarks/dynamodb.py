"""DynamoDB catalog: label Query latency at 100,000 records against a local DynamoDB-protocol server (dynalite, on
LevelDB, started on 127.0.0.1), and the read units each search costs on DynamoDB.

    .venv/bin/python benchmarks/dynamodb.py [--records 100000] [--runs 10] [--rounds 3] [--moto-records 0] [--json]

The table holds the items the catalog writes for ``records`` analysed images, in its layout
(``pixlens.catalog.dynamodb``), written with BatchWriteItem (dynalite has no TransactWriteItems, which the catalog's
``put`` uses); the server's data folder is kept in benchmarks/out/ (keyed by VERSION and the record count) and
reused. Each image holds 3 labels drawn with a Zipf-like frequency from 200 labels (``Label0`` in about 40 % of
them). Measured through the catalog's port (``DynamoCatalog.page``: Queries of every shard, postings, matched labels,
keys of the page, count): one frequent label, one rare one, an AND, an AND NOT; and raw Queries of the index with a
boto3 client of its own: the first page of 20 index items of the frequent label, and its whole list (every page).
Each query ``runs`` times a round, ``rounds`` rounds: the figures are the median round's (by p95), with the spread.
The hits are checked against the generator's counts (a server that answered wrongly would be fast for nothing).

Read units: what DynamoDB charges for the same calls (eventually consistent: 0.5 per 4 KB, per Query page and per
item of a BatchGetItem), as the server counts them from the items' sizes (``ReturnConsumedCapacity``, on one extra
search per query, not timed), and as computed here from the index items' sizes alone for the Queries.

A local endpoint's latency is not DynamoDB's: it measures the catalog's work, the protocol and this server's
storage on this machine. ``--moto-records N`` adds moto's server with N records (moto reads its whole table for
each Query page: its figures grow with the table, not with the answer).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

import dynalite_server
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
from pixlens.catalog.dynamodb_schema import ENTRY, INDEX, KEY, RANK
from pixlens.query import Node, Term, parse

VERSION = "1"  # bump when the generator or the catalog's item layout changes: the cached table is made again
OUT = Path(__file__).resolve().parent / "out"
LABELS = 200
PER_IMAGE = 3
TABLE = "pixlens-bench"
QUERIES = {"frequent": "Label0", "rare": "Label150", "and": "Label0 Label1", "and not": "Label0 -Label1"}
RAW = {"raw first page": "Query Label0#0 Limit 20", "raw whole list": "Query Label0#0, every page"}
WRITE_BATCH = 2500  # items per task of the loading threads (BatchWriteItem sends them 25 a request)
READS = frozenset({"Query", "GetItem", "BatchGetItem"})


# -- the records ----------------------------------------------------------------------------------------------------
def images(records: int, seed: int = 7) -> Iterator[tuple[int, dict[str, int]]]:
    """(image number, {label: confidence in thousandths}) of each synthetic image."""
    rng = random.Random(seed)
    weights = [1.0 / (rank_ + 1) for rank_ in range(LABELS)]
    for image_id in range(1, records + 1):
        names = {f"Label{n}" for n in rng.choices(range(LABELS), weights, k=PER_IMAGE)}
        yield image_id, {name: milli(rng.uniform(55, 100)) for name in names}


def counts_of(records: int) -> dict[str, int]:
    """How many images hold each entry (``/analysed``: every image)."""
    counts: dict[str, int] = {ANALYSED: records}
    for _, labels in images(records):
        for name in labels:
            counts[name] = counts.get(name, 0) + 1
    return counts


def _items(records: int) -> Iterator[dict[str, Any]]:
    """The catalog's items for the images: index items, the number -> key items."""
    for image_id, labels in images(records):
        for entry, value in {**labels, ANALYSED: 0}.items():
            yield {KEY: index_name(image_id, entry), ENTRY: entry_list(entry, 0), RANK: rank(value, image_id)}
        yield {KEY: id_name(image_id), "pxRef": f"bench/{image_id:07}.jpg"}


def _fill(catalog: DynamoCatalog, records: int) -> int:
    """Write the records' items (BatchWriteItem, a few requests in flight) and their counts; how many items."""

    def chunks() -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for item in _items(records):
            batch.append(item)
            if len(batch) >= WRITE_BATCH:
                yield batch
                batch = []
        yield batch

    def write(batch: list[dict[str, Any]]) -> int:
        catalog.table.batch_write(batch)
        return len(batch)

    with ThreadPoolExecutor(4) as pool:
        written = sum(pool.map(write, chunks()))
    counts = counts_of(records)
    catalog.table.batch_write(
        {KEY: count_name(entry), ENTRY: counts_list(entry), RANK: n, "pxShards": 1} for entry, n in counts.items()
    )
    catalog.table.add("/meta", "pxLabels")
    return written + len(counts)


# -- measuring ------------------------------------------------------------------------------------------------------
def _timed(work: Callable[[], object], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50": round(statistics.median(times), 2), "p95": round(times[max(0, math.ceil(len(times) * 0.95) - 1)], 2)}


@contextmanager
def consumed(client: Any) -> Iterator[list[float]]:
    """The read units the server reports for the client's reads meanwhile (each read asks for
    ``ReturnConsumedCapacity``: TOTAL)."""
    units: list[float] = []

    def ask(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in READS:
            params["ReturnConsumedCapacity"] = "TOTAL"

    def note(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in READS:
            found = parsed.get("ConsumedCapacity")
            for part in found if isinstance(found, list) else [found] if found else []:
                units.append(float(part.get("CapacityUnits", 0)))

    client.meta.events.register("before-parameter-build.dynamodb", ask)
    client.meta.events.register("after-call.dynamodb", note)
    try:
        yield units
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb", ask)
        client.meta.events.unregister("after-call.dynamodb", note)


def computed_units(entries: list[str], records: int) -> float:
    """The read units of Querying these entries' whole lists, from their index items' sizes: each page's (1 MB at
    most) rounded up to 4 KB, 0.5 a 4 KB (eventually consistent)."""
    sizes = dict.fromkeys(entries, 0)
    for image_id, labels in images(records):
        for entry, value in {**labels, ANALYSED: 0}.items():
            if entry in sizes:
                item = {KEY: index_name(image_id, entry), ENTRY: entry_list(entry, 0), RANK: rank(value, image_id)}
                sizes[entry] += item_size(item)
    units = 0.0
    for total in sizes.values():
        pages, rest = divmod(total, 1024 * 1024)
        units += (pages * 256 + math.ceil(rest / 4096)) * 0.5
    return units


def _raw_query(client: Any, entry: str, limit: int | None) -> int:
    """A Query of one list of the index with a plain client, as any reader of the table runs it; items read."""
    kwargs: dict[str, Any] = {
        "TableName": TABLE,
        "IndexName": INDEX,
        "KeyConditionExpression": "#e = :e",
        "ExpressionAttributeNames": {"#e": ENTRY},
        "ExpressionAttributeValues": {":e": {"S": entry}},
        "ScanIndexForward": False,
    }
    if limit is not None:
        kwargs["Limit"] = limit
    read = 0
    while True:
        answer = client.query(**kwargs)
        read += len(answer["Items"])
        if limit is not None or "LastEvaluatedKey" not in answer:
            return read
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


class Contender:
    """One server holding the table, its catalog and a plain client, and the figures gathered on it."""

    def __init__(self, name: str, endpoint: str, records: int, fill: bool) -> None:
        self.name, self.records = name, records
        url = f"dynamodb://{TABLE}?region=us-east-1&endpoint={endpoint}"
        started = time.perf_counter()
        if fill:
            create_table(url)
        self.home = Path(tempfile.mkdtemp(prefix="pixlens-bench-"))
        self.catalog = DynamoCatalog(connection_of(url), home=self.home)
        self.items = _fill(self.catalog, records) if fill else 0
        self.fill_seconds = round(time.perf_counter() - started, 1) if fill else None
        self.client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        self.counts = counts_of(records)
        self.rounds: dict[str, list[dict[str, float]]] = {}
        self.hits: dict[str, int] = {}

    def resolve(self, term: Term) -> list[str]:
        return [term.value.title()] if term.value.title() in self.counts else []

    def works(self) -> dict[str, Callable[[], object]]:
        found: dict[str, Callable[[], object]] = {name: self._search(parse(text)) for name, text in QUERIES.items()}
        found["raw first page"] = lambda: _raw_query(self.client, entry_list("Label0", 0), 20)
        found["raw whole list"] = lambda: _raw_query(self.client, entry_list("Label0", 0), None)
        return found

    def _search(self, query: Node) -> Callable[[], object]:
        return lambda: self.catalog.page(query, self.resolve, limit=20)

    def check(self) -> None:
        """The hits are the generator's: each label's count, and Label0's whole list read raw."""
        for name, text in QUERIES.items():
            self.hits[name] = self.catalog.page(parse(text), self.resolve, limit=20)[1]
        for name in ("frequent", "rare"):
            assert self.hits[name] == self.counts[QUERIES[name]], (self.name, name, self.hits[name])
        self.hits["raw first page"] = _raw_query(self.client, entry_list("Label0", 0), 20)
        self.hits["raw whole list"] = _raw_query(self.client, entry_list("Label0", 0), None)
        assert self.hits["raw whole list"] == self.counts["Label0"], (self.name, self.hits["raw whole list"])

    def round(self, runs: int) -> None:
        for name, work in self.works().items():
            self.rounds.setdefault(name, []).append(_timed(work, runs))

    def units(self) -> dict[str, float]:
        """The read units the server counts for one of each query (the catalog's client, then the plain one)."""
        found: dict[str, float] = {}
        for name, work in self.works().items():
            client = self.client if name in RAW else self.catalog.table.client
            with consumed(client) as units:
                work()
            found[name] = round(sum(units), 1)
        return found

    def figures(self, counted: dict[str, float] | None) -> dict[str, Any]:
        texts = {**QUERIES, **RAW}
        entries = {
            "frequent": ["Label0"],
            "rare": ["Label150"],
            "and": ["Label0", "Label1"],
            "and not": ["Label0", "Label1"],  # a NOT within an AND subtracts: the list of every image is not read
            "raw whole list": ["Label0"],
        }
        result: dict[str, Any] = {}
        for name, rounds in self.rounds.items():
            median = sorted(rounds, key=lambda figures: figures["p95"])[len(rounds) // 2]
            entry: dict[str, Any] = {"query": texts[name], "hits": self.hits[name], **median}
            entry["p95_rounds"] = [figures["p95"] for figures in rounds]
            entry["read_units_computed"] = computed_units(entries[name], self.records) if name in entries else 0.5
            if counted is not None:
                entry["read_units"] = counted[name]
            result[name] = entry
        return result

    def close(self) -> None:
        self.catalog.close()
        shutil.rmtree(self.home, ignore_errors=True)


def cached_table(records: int) -> tuple[Path, int | None, float | None]:
    """dynalite's data folder holding the table of ``records`` images, made (and kept) when missing; with the items
    written and the seconds it took when it was made now."""
    folder = OUT / f"dynalite-v{VERSION}-{dynalite_server.version()}-{records}"
    if (folder / "complete").is_file():
        return folder, None, None
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with dynalite_server.start(partial, log=folder.with_name(folder.name + ".log")) as server:
        contender = Contender("dynalite", server.endpoint, records, fill=True)
        items, seconds = contender.items, contender.fill_seconds
        contender.close()
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    (folder / "complete").write_text(f"{items} items\n", encoding="utf-8")
    return folder, items, seconds


@contextmanager
def _credentials() -> Iterator[None]:
    """Throwaway credentials for the local servers (both accept any), the caller's restored after."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(records: int = 100_000, runs: int = 10, rounds: int = 3, moto_records: int = 0) -> dict[str, Any]:
    """Label Query latency and read units on dynalite with ``records`` images (and on moto with ``moto_records``
    when above 0). Returns ``{"server", "records", "runs", "rounds", "items", "fill_seconds", "queries":
    {name: {"query", "hits", "p50", "p95", "p95_rounds", "read_units", "read_units_computed"}}, "moto": {...} or
    None}``: times in ms (the median round's by p95), read units per search; ``items``/``fill_seconds`` None when
    the table came from the cache."""
    with _credentials():
        folder, items, fill_seconds = cached_table(records)
        with dynalite_server.start(folder) as server:
            dynalite = Contender("dynalite", server.endpoint, records, fill=False)
            dynalite.check()
            counted = dynalite.units()
            moto = _moto(moto_records, runs, rounds) if moto_records > 0 else None
            for _ in range(rounds):
                dynalite.round(runs)
            queries = dynalite.figures(counted)
            dynalite.close()
    return {
        "server": f"dynalite {dynalite_server.version()} (LevelDB) on 127.0.0.1",
        "records": records,
        "runs": runs,
        "rounds": rounds,
        "items": items,
        "fill_seconds": fill_seconds,
        "queries": queries,
        "moto": moto,
    }


def _moto(records: int, runs: int, rounds: int) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        moto = Contender("moto", f"http://{host}:{port}", records, fill=True)
        moto.check()
        for _ in range(rounds):
            moto.round(max(3, runs // 4))  # each Query page reads the whole table: fewer runs
        figures = moto.figures(None)
        moto.close()
        return {"records": records, "fill_seconds": moto.fill_seconds, "queries": figures}
    finally:
        server.stop()


def report(results: dict[str, Any]) -> None:
    made = (
        f"loaded in {results['fill_seconds']} s, {results['items']:,} items"
        if results["fill_seconds"] is not None
        else "table from the cache"
    )
    print(
        f"DynamoDB label Query on {results['server']}: {results['records']:,} records ({made}), "
        f"{results['runs']} runs per query and round, {results['rounds']} rounds, limit 20, in ms"
    )
    head = f"  {'query':16s} {'text':26s} {'hits':>7s} {'p50':>8s} {'p95':>8s} {'p95 rounds':>24s}"
    print(f"{head} {'RCU':>7s} {'RCU*':>7s}")
    for name, q in results["queries"].items():
        spread = " ".join(f"{value:.1f}" for value in q["p95_rounds"])
        print(
            f"  {name:16s} {q['query']:26s} {q['hits']:7,d} {q['p50']:8.1f} {q['p95']:8.1f} {spread:>24s}"
            f" {q['read_units']:7.1f} {q['read_units_computed']:7.1f}"
        )
    print(
        "  RCU = read units DynamoDB charges for one search (as the server counts them from the items' sizes: "
        "Queries, BatchGetItem, GetItem); RCU* = the Queries' alone, computed from the index items' sizes."
    )
    print("  A local server's latency is not DynamoDB's: it is the catalog's work, the protocol, dynalite's storage.")
    moto = results.get("moto")
    if moto:
        print(f"  moto's server, {moto['records']:,} records (loaded in {moto['fill_seconds']} s): not DynamoDB either")
        for name, q in moto["queries"].items():
            spread = " ".join(f"{value:.1f}" for value in q["p95_rounds"])
            print(f"  {name:16s} {q['query']:26s} {q['hits']:7,d} {q['p50']:8.1f} {q['p95']:8.1f} {spread:>24s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--moto-records", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.records, args.runs, args.rounds, args.moto_records)
    print(json.dumps(results, indent=2)) if args.json else report(results)


if __name__ == "__main__":
    main()
