"""The PostgreSQL catalog (``postgresql://user@host:5432/database``): the catalog of a pixlens that outgrew one
machine, with the same semantics as the SQLite catalog through the port.

Rows as SQLite's (``postgres_sql/``): one per image, its record as JSONB beside the columns reconcile needs, and
the inverted index ``label_index(label, confidence, image_id)`` holding every entry that ``facets.indexed``
gives a record, so that a term is one range read of its primary key, in rank order. A query is evaluated by
``catalog/sets.py`` over the postings of its terms (the same set algebra and ranking as SQLite's), inside one
REPEATABLE READ transaction; the postings are kept in memory and caught up with the changes since, as SQLite's
(``catalog/postings.py``); ``text:`` phrases go to a tsvector column with a GIN index.

Writes go through ``postgres_db.Database.transaction``: one advisory lock serialises them (see there); vectors and
people follow ``postgres_vectors.py``; the local vector index lives in the pixlens home (no pgvector here).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from pyroaring import BitMap

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
from pixlens.catalog.facets import CATEGORY, analysed_anew, indexed, is_label
from pixlens.catalog.postgres_access import AccessTables
from pixlens.catalog.postgres_db import Conn, Database
from pixlens.catalog.postgres_vectors import Vectors
from pixlens.catalog.postings import POSTGRES, UNIVERSE, Postings, prune_log, saved_row
from pixlens.catalog.sets import Evaluation, Posting
from pixlens.catalog.sqlplan import NEAR, TEXT, positive_entries
from pixlens.errors import CatalogError
from pixlens.geo import Circle
from pixlens.query import Node, Term
from pixlens.record import ImageRecord, Status, utc_now
from pixlens.work import needs_work

LABEL_NAMES = "label_names"
Built = list[tuple[str, int, Posting]]  # postings built from the index during a search: (entry, generation, posting)
Scale = tuple[float, ...] | None
PRUNE_EVERY = 5_000  # records written between prunes of the posting log
TEXT_CONFIG = "english"  # stemmed words, any case (SQLite: porter over unicode61)

# (what is wrong, a query counting the rows where it is): the catalog's own rules, as SQLite's check has them
RULES: list[tuple[str, str]] = [
    (
        "label counts that disagree with the label index",
        """SELECT COUNT(*) FROM (
               SELECT label, images FROM label_counts
               EXCEPT SELECT label, COUNT(*)::int FROM label_index GROUP BY label
           ) AS wrong""",
    ),
    (
        "labels in the index without a count",
        "SELECT COUNT(DISTINCT label) FROM label_index WHERE label NOT IN (SELECT label FROM label_counts)",
    ),
    (
        "index entries of images that do not exist",
        "SELECT COUNT(*) FROM label_index WHERE image_id NOT IN (SELECT id FROM images)",
    ),
    (
        "embeddings of images that do not exist",
        "SELECT COUNT(*) FROM embeddings WHERE image_id NOT IN (SELECT id FROM images)",
    ),
    ("faces of images that do not exist", "SELECT COUNT(*) FROM faces WHERE image_id NOT IN (SELECT id FROM images)"),
    ("faces of people that do not exist", "SELECT COUNT(*) FROM faces WHERE person_id NOT IN (SELECT id FROM people)"),
    (
        "people whose number of faces is wrong",
        """SELECT COUNT(*) FROM people AS p
           WHERE p.faces != (SELECT COUNT(*) FROM faces AS f WHERE f.person_id = p.id)""",
    ),
    ("text of images that do not exist", "SELECT COUNT(*) FROM texts WHERE image_id NOT IN (SELECT id FROM images)"),
]


def vector_index_path(home: Path | None, catalog_id: str) -> Path:
    """Where this catalog's local vector index lives: ``<home>/vectors/<catalog id>.vectors``."""
    if home is None:
        from pixlens.home import find_home

        home = find_home(None)
    folder = Path(home) / "vectors"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CatalogError(f"cannot create the folder of the catalog's vector index {folder}: {exc.strerror}") from exc
    return folder / f"{catalog_id}.vectors"


