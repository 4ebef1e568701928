"""Search latency on a catalog of synthetic records: p50 / p95 / p99 per query, through ``Searcher.search``.

    .venv/bin/python benchmarks/search_latency.py [--records 100000] [--runs 200] [--rounds 3] [--no-old]
        [--postgres] [--json]

The catalog is built once with ``SqliteCatalog.put`` and cached in benchmarks/out/ (keyed by VERSION, the record
count and the taxonomy version). Records are realistic in shape: 3-10 labels each, drawn from the model classes
with a Zipf-like frequency (Person in ~30% of images), confidences 55-100, parents, aliases and categories
from the taxonomy; 0.5% carry an "Explicit Nudity" moderation label, so the searcher, built with the product's
moderation defaults, adds ``AND NOT unsafe`` to every query. Each query runs the full path: parse, resolve through
the taxonomy, postings, matched labels, count; side by side (rounds interleaved) with the previous evaluation
(each term's rows read from SQLite into NumPy sets), and once on a fresh catalog object (postings from the file).
With ``--postgres``, the same records in the PostgreSQL catalog (search_postgres.py) are measured in the same
rounds.
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

import numpy as np

from pixlens.analysis.taxonomy import Taxonomy
from pixlens.catalog.base import Catalog, Hit, Resolver, weighted
from pixlens.catalog.facets import MODERATION
from pixlens.catalog.sqlite import SqliteCatalog
from pixlens.catalog.sqlplan import term_sql
from pixlens.config import ModerationSettings
from pixlens.lexicon import Lexicon
from pixlens.query import Node, Not, Or, Term
from pixlens.record import ImageRecord, Label, NameRef, Status
from pixlens.search import UNSAFE, Searcher

OUT = Path(__file__).resolve().parent / "out"
VERSION = "4"  # bump when the generator or the catalog schema changes
SEED = 20261125
PERSON_SHARE = 0.30
UNSAFE_SHARE = 0.005  # images with an "Explicit Nudity" moderation label: search then adds AND NOT unsafe
ZIPF_EXPONENT = 1.0
ZIPF_OFFSET = 10  # Zipf-Mandelbrot: flattens the head, so that the top class is in ~10% of images, not 60%
RARE_RANK = 700  # the label at this frequency rank is the "rare label" query
BATCH = 1000
ONE_LABEL_P95_MS = 10.0
BOOLEAN_P95_MS = 50.0
MOD = MODERATION + UNSAFE


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
        moderation = []
        if rng.random() < UNSAFE_SHARE:
            moderation = [
                {
                    "Name": "Explicit Nudity",
                    "Confidence": round(rng.uniform(30, 100), 2),
                    "ParentName": "",
                    "TaxonomyLevel": 1,
                }
            ]
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
            ModerationLabels=moderation,
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
    # Building only: a crash leaves a .building file that is thrown away, so durability can wait; a cache as large
    # as the index keeps a million random index inserts off the disk. The catalog's content is the same.
    for pragma in ("synchronous=OFF", "cache_size=-4000000", "wal_autocheckpoint=100000"):
        catalog._writer.execute(f"PRAGMA {pragma}")
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


class RowSetCatalog(SqliteCatalog):
    """The previous evaluation, for comparison: each term's rows read from the index into NumPy, then sorted
    intersections, unions and differences (a single term: a range read in rank order and a range count)."""

    def page(
        self, query: Node, resolve: Resolver, limit: int = 20, offset: int = 0, after: tuple[float, int] | None = None
    ) -> tuple[list[Hit], int]:
        if after is not None:
            raise NotImplementedError("the previous evaluation had no cursors")
        if isinstance(query, Term):
            sql, params = term_sql(query, list(weighted(resolve(query))))
            rows = self._read(
                f"{sql} ORDER BY score DESC, id DESC LIMIT :limit OFFSET :offset",
                {**params, "limit": limit, "offset": offset},
            )
            page, total = [(row[0], row[1]) for row in rows], self.count(query, resolve)
        else:
            ids, scores = self._rows(query, resolve)
            order = np.lexsort((-ids, -scores))[offset : offset + limit]
            page, total = [(int(ids[i]), float(scores[i])) for i in order], len(ids)
        return self._hits(query, resolve, page), total

    def count(self, query: Node, resolve: Resolver) -> int:
        if isinstance(query, Term):
            sql, params = term_sql(query, list(weighted(resolve(query))))
            return int(self._read(f"SELECT COUNT(*) FROM ({sql})", params)[0][0])
        return len(self._rows(query, resolve)[0])

    def _rows(self, node: Node, resolve: Resolver) -> tuple[Any, Any]:
        if isinstance(node, Term):
            rows = self._read(*term_sql(node, list(weighted(resolve(node)))))
            ids = np.fromiter((row[0] for row in rows), np.int64, len(rows))
            scores = np.fromiter((row[1] for row in rows), np.float64, len(rows))
            order = np.argsort(ids, kind="stable")
            return ids[order], scores[order]
        if isinstance(node, Not):
            rows = self._read("SELECT id FROM images WHERE has_analysis = 1 ORDER BY id")
            everything = np.fromiter((row[0] for row in rows), np.int64, len(rows))
            removed = self._rows(node.operand, resolve)[0]
            kept = everything[~np.isin(everything, removed, assume_unique=True)]
            return kept, np.zeros(kept.size)
        parts = [self._rows(operand, resolve) for operand in node.operands if not isinstance(operand, Not)]
        if isinstance(node, Or):
            ids = np.concatenate([part[0] for part in parts])
            scores = np.concatenate([part[1] for part in parts])
            order = np.lexsort((scores, ids))
            ids, scores = ids[order], scores[order]
            last = np.append(ids[1:] != ids[:-1], True)
            return ids[last], scores[last]
        parts.sort(key=lambda part: len(part[0]))
        ids, total = parts[0]
        for other_ids, other_scores in parts[1:]:
            ids, mine, theirs = np.intersect1d(ids, other_ids, assume_unique=True, return_indices=True)
            total = total[mine] + other_scores[theirs]
        scores = total / len(parts)
        for operand in node.operands:
            if isinstance(operand, Not):
                keep = ~np.isin(ids, self._rows(operand.operand, resolve)[0], assume_unique=True)
                ids, scores = ids[keep], scores[keep]
        return ids, scores


def searcher_for(catalog: Catalog, taxonomy: Taxonomy) -> Searcher:
    """A searcher as the product builds it: unsafe images left out (moderation defaults)."""
    defaults = ModerationSettings()
    return Searcher(
        catalog,
        taxonomy,
        catalog.label_names(),
        unsafe_from=defaults.min_confidence,
        hide_unsafe=defaults.hide_unsafe,
        lexicon=Lexicon.with_meanings(),
    )


def timings(searcher: Searcher, text: str, runs: int) -> tuple[list[float], int]:
    for _ in range(5):
        result = searcher.search(text, limit=20)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        searcher.search(text, limit=20)
        times.append((time.perf_counter() - started) * 1000)
    return times, result.total


def percentiles(times: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2), "p99": round(cuts[98], 2)}


def open_for(where: Path | str) -> Catalog:
    """The benchmark's SQLite catalog (a path) or PostgreSQL one (a URL)."""
    if isinstance(where, Path):
        return SqliteCatalog(where)
    from pixlens.catalog.postgres import PostgresCatalog

    return PostgresCatalog(where, home=OUT / "postgres-home")


