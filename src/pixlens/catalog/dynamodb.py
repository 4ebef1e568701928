"""The DynamoDB catalog (``dynamodb://TABLE?region=...``): the catalog of pixlens on AWS, with the semantics of the
SQLite and PostgreSQL catalogs through the port.

**The table** (``dynamodb_schema.table_definition``): one table keyed by ``ImageName`` alone, as the original
pipeline's, and one global secondary index ``pxEntries`` over ``(pxEntry, pxRank)`` (projecting a few small
attributes). Every sorted list the catalog reads is one partition of that index, read best first by a paginated
Query, never a Scan.

- **An image** is the item of its key: the record in Rekognition's names as native DynamoDB attributes (``Labels``
  is a list of ``{Name, Confidence, ...}`` maps, numbers as numbers), so a reader of the original table keeps
  working on it; plus the catalog's own ``px...`` attributes (its number, revision, index entries). The item is
  also a member of its status's list (``/status/<status>#<shard>``, ranked by last change), which is how states,
  failures and reconcile list the images.
- **An index entry** (a label, a parent, ``category:...``, every facet of ``facets.py``; ``/analysed`` for NOT)
  is one small item per image, ``/ix/<image number>/<entry>``, in the list ``<entry>#<shard>`` ranked by
  ``confidence * 1000 * 10**10 + image number``: "all images with Car" is a Query of ``Car#0`` in descending rank,
  already best first (ties: newest image first, as the other catalogs). Each entry has a count item
  (``/count/<entry>``, listed in ``/counts#<n>`` by count: ``pixlens labels``) that also says over how many shards
  its list is spread: a hot entry (one in every photo: ``Person``, ``/analysed``) gets one more shard per
  50,000 images, up to 16, so that its writes go to several partitions; a read queries every shard in parallel.
- **Queries**: each term's entries are read as postings and combined by ``catalog/sets.py`` (AND, OR, NOT,
  ranking, pages and cursors), exactly as the PostgreSQL catalog does. ``text:`` phrases use word-stem lists
  (``/word/<stem>``) and SQLite's own tokenizer (``dynamodb_search.py``); ``near:`` reads bands of latitude
  (``/geo/<degree>``) by longitude range.
- **Writes** (``dynamodb_write.py``): the image item is a conditional write (its revision; a replayed event with
  the content, analyser versions and etag already analysed writes nothing), with the status counts in the same
  transaction; index items go by BatchWriteItem with the unprocessed ones sent again. Items stay under 400 KB:
  the largest fields of a record that would not fit (text geometry, faces, EXIF) move to compressed chunk items.
- **Vectors and people**: ``dynamodb_vectors.py``; the local vector index lives in the pixlens home.
- **API keys, hooks, deliveries**: ``dynamodb_access.py``.

Reads of the index are eventually consistent (a GSI's are): a search may miss an image written a moment ago.
"""

from __future__ import annotations

import bisect
import secrets
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext, suppress
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from pixlens.catalog.base import (
    ApiKeyRow,
    DeliveryRow,
    DuplicateSet,
    Hit,
    HookRow,
    ImageState,
    PersonRow,
    Resolver,
    weighted,
)
from pixlens.catalog.dynamodb_access import AccessItems
from pixlens.catalog.dynamodb_items import (
    COUNT_SHARDS,
    IMAGE_SHARDS,
    META,
    STATUS_COUNTS,
    id_name,
    joined_parts,
    record_of,
    sha_list,
    status_list,
)
from pixlens.catalog.dynamodb_schema import INDEX, KEY, RANK
from pixlens.catalog.dynamodb_search import IndexReader
from pixlens.catalog.dynamodb_table import ConditionFailedError, Connection, Table
from pixlens.catalog.dynamodb_vectors import Vectors
from pixlens.catalog.dynamodb_write import Writer
from pixlens.catalog.facets import CATEGORY, is_label
from pixlens.catalog.sets import Evaluation, Posting
from pixlens.catalog.sqlplan import NEAR, TEXT, positive_entries
from pixlens.errors import CatalogError, ConfigError
from pixlens.query import Node, Term
from pixlens.record import ImageRecord, Status

SCHEMA_VERSION = 1