class PostgresCatalog:
    """Catalog in a PostgreSQL database (``postgresql://user@host:port/database``)."""

    def __init__(self, url: str, face_similarity: float = 0.55, home: Path | None = None) -> None:
        self.url = url
        self.db = Database(url)
        try:
            self.db.migrate()
            (catalog_id,) = self.db.read("SELECT id FROM catalog_meta")[0]
            self.vectors = Vectors(vector_index_path(home, catalog_id), face_similarity, self.db.read, self.db.snapshot)
            self.access = AccessTables(self.db.read, self._write)
            self._label_names: tuple[int, list[str], list[str]] | None = None
            self._postings = Postings(POSTGRES)
            self._since_prune = 0
        except BaseException:
            self.db.close()
            raise

    # -- transactions ----
    def _write(self, work: Callable[[Conn], Any]) -> Any:
        """Run ``work(conn)`` in one write transaction (holding the write lock: see postgres_db)."""

        def whole(conn: Conn) -> Any:
            try:
                result = work(conn)
                self.vectors.finish(conn)
            except BaseException:
                self.vectors.rolled_back()
                raise
            return result

        try:
            result = self.db.transaction(whole, "write", self.vectors.begin)
        except BaseException:
            self.vectors.rolled_back()
            raise
        self.vectors.committed()
        return result

    def _read(self, sql: str, params: Any = ()) -> list[Any]:
        return self.db.read(sql, params)

    # -- records ----
    def get(self, key: str) -> ImageRecord | None:
        return self.db.again(lambda: self._get(key))

    def _get(self, key: str) -> ImageRecord | None:
        with self.db.snapshot():
            rows = self._read("SELECT id, record::text, status, has_analysis FROM images WHERE key = %s", (key,))
            if not rows:
                return None
            image_id, text, status, has_analysis = rows[0]
            record = ImageRecord.model_validate_json(text)
            record.Status = Status(status)  # a changed image is pending while its old record stays searchable
            if has_analysis:
                self.vectors.attach(image_id, record)
            return record

    def put(self, records: Iterable[ImageRecord]) -> None:
        batch = list(records)
        if batch:
            self._write(lambda conn: self._put_all(conn, batch))

    def _put_all(self, conn: Conn, records: list[ImageRecord]) -> None:
        for record in records:
            self._put_one(conn, record)
        self._since_prune += len(records)
        if self._since_prune >= PRUNE_EVERY:
            prune_log(conn, POSTGRES)
            self._since_prune = 0

    def _put_one(self, conn: Conn, record: ImageRecord) -> None:
        plan = indexed(record)  # what the record puts into the indexes (pixlens.catalog.facets decides)
        to_match = False
        if plan is not None and self.access.hooks_exist(conn):
            to_match = analysed_anew(*self.access.previous_analysis(conn, record.ImageName), record)
        row = conn.execute(
            """INSERT INTO images (key, status, has_analysis, etag, sha256, phash, versions, record, updated_at,
                                   latitude, longitude)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (key) DO UPDATE SET status = excluded.status, has_analysis = excluded.has_analysis,
                   etag = excluded.etag, sha256 = excluded.sha256, phash = excluded.phash,
                   versions = excluded.versions, record = excluded.record, updated_at = excluded.updated_at,
                   latitude = excluded.latitude, longitude = excluded.longitude
               RETURNING id""",
            (
                record.ImageName,
                record.Status.value,
                plan is not None,
                record.ETag,
                record.ContentSha256,
                plan.phash if plan is not None else None,
                json.dumps(record.AnalyzerVersions, sort_keys=True),
                record.to_json(),
                utc_now(),
                *(plan.position if plan is not None and plan.position is not None else (None, None)),
            ),
        ).fetchone()
        assert row is not None
        image_id = int(row[0])
        self._unindex(conn, image_id, keep_faces=plan is not None)
        if plan is None:
            return
        entries = {**plan.entries, **self.vectors.index(conn, image_id, record)}
        if record.FaceDetails:  # now with the PersonId of each face
            conn.execute("UPDATE images SET record = %s WHERE id = %s", (record.to_json(), image_id))
        # One statement: the posting triggers then run once per image, not once per entry.
        conn.execute(
            """INSERT INTO label_index (label, confidence, image_id)
               SELECT label, confidence, %s FROM unnest(%s::text[], %s::float8[]) AS entry(label, confidence)""",
            (image_id, list(entries), [round(conf, 3) for conf in entries.values()]),
        )
        with conn.cursor() as cursor:
            cursor.executemany(
                """INSERT INTO label_counts (label, images) VALUES (%s, 1)
                   ON CONFLICT (label) DO UPDATE SET images = label_counts.images + 1""",
                [(label,) for label in entries],
            )
        if plan.text:
            conn.execute("INSERT INTO texts (image_id, text) VALUES (%s, %s)", (image_id, plan.text))
        if to_match:
            self.access.note_analyzed(conn, image_id)

    def _unindex(self, conn: Conn, image_id: int, keep_faces: bool = False) -> None:
        self.vectors.unindex(conn, image_id, keep_faces)
        labels = [
            row[0] for row in conn.execute("DELETE FROM label_index WHERE image_id = %s RETURNING label", (image_id,))
        ]
        if labels:
            conn.execute("UPDATE label_counts SET images = images - 1 WHERE label = ANY(%s)", (labels,))
            conn.execute("DELETE FROM label_counts WHERE label = ANY(%s) AND images <= 0", (labels,))
        conn.execute("DELETE FROM texts WHERE image_id = %s", (image_id,))

    def mark_pending(self, items: Iterable[tuple[str, str | None]], force: bool = False) -> int:
        jobs = list(items)

        def work(conn: Conn) -> int:
            marked = 0
            for key, etag in jobs:
                row = conn.execute(
                    "SELECT status, etag, sha256 FROM images WHERE key = %s FOR UPDATE", (key,)
                ).fetchone()
                state = None if row is None else ImageState(key, Status(row[0]), row[1], row[2], {})
                need = needs_work(state, etag, force=force)  # pixlens.work decides, in this transaction
                if need is None or not need.marks_pending:
                    continue
                if state is None:
                    record = ImageRecord(ImageName=key, ETag=etag)
                    conn.execute(
                        """INSERT INTO images (key, status, etag, record, updated_at)
                           VALUES (%s, 'pending', %s, %s, %s)""",
                        (key, etag, record.to_json(), utc_now()),
                    )
                else:
                    # A changed image keeps its old labels searchable until the new analysis replaces them.
                    conn.execute("UPDATE images SET status = 'pending' WHERE key = %s", (key,))
                marked += 1
            return marked

        return int(self._write(work)) if jobs else 0

    def delete(self, keys: Iterable[str]) -> int:
        wanted = list(keys)

        def work(conn: Conn) -> int:
            removed = 0
            for key in wanted:
                row = conn.execute("DELETE FROM images WHERE key = %s RETURNING id", (key,)).fetchone()
                if row is not None:
                    self._unindex(conn, int(row[0]))
                    removed += 1
            return removed

        return int(self._write(work)) if wanted else 0

    def states(self, keys: Iterable[str] | None = None) -> Iterator[ImageState]:
        sql = "SELECT key, status, etag, sha256, versions FROM images"
        if keys is None:
            rows = self._read(sql + ' ORDER BY key COLLATE "C"')
        else:
            wanted = list(keys)
            rows = self._read(sql + " WHERE key = ANY(%s)", (wanted,)) if wanted else []
        for key, status, etag, sha256, versions in rows:
            yield ImageState(key, Status(status), etag, sha256, dict(versions))

    def with_content(self, sha256s: Iterable[str]) -> list[str]:
        wanted = sorted(set(sha256s))
        if not wanted:
            return []
        return [row[0] for row in self._read("SELECT key FROM images WHERE sha256 = ANY(%s)", (wanted,))]

    # -- search ----
    def search(self, query: Node, resolve: Resolver, limit: int = 20, offset: int = 0) -> list[Hit]:
        return self.page(query, resolve, limit, offset)[0]

    def page(
        self, query: Node, resolve: Resolver, limit: int = 20, offset: int = 0, after: tuple[float, int] | None = None
    ) -> tuple[list[Hit], int]:
        """One page of hits, best first, and the number of all hits (one snapshot)."""
        return self.db.again(lambda: self._page(query, resolve, limit, offset, after))

    def _page(
        self, query: Node, resolve: Resolver, limit: int, offset: int, after: tuple[float, int] | None
    ) -> tuple[list[Hit], int]:
        with self._search_read() as (conn, built):
            evaluation = self._evaluate(conn, query, resolve, built)
            page = evaluation.page(limit, offset, after)
            return self._hits(query, resolve, page), evaluation.count()

    def facets(self, query: Node, resolve: Resolver, entries: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(entries))
        return self.db.again(lambda: self._facets(query, resolve, wanted))

    def _facets(self, query: Node, resolve: Resolver, wanted: list[str]) -> dict[str, int]:
        with self._search_read() as (conn, built):
            hits = self._evaluate(conn, query, resolve, built).matching(query)
            if not wanted or not hits:
                return {}
            found, new = self._postings.get(conn, wanted)
            built.extend(new)
            return {entry: hits.intersection_cardinality(p.bitmap) for entry, p in zip(wanted, found, strict=True)}

    def count(self, query: Node, resolve: Resolver) -> int:
        return self.db.again(lambda: self._count(query, resolve))

    def _count(self, query: Node, resolve: Resolver) -> int:
        with self._search_read() as (conn, built):
            return self._evaluate(conn, query, resolve, built).count()

    def matching(self, query: Node, resolve: Resolver, keys: Iterable[str]) -> list[str]:
        wanted = list(keys)
        if not wanted:
            return []
        return self.db.again(lambda: self._matching(query, resolve, wanted))

    def _matching(self, query: Node, resolve: Resolver, wanted: list[str]) -> list[str]:
        with self._search_read() as (conn, built):
            hits = self._evaluate(conn, query, resolve, built).matching(query)
            rows = self._read("SELECT id, key FROM images WHERE key = ANY(%s)", (wanted,))
            return [key for image_id, key in rows if image_id in hits]

    @contextmanager
    def _search_read(self) -> Iterator[tuple[Conn, Built]]:
        """One read transaction for a search; the large postings built in it are saved after it."""
        built: Built = []
        with self.db.snapshot() as conn:
            yield conn, built
        if built:
            self._save_postings(built)

    def _save_postings(self, built: Built) -> None:
        """Keep large postings for the next process, each only if its entry has not changed since it was read (a
        cache: a failure only costs the next process a rebuild)."""

        def work(conn: Conn) -> None:
            with conn.transaction():
                for entry, generation, posting in built:
                    conn.execute(
                        """INSERT INTO postings (entry, generation, bitmap, scores, ranked, ranked_scores)
                           SELECT %(entry)s, %(generation)s, %(bitmap)s, %(scores)s, %(ranked)s, %(ranked_scores)s
                           WHERE COALESCE((SELECT generation FROM posting_generations WHERE entry = %(entry)s), 0)
                                 = %(generation)s
                           ON CONFLICT (entry) DO UPDATE SET generation = excluded.generation,
                               bitmap = excluded.bitmap, scores = excluded.scores, ranked = excluded.ranked,
                               ranked_scores = excluded.ranked_scores""",
                        saved_row(entry, generation, posting),
                    )

        with suppress(CatalogError):
            self.db.run(work, "save postings")

    def _evaluate(self, conn: Conn, query: Node, resolve: Resolver, built: Built) -> Evaluation:
        def postings(entries: list[str], op: str | None, threshold: float | None, scale: Scale) -> Posting:
            found, new = self._postings.term(conn, entries, op, threshold, scale)
            built.extend(new)
            return found

        def fetch(term: Term) -> Posting:
            weights = weighted(resolve(term))
            entries = list(weights)
            if not entries:
                return Posting.empty()
            if entries[0].startswith(TEXT):
                found = self._text(entries[0].removeprefix(TEXT))
            elif entries[0].startswith(NEAR):
                found = self._near(entries[0].removeprefix(NEAR))
            else:
                scale = tuple(weights.values()) if any(w != 1.0 for w in weights.values()) else None
                return postings(entries, term.op, term.threshold, scale)
            if term.op is not None and term.threshold is not None:
                found = found.within(term.op, term.threshold)
            return found

        def universe() -> BitMap:
            return postings([UNIVERSE], None, None, None).bitmap

        return Evaluation(query, fetch, universe)

    def _text(self, phrase: str) -> Posting:
        """Images whose text holds the phrase (stemmed words, any case); a match scores 100, as in SQLite."""
        rows = self._read(
            "SELECT image_id FROM texts WHERE words @@ phraseto_tsquery(%s::regconfig, %s)",
            (TEXT_CONFIG, " ".join(phrase.split())),
        )
        ids = np.fromiter((row[0] for row in rows), np.uint32, len(rows))
        return Posting.from_rows(ids, np.full(len(rows), 100.0)) if len(rows) else Posting.empty()

    def _near(self, circle_text: str) -> Posting:
        """The images within a circle ("latitude,longitude,radius_km"), scored 100 at the centre down to 0 at the
        edge (as SQLite's)."""
        latitude, longitude, radius = (float(part) for part in circle_text.split(","))
        circle = Circle(latitude, longitude, radius)
        rows: dict[int, tuple[float, float]] = {}
        for south, north, west, east in circle.boxes():
            for image_id, lat, lon in self._read(
                """SELECT id, latitude, longitude FROM images
                   WHERE latitude BETWEEN %s AND %s AND longitude BETWEEN %s AND %s AND has_analysis""",
                (south, north, west, east),
            ):
                rows[image_id] = (lat, lon)
        if not rows:
            return Posting.empty()
        ids = np.fromiter(rows, np.uint32, len(rows))
        where = np.array(list(rows.values()), dtype=np.float64)
        distances = circle.distances(where[:, 0], where[:, 1])
        inside = distances <= radius
        scores = np.clip(100.0 * (1.0 - distances[inside] / radius), 0.0, 100.0)
        return Posting.from_rows(ids[inside], scores)

    def _hits(self, query: Node, resolve: Resolver, page: list[tuple[int, float]]) -> list[Hit]:
        """Keys and matched labels for the rows of one page only."""
        if not page:
            return []
        ids = [image_id for image_id, _ in page]
        keys = dict(self._read("SELECT id, key FROM images WHERE id = ANY(%s)", (ids,)))
        matched: dict[int, dict[str, float]] = {image_id: {} for image_id in ids}
        entries = positive_entries(query, resolve)
        if entries:
            for label, confidence, image_id in self._read(
                "SELECT label, confidence, image_id FROM label_index WHERE image_id = ANY(%s) AND label = ANY(%s)",
                (ids, entries),
            ):
                matched[image_id][label.removeprefix(CATEGORY)] = confidence
        return [
            Hit(key=keys[image_id], score=round(score, 2), matched=matched[image_id], place=(score, image_id))
            for image_id, score in page
            if image_id in keys
        ]

    # -- labels, entries, counts ----
    def labels(self) -> list[tuple[str, int]]:
        rows = self._read('SELECT label, images FROM label_counts ORDER BY images DESC, label COLLATE "C"')
        return [(label, count) for label, count in rows if is_label(label)]

    def label_names(self) -> list[str]:
        return self._entries()[1]

    def generation(self) -> None:
        """Not known cheaply here (it would be a round trip to the server): answers are never reused."""
        return None

    def entries(self, prefix: str) -> list[str]:
        every = self._entries()[2]
        return every[bisect.bisect_left(every, prefix) : bisect.bisect_left(every, prefix + "\U0010ffff")]

    def _entries(self) -> tuple[int, list[str], list[str]]:
        """Every entry, kept while no label appears or disappears (a generation bumped by a trigger)."""
        generation = self._read("SELECT value FROM generations WHERE name = %s", (LABEL_NAMES,))[0][0]
        kept = self._label_names
        if kept is None or kept[0] != generation:
            every = sorted(row[0] for row in self._read("SELECT label FROM label_counts"))
            kept = self._label_names = (generation, [name for name in every if is_label(name)], every)
        return kept

    def person_names(self, person_ids: Iterable[int]) -> dict[int, str]:
        wanted = sorted(set(person_ids))
        rows = self._read("SELECT id, name FROM people WHERE name IS NOT NULL AND id = ANY(%s)", (wanted,))
        return {person_id: name for person_id, name in rows}

    def top_people(self, limit: int) -> list[tuple[int, str | None]]:
        rows = self._read("SELECT id, name FROM people ORDER BY faces DESC, id LIMIT %s", (limit,))
        return [(person_id, name) for person_id, name in rows]

    def status_counts(self) -> dict[str, int]:
        by_status = dict.fromkeys((status.value for status in Status), 0)
        by_status.update({status: n for status, n in self._read("SELECT status, COUNT(*) FROM images GROUP BY status")})
        return by_status

    def failures(self, limit: int = 100) -> list[tuple[str, str | None, str]]:
        rows = self._read(
            """SELECT key, record->>'Error', updated_at FROM images WHERE status = %s
               ORDER BY updated_at DESC, id DESC LIMIT %s""",
            (Status.FAILED.value, limit),
        )
        return [(key, error, at) for key, error, at in rows]

    def stats(self) -> dict[str, object]:
        by_status = self.status_counts()
        (counts,) = self._read(
            """SELECT (SELECT COUNT(*) FROM texts), (SELECT COUNT(*) FROM faces), (SELECT COUNT(*) FROM people),
                      (SELECT COUNT(*) FROM embeddings), pg_database_size(current_database())"""
        )
        with_text, faces, people, embeddings, size = counts
        return {
            "catalog": self.db.shown,
            "images": sum(by_status.values()),
            **by_status,
            "labels": len(self.label_names()),
            "with_text": with_text,
            "faces": faces,
            "people": people,
            "embeddings": embeddings,
            "vectors": f"local index at {self.vectors.index_path} (this PostgreSQL has no pgvector)",
            "bytes": size,
        }

    # -- vectors, people, duplicates ----
    def similar(self, key: str, k: int = 10) -> list[tuple[str, float]]:
        rows = self._read("SELECT id FROM images WHERE key = %s", (key,))
        if not rows:
            return []
        found = self.db.again(lambda: self.vectors.similar(rows[0][0], k))
        ids = [image_id for image_id, _ in found]
        keys = dict(self._read("SELECT id, key FROM images WHERE id = ANY(%s)", (ids,))) if ids else {}
        return [(keys[image_id], round(similarity, 4)) for image_id, similarity in found if image_id in keys]

    def people(self) -> list[PersonRow]:
        return self.vectors.person_rows()

    def person_ids(self, name: str) -> list[int]:
        return self.vectors.person_ids(name)

    def name_person(self, person_id: int, name: str | None) -> bool:
        return bool(self._write(lambda conn: self.vectors.rename(conn, person_id, name)))

    def duplicates(
        self, max_hash_distance: int | None = None, min_similarity: float | None = None
    ) -> list[DuplicateSet]:
        from pixlens.duplicates import duplicate_sets

        rows = self._read("SELECT id, key, sha256, phash FROM images WHERE has_analysis ORDER BY id")
        images = [(image_id, key, sha, phash) for image_id, key, sha, phash in rows]
        return self.db.again(lambda: duplicate_sets(images, self.vectors, max_hash_distance, min_similarity))

    # -- API keys, hooks, deliveries (postgres_access.py) ----
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

    def add_deliveries(self, deliveries: Iterable[DeliveryRow], matched: Iterable[str] = ()) -> None:
        self.access.add_deliveries(deliveries, matched)

    def unmatched(self, limit: int = 500) -> list[str]:
        return self.access.unmatched(limit)

    def claim_deliveries(self, due_by: str, lease_until: str, limit: int) -> list[DeliveryRow]:
        return self.access.claim_deliveries(due_by, lease_until, limit)

    def update_delivery(self, delivery: DeliveryRow) -> None:
        self.access.update_delivery(delivery)

    def deliveries(self, hook: str | None = None, limit: int = 100) -> list[DeliveryRow]:
        return self.access.deliveries(hook, limit)

    def check(self) -> list[str]:
        """The catalog's own rules, each a count of the rows that break it (PostgreSQL checks its own pages)."""
        found = []
        with self.db.snapshot():
            for what, sql in RULES:
                (count,) = self._read(sql)[0]
                if count:
                    found.append(f"{what}: {count}")
        return found

    def close(self) -> None:
        try:
            self.vectors.save()
        finally:
            self.db.close()


def open_postgres(url: str, face_similarity: float = 0.55, home: Path | None = None) -> PostgresCatalog:
    """The catalog of a ``postgresql://`` (or ``postgres://``) URL (the registry's factory)."""
    if urlsplit(url).scheme.lower() == "postgres":
        url = "postgresql" + url[len("postgres") :]
    return PostgresCatalog(url, face_similarity, home)