def first_search(where: Path | str, taxonomy: Taxonomy, text: str) -> float:
    """A fresh catalog object's first search (postings saved in the catalog, not in memory), in ms."""
    catalog = open_for(where)
    searcher = searcher_for(catalog, taxonomy)
    started = time.perf_counter()
    searcher.search(text, limit=20)
    elapsed = (time.perf_counter() - started) * 1000
    catalog.close()
    return elapsed


PREFIXES = {"postings": "", "row sets": "old_", "postgres": "pg_"}  # contender -> its figures' prefix


def run(
    records: int = 100_000, runs: int = 200, rounds: int = 3, old: bool = True, postgres: bool = False
) -> dict[str, Any]:
    """Each query ``runs`` times per round, the rounds interleaved with the previous evaluation's (and
    PostgreSQL's); the figures are the median round's (by p95), with the spread of the p95 over the rounds."""
    taxonomy = Taxonomy.load()
    path = catalog_path(records, taxonomy)
    catalog = SqliteCatalog(path)
    contenders = {"postings": searcher_for(catalog, taxonomy)}
    places: dict[str, Path | str] = {"postings": path}
    if old:
        contenders["row sets"] = searcher_for(RowSetCatalog(path), taxonomy)
    if postgres:
        from search_postgres import database_url

        places["postgres"] = database_url(records, taxonomy, VERSION)
        contenders["postgres"] = searcher_for(open_for(places["postgres"]), taxonomy)
    unsafe = catalog.count(Term("explicit nudity", field="moderation", op=">=", threshold=50.0), lambda t: [MOD])
    results: dict[str, Any] = {"records": records, "runs": runs, "rounds": rounds, "unsafe": unsafe, "queries": {}}
    found: dict[str, dict[str, list[dict[str, float]]]] = {}
    hits: dict[str, int] = {}
    for _ in range(rounds):
        for name, (_, text) in queries(taxonomy).items():
            for contender, searcher in contenders.items():
                # the previous evaluation takes up to a second a query at 1,000,000 records: a tenth of the runs
                times, hits[name] = timings(searcher, text, runs if contender == "postings" else max(20, runs // 10))
                found.setdefault(name, {}).setdefault(contender, []).append(percentiles(times))
    for name, (kind, text) in queries(taxonomy).items():
        limit = ONE_LABEL_P95_MS if kind == "one label" else BOOLEAN_P95_MS
        entry: dict[str, Any] = {"query": text, "hits": hits[name], "target_ms": limit}
        for contender, figures in found[name].items():
            by_p95 = sorted(figures, key=lambda f: f["p95"])
            median = by_p95[len(by_p95) // 2]
            prefix = PREFIXES[contender]
            entry.update({prefix + key: value for key, value in median.items()})
            entry[prefix + "p95_rounds"] = [f["p95"] for f in figures]
            if contender in places:
                entry[prefix + "first_ms"] = round(first_search(places[contender], taxonomy, text), 2)
                entry[prefix + "verdict"] = "PASS" if entry[prefix + "p95"] < limit else "MISS"
        results["queries"][name] = entry
    for searcher in contenders.values():
        searcher.catalog.close()
    return results


def report(results: dict[str, Any]) -> None:
    print(
        f"Search latency: {results['records']:,} records ({results['unsafe']:,} unsafe, left out as by default), "
        f"{results['runs']} runs per query and round, {results['rounds']} rounds, limit 20, in ms"
    )
    print(
        f"  {'query':28s} {'text':30s} {'hits':>7s} {'p50':>7s} {'p95':>7s} {'p95 rounds':>20s} {'first':>7s}"
        f" {'old p50':>8s} {'old p95':>8s} {'old/new':>7s}  target p95"
    )
    for name, q in results["queries"].items():
        spread = " ".join(f"{value:.1f}" for value in q["p95_rounds"])
        old = (
            f" {q['old_p50']:8.2f} {q['old_p95']:8.2f} {q['old_p95'] / q['p95']:6.1f}x"
            if "old_p95" in q
            else f" {'':8s} {'':8s} {'':7s}"
        )
        print(
            f"  {name:28s} {q['query']:30s} {q['hits']:7,d} {q['p50']:7.2f} {q['p95']:7.2f} {spread:>20s}"
            f" {q['first_ms']:7.1f}{old}  < {q['target_ms']:.0f} ms {q['verdict']}"
        )
    if any("pg_p95" in q for q in results["queries"].values()):
        print("  The same records in PostgreSQL (same rounds):")
        for name, q in results["queries"].items():
            spread = " ".join(f"{value:.1f}" for value in q["pg_p95_rounds"])
            print(
                f"  {name:28s} {q['query']:30s} {q['hits']:7,d} {q['pg_p50']:7.2f} {q['pg_p95']:7.2f} {spread:>20s}"
                f" {q['pg_first_ms']:7.1f}  < {q['target_ms']:.0f} ms {q['pg_verdict']}"
            )
    print(
        "  first = a fresh catalog object's first search (postings loaded from the file). The machine may be shared:"
        " see the spread of p95 over the rounds."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-old", action="store_true", help="skip the previous evaluation (slow at 1,000,000)")
    parser.add_argument("--postgres", action="store_true", help="also the same records in PostgreSQL (127.0.0.1)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    results = run(args.records, args.runs, args.rounds, not args.no_old, args.postgres)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        report(results)


if __name__ == "__main__":
    main()