class DynamoCatalog:
    """Catalog in a DynamoDB table (see the module docstring)."""

    def __init__(
        self, where: Connection, face_similarity: float = 0.55, home: Path | None = None, client: Any = None
    ) -> None:
        self.table = Table(where, client)
        meta = self._open()
        self.reader = IndexReader(self.table)
        index_path = vector_index_path(home, str(meta["pxCatalogId"]))
        self.vectors = Vectors(self.table, index_path, face_similarity)
        self.access = AccessItems(self.table)
        self.writer = Writer(self.table, self.vectors, self.access, self._names_changed)
        self._names: tuple[int, list[str], list[str], list[tuple[str, int]]] | None = None

    def _open(self) -> dict[str, Any]:
        """The catalog's ``/meta`` item, made on first use; a table that is not a catalog is refused."""
        table = self.table.describe()  # TableMissingError names `pixlens init`
        indexes = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
        if INDEX not in indexes:
            raise CatalogError(
                f"the table {self.table.name} is not a pixlens catalog (it has no {INDEX} index): a table of the "
                "original pipeline is read with `pixlens import dynamodb`, into a catalog of its own"
            )
        meta = self.table.get(META, consistent=True)
        if meta is None:
            fresh: dict[str, Any] = {KEY: META, "pxCatalogId": secrets.token_hex(16), "pxSchema": SCHEMA_VERSION}
            with suppress(ConditionFailedError):  # another process made it first
                self.table.put(fresh, "attribute_not_exists(#k)", {"#k": KEY})
            meta = self.table.get(META, consistent=True) or fresh
        if "pxCatalogId" not in meta:  # counters made before the id (a writer racing the first open)
            self.table.update(
                META,
                "SET #c = if_not_exists(#c, :c), #s = if_not_exists(#s, :s)",
                {"#c": "pxCatalogId", "#s": "pxSchema"},
                {":c": secrets.token_hex(16), ":s": SCHEMA_VERSION},
            )
            meta = self.table.get(META, consistent=True) or {}
        if int(meta.get("pxSchema", SCHEMA_VERSION)) > SCHEMA_VERSION:
            raise CatalogError(
                f"the catalog {self.table.shown} was written by a newer pixlens (schema {meta['pxSchema']}); "
                f"this pixlens reads schema {SCHEMA_VERSION}: upgrade pixlens to use it"
            )
        return meta

    def _names_changed(self) -> None:
        self.table.add(META, "pxLabels")
        self._names = None

    # -- records ----
    def get(self, key: str) -> ImageRecord | None:
        if key.startswith("/"):
            return None
        item = self.table.get(key, consistent=True)
        if item is None:
            return None
        parts = joined_parts(int(item["pxId"]), item["pxParts"], self.table.batch_get) if item.get("pxParts") else {}
        record = record_of(item, parts)
        if item.get("pxHasAnalysis"):
            self.vectors.attach(int(item["pxId"]), record, int(item.get("pxFaces", 0)))
        return record

    def put(self, records: Iterable[ImageRecord]) -> None:
        for record in records:
            self.writer.put(record)

    def mark_pending(self, items: Iterable[tuple[str, str | None]], force: bool = False) -> int:
        return sum(self.writer.mark_pending(key, etag, force) for key, etag in items)

    def delete(self, keys: Iterable[str]) -> int:
        return sum(self.writer.delete(key) for key in keys if not key.startswith("/"))

    def states(self, keys: Iterable[str] | None = None) -> Iterator[ImageState]:
        if keys is None:
            found: list[tuple[Status, dict[str, Any]]] = []
            for status in Status:
                lists = [status_list(status.value, shard) for shard in range(IMAGE_SHARDS)]
                for name in lists:
                    found.extend((status, item) for item in self.table.query(name))
            found.sort(key=lambda pair: str(pair[1][KEY]))
            for status, item in found:
                yield _state(str(item[KEY]), status.value, item)
            return
        wanted = [key for key in keys if not key.startswith("/")]
        items = self.table.batch_get(wanted, ["Status", "ETag", "ContentSha256", "AnalyzerVersions"])
        for key in wanted:
            if key in items:
                yield _state(key, items[key]["Status"], items[key])

    def with_content(self, sha256s: Iterable[str]) -> list[str]:
        return [str(item["pxRef"]) for sha in sorted(set(sha256s)) for item in self.table.query(sha_list(sha))]

    # -- search ----
    def search(self, query: Node, resolve: Resolver, limit: int = 20, offset: int = 0) -> list[Hit]:
        return self.page(query, resolve, limit, offset)[0]

    def page(
        self, query: Node, resolve: Resolver, limit: int = 20, offset: int = 0, after: tuple[float, int] | None = None
    ) -> tuple[list[Hit], int]:
        evaluation, postings = self._evaluate(query, resolve)
        page = evaluation.page(limit, offset, after)
        return self._hits(query, resolve, page, postings), evaluation.count()

    def facets(self, query: Node, resolve: Resolver, entries: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(entries))
        hits = self._evaluate(query, resolve)[0].matching(query)
        if not wanted or not hits:
            return {}
        found = self.reader.postings(wanted)
        return {entry: hits.intersection_cardinality(found[entry].bitmap) for entry in wanted}

    def count(self, query: Node, resolve: Resolver) -> int:
        return self._evaluate(query, resolve)[0].count()

    def matching(self, query: Node, resolve: Resolver, keys: Iterable[str]) -> list[str]:
        wanted = [key for key in keys if not key.startswith("/")]
        if not wanted:
            return []
        hits = self._evaluate(query, resolve)[0].matching(query)
        items = self.table.batch_get(wanted, ["pxId", "pxHasAnalysis"])
        return [key for key, item in items.items() if int(item["pxId"]) in hits]

    def _evaluate(self, query: Node, resolve: Resolver) -> tuple[Evaluation, dict[str, Posting]]:
        postings: dict[str, Posting] = {}  # each entry's, as read (for the matched labels of a page)

        def fetch(term: Term) -> Posting:
            weights = weighted(resolve(term))
            entries = list(weights)
            if not entries:
                return Posting.empty()
            if entries[0].startswith(TEXT):
                found = self.reader.text(entries[0].removeprefix(TEXT))
            elif entries[0].startswith(NEAR):
                found = self.reader.near(entries[0].removeprefix(NEAR))
            else:
                missing = [entry for entry in entries if entry not in postings]
                if missing:
                    postings.update(self.reader.postings(missing))
                scale = tuple(weights.values()) if any(w != 1.0 for w in weights.values()) else None
                return term_posting([postings[entry] for entry in entries], term.op, term.threshold, scale)
            if term.op is not None and term.threshold is not None:
                found = found.within(term.op, term.threshold)
            return found

        return Evaluation(query, fetch, self.reader.universe), postings

    def _hits(
        self, query: Node, resolve: Resolver, page: list[tuple[int, float]], postings: dict[str, Posting]
    ) -> list[Hit]:
        """Keys and matched labels for the rows of one page only."""
        if not page:
            return []
        ids = [image_id for image_id, _ in page]
        found = self.table.batch_get([id_name(image_id) for image_id in ids])
        keys = {image_id: str(found[id_name(image_id)]["pxRef"]) for image_id in ids if id_name(image_id) in found}
        matched: dict[int, dict[str, float]] = {image_id: {} for image_id in ids}
        wanted = np.asarray(sorted(ids), dtype=np.uint32)
        for entry in positive_entries(query, resolve):
            posting = postings.get(entry)
            if posting is None or not len(posting):
                continue
            where = np.searchsorted(posting.ids, wanted).clip(0, len(posting) - 1)
            for image_id, at in zip(wanted.tolist(), where.tolist(), strict=True):
                if posting.ids[at] == image_id:
                    matched[image_id][entry.removeprefix(CATEGORY)] = float(posting.scores[at])
        return [
            Hit(key=keys[image_id], score=round(score, 2), matched=matched[image_id], place=(score, image_id))
            for image_id, score in page
            if image_id in keys
        ]

    # -- labels, entries, counts ----
    def _entries(self) -> tuple[int, list[str], list[str], list[tuple[str, int]]]:
        """Every entry with its count, kept while no entry appears or disappears (a generation in ``/meta``)."""
        generation = int((self.table.get(META, fields=["pxLabels"]) or {}).get("pxLabels", 0))
        kept = self._names
        if kept is None or kept[0] != generation:
            counts = [
                (str(item[KEY]).removeprefix("/count/"), int(item[RANK]))
                for shard in range(COUNT_SHARDS)
                for item in self.table.query(f"/counts#{shard}")
            ]
            counts = [(entry, n) for entry, n in counts if not entry.startswith("/") and n > 0]
            every = sorted(entry for entry, _ in counts)
            kept = self._names = (generation, [e for e in every if is_label(e)], every, counts)
        return kept

    def labels(self) -> list[tuple[str, int]]:
        counts = [(entry, n) for entry, n in self._fresh_counts() if is_label(entry)]
        return sorted(counts, key=lambda pair: (-pair[1], pair[0]))

    def _fresh_counts(self) -> list[tuple[str, int]]:
        """The counts as they are now (the kept list only knows which entries exist)."""
        self._names = None
        return self._entries()[3]

    def label_names(self) -> list[str]:
        return self._entries()[1]

    def generation(self) -> None:
        """Not known cheaply here (it would be a round trip to the server): answers are never reused."""
        return None

    def entries(self, prefix: str) -> list[str]:
        every = self._entries()[2]
        return every[bisect.bisect_left(every, prefix) : bisect.bisect_left(every, prefix + "\U0010ffff")]

    def status_counts(self) -> dict[str, int]:
        counts = self.table.get(STATUS_COUNTS, consistent=True) or {}
        return {status.value: int(counts.get(status.value, 0)) for status in Status}

    def failures(self, limit: int = 100) -> list[tuple[str, str | None, str]]:
        found = [
            (int(item[RANK]), str(item[KEY]))
            for shard in range(IMAGE_SHARDS)
            for item in self.table.query(status_list(Status.FAILED.value, shard), limit=limit)
        ]
        newest = [key for _, key in sorted(found, reverse=True)[:limit]]
        items = self.table.batch_get(newest, ["Error", "pxUpdated"])
        return [(key, items[key].get("Error"), str(items[key].get("pxUpdated"))) for key in newest if key in items]

    def stats(self) -> dict[str, object]:
        by_status = self.status_counts()
        counts = self.table.get(STATUS_COUNTS, consistent=True) or {}
        table = self.table.describe()
        return {
            "catalog": self.table.shown,
            "images": sum(by_status.values()),
            **by_status,
            "labels": len(self.label_names()),
            "with_text": int(counts.get("pxTexts", 0)),
            "faces": int(counts.get("pxFaces", 0)),
            "people": len(self.vectors.person_items()),
            "embeddings": int(counts.get("pxEmbeddings", 0)),
            "vectors": f"local index at {self.vectors.index_path}",
            "bytes": int(table.get("TableSizeBytes", 0)),  # AWS updates it about every six hours
        }

    # -- vectors, people, duplicates ----
    def similar(self, key: str, k: int = 10) -> list[tuple[str, float]]:
        item = self.table.get(key, fields=["pxId"]) if not key.startswith("/") else None
        if item is None:
            return []
        found = self.vectors.similar(int(item["pxId"]), k)
        keys = self._keys([image_id for image_id, _ in found])
        return [(keys[image_id], round(similarity, 4)) for image_id, similarity in found if image_id in keys]

    def _keys(self, ids: list[int]) -> dict[int, str]:
        found = self.table.batch_get([id_name(image_id) for image_id in ids])
        return {image_id: str(found[id_name(image_id)]["pxRef"]) for image_id in ids if id_name(image_id) in found}

    def people(self) -> list[PersonRow]:
        return self.vectors.person_rows()

    def person_names(self, person_ids: Iterable[int]) -> dict[int, str]:
        wanted = set(person_ids)
        return {
            int(i["pxId"]): i["pxName"] for i in self.vectors.person_items() if i["pxId"] in wanted and i.get("pxName")
        }

    def top_people(self, limit: int) -> list[tuple[int, str | None]]:
        return [(int(item["pxId"]), item.get("pxName")) for item in self.vectors.person_items()[:limit]]

    def person_ids(self, name: str) -> list[int]:
        return self.vectors.person_ids(name)

    def name_person(self, person_id: int, name: str | None) -> bool:
        return self.vectors.rename(person_id, name)

    def duplicates(
        self, max_hash_distance: int | None = None, min_similarity: float | None = None
    ) -> list[DuplicateSet]:
        from pixlens.duplicates import duplicate_sets

        ids = sorted(int(i) for i in self.reader.universe())
        found = self.table.batch_get([id_name(image_id) for image_id in ids])
        keys = [str(found[id_name(i)]["pxRef"]) for i in ids if id_name(i) in found]
        items = self.table.batch_get(keys, ["pxId", "ContentSha256", "PerceptualHash"])
        images = sorted(
            (int(item["pxId"]), key, item.get("ContentSha256"), item.get("PerceptualHash"))
            for key, item in items.items()
        )
        return duplicate_sets(images, self.vectors, max_hash_distance, min_similarity)

    # -- API keys, hooks, deliveries (dynamodb_access.py) ----
    def add_api_key(self, name: str | None, scope: str, prefix: str, sha256: str, when: str) -> ApiKeyRow:
        return self.access.add_api_key(name, scope, prefix, sha256, when)

    def api_keys(self, prefix: str | None = None) -> list[ApiKeyRow]:
        return self.access.api_keys(prefix)

    def revoke_api_key(self, key_id: int, when: str) -> ApiKeyRow | None:
        return self.access.revoke_api_key(key_id, when)

    def touch_api_key(self, key_id: int, when: str, unless_since: str) -> None:
        self.access.touch_api_key(key_id, when, unless_since)

    def add_hook(self, name: str, query: str, url: str, secret: str | None, when: str) -> HookRow | None:
        return self.access.add_hook(name, query, url, secret, when)

    def hooks(self) -> list[HookRow]:
        return self.access.hooks()

    def remove_hook(self, name: str) -> bool:
        return self.access.remove_hook(name)

    def unmatched(self, limit: int = 500) -> list[str]:
        return self.access.unmatched(limit)

    def add_deliveries(self, deliveries: Iterable[DeliveryRow], matched: Iterable[str] = ()) -> None:
        keys = [key for key in matched if not key.startswith("/")]
        ids = [int(item["pxId"]) for item in self.table.batch_get(keys, ["pxId"]).values()] if keys else []
        self.access.add_deliveries(deliveries, ids)

    def claim_deliveries(self, due_by: str, lease_until: str, limit: int) -> list[DeliveryRow]:
        return self.access.claim_deliveries(due_by, lease_until, limit)

    def update_delivery(self, delivery: DeliveryRow) -> None:
        self.access.update_delivery(delivery)

    def deliveries(self, hook: str | None = None, limit: int = 100) -> list[DeliveryRow]:
        return self.access.deliveries(hook, limit)

    def check(self) -> list[str]:
        from pixlens.catalog.dynamodb_check import check_catalog

        return check_catalog(self)

    def snapshot(self) -> AbstractContextManager[object]:
        return nullcontext()  # eventually consistent reads: there is no one state to hold

    def close(self) -> None:
        try:
            self.vectors.save()
        finally:
            self.reader.close()
            self.writer.pool.shutdown(wait=False)


def _state(key: str, status: str, item: dict[str, Any]) -> ImageState:
    return ImageState(
        key, Status(status), item.get("ETag"), item.get("ContentSha256"), dict(item.get("AnalyzerVersions") or {})
    )


def term_posting(
    found: list[Posting], op: str | None, threshold: float | None, weights: tuple[float, ...] | None
) -> Posting:
    """A term's posting from its entries' (as the other catalogs'): the best of them, within the threshold, each
    entry's scores times its weight when weights are given."""
    posting = Posting.best_of(found)
    if op is not None and threshold is not None:
        posting = posting.within(op, threshold)
    if weights is not None:
        scaled = Posting.best_of([p.scaled(w) for p, w in zip(found, weights, strict=True)])
        posting = scaled.restricted(posting.bitmap) if len(scaled) != len(posting) else scaled
    return posting


def vector_index_path(home: Path | None, catalog_id: str) -> Path:
    """Where this catalog's local vector index lives: ``<home>/vectors/<catalog id>.vectors`` (the folder is made
    when the index is first built: a writer that never builds it, a Lambda function, needs no writable home)."""
    if home is None:
        from pixlens.home import find_home

        home = find_home(None)
    return Path(home) / "vectors" / f"{catalog_id}.vectors"


def connection_of(url: str) -> Connection:
    """The table, region and retry settings a ``dynamodb://TABLE?region=...&retry_mode=...&max_attempts=...``
    URL names (``endpoint=`` for a local server; boto3 also reads AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL)."""
    parts = urlsplit(url)
    table = parts.netloc
    if not table or parts.path not in ("", "/"):
        raise ConfigError(f"a DynamoDB catalog URL names a table: dynamodb://TABLE?region=REGION, not {url!r}")
    options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"region", "endpoint", "retry_mode", "max_attempts"}
    if unknown:
        raise ConfigError(f"unknown option {sorted(unknown)[0]!r} in the DynamoDB catalog URL {url!r}")
    mode = options.get("retry_mode", "standard")
    if mode not in ("standard", "adaptive"):
        raise ConfigError(f"retry_mode must be standard or adaptive, not {mode!r}")
    try:
        attempts = int(options.get("max_attempts", "8"))
    except ValueError as exc:
        raise ConfigError(f"max_attempts must be a number in {url!r}") from exc
    return Connection(table, options.get("region"), options.get("endpoint"), mode, max(1, attempts))


def open_dynamodb(url: str, face_similarity: float = 0.55, home: Path | None = None) -> DynamoCatalog:
    """The catalog of a ``dynamodb://`` URL (the registry's factory); its table must exist (``pixlens init``)."""
    return DynamoCatalog(connection_of(url), face_similarity, home)


def create_table(url: str) -> bool:
    """Create the catalog's table when it is missing (what ``pixlens init`` does); whether it was created."""
    table = Table(connection_of(url))
    if table.exists():
        return False
    table.create()
    return True
