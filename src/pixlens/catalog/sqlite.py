"""The SQLite catalog: the embedded default.

One row per image (the record as JSON plus the columns reconcile needs) and an inverted index
``label_index(label, confidence, image_id)`` that holds every label, every parent and every category of each image,
so that "all images with X" is one index range read, already in confidence order. WAL mode; all writes go
through one connection under a lock, reads use one connection per thread.
"""

from __future__ import annotations

import bisect
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

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
from pixlens.catalog.facets import CATEGORY, analysed_anew, backfill, indexed, is_label
from pixlens.catalog.postings import LOG_MIGRATION as POSTING_LOG_MIGRATION
from pixlens.catalog.postings import MIGRATION as POSTINGS_MIGRATION
from pixlens.catalog.postings import UNIVERSE, Postings, prune_log
from pixlens.catalog.sets import Evaluation, Posting
from pixlens.catalog.sqlite_access import HOOKS_MIGRATION, KEYS_MIGRATION, MATCHES_MIGRATION, AccessTables
from pixlens.catalog.sqlite_check import check_catalog
from pixlens.catalog.sqlite_errors import catalog_error, read_only_message
from pixlens.catalog.sqlite_migrations import HAS_TEXT_MIGRATION, kind_migration
from pixlens.catalog.sqlite_vectors import GENERATIONS_MIGRATION, Vectors
from pixlens.catalog.sqlite_vectors import MIGRATION as VECTORS_MIGRATION
from pixlens.catalog.sqlplan import NEAR, TEXT, positive_entries, text_sql
from pixlens.errors import CatalogError
from pixlens.geo import Circle
from pixlens.query import Node, Term
from pixlens.record import ImageRecord, Status, utc_now
from pixlens.work import needs_work

LABEL_NAMES = "label_names"
LABEL_NAMES_MIGRATION = f"""
INSERT INTO generations VALUES ('{LABEL_NAMES}', 0);
CREATE TRIGGER label_names_added AFTER INSERT ON label_counts BEGIN
    UPDATE generations SET value = value + 1 WHERE name = '{LABEL_NAMES}';
END;
CREATE TRIGGER label_names_removed AFTER DELETE ON label_counts BEGIN
    UPDATE generations SET value = value + 1 WHERE name = '{LABEL_NAMES}';
END
"""

POSITION_COLUMNS = """
ALTER TABLE images ADD COLUMN latitude REAL;
ALTER TABLE images ADD COLUMN longitude REAL;
CREATE INDEX images_by_position ON images(latitude, longitude) WHERE latitude IS NOT NULL
"""
BACKFILL_BATCH = 1000


def when_and_where_migration(conn: sqlite3.Connection) -> None:
    """Catalogs made before taken:, make:, place:, near:, width and orientation: every analysed record gets those
    entries, its position and (with GPS) its ``Location``, from the JSON it holds: no image is analysed again."""
    for statement in statements(POSITION_COLUMNS):
        conn.execute(statement)
    last = -1
    while True:
        rows = conn.execute(
            """SELECT id, json_extract(record, '$.Exif', '$.Width', '$.Height', '$.Location') FROM images
               WHERE has_analysis = 1 AND id > ? ORDER BY id LIMIT ?""",
            (last, BACKFILL_BATCH),
        ).fetchall()
        if not rows:
            return
        for image_id, packed in rows:
            exif, width, height, location = json.loads(packed)
            found, entries, where = backfill(
                exif if isinstance(exif, dict) else None,
                width if isinstance(width, int) else None,
                height if isinstance(height, int) else None,
                location if isinstance(location, dict) else None,
            )
            if found is not None:
                conn.execute(
                    "UPDATE images SET record = json_set(record, '$.Location', json(?)) WHERE id = ?",
                    (json.dumps(found), image_id),
                )
            if where is not None:
                conn.execute("UPDATE images SET latitude = ?, longitude = ? WHERE id = ?", (*where, image_id))
            conn.executemany(
                "INSERT OR IGNORE INTO label_index (label, confidence, image_id) VALUES (?, ?, ?)",
                [(entry, round(value, 3), image_id) for entry, value in entries.items()],
            )
            conn.executemany(
                """INSERT INTO label_counts (label, images) VALUES (?, 1)
                   ON CONFLICT(label) DO UPDATE SET images = images + 1""",
                [(entry,) for entry in entries],
            )
        last = rows[-1][0]


Migration = str | Callable[[sqlite3.Connection], None]  # SQL, or a step that reads and writes rows

MIGRATIONS: list[tuple[str, Migration]] = [
    (
        "0001_images_and_label_index",
        """
        CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL,
            has_analysis INTEGER NOT NULL DEFAULT 0,
            etag TEXT,
            sha256 TEXT,
            versions TEXT NOT NULL DEFAULT '{}',
            record TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX images_by_status ON images(status);
        CREATE TABLE label_index (
            label TEXT NOT NULL,
            confidence REAL NOT NULL,
            image_id INTEGER NOT NULL,
            PRIMARY KEY (label, confidence, image_id)
        ) WITHOUT ROWID;
        CREATE INDEX label_index_by_image ON label_index(image_id, label, confidence);
        CREATE TABLE label_counts (
            label TEXT PRIMARY KEY,
            images INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        "0002_text_index",
        """
        CREATE VIRTUAL TABLE text_fts USING fts5(text, tokenize = 'porter unicode61 remove_diacritics 2');
        """,
    ),
    ("0003_vectors_faces_people", VECTORS_MIGRATION),
    ("0004_postings_for_search", POSTINGS_MIGRATION),
    ("0005_generations", GENERATIONS_MIGRATION),
    ("0006_images_by_content", "CREATE INDEX images_by_sha256 ON images(sha256)"),
    ("0007_has_text_entry", HAS_TEXT_MIGRATION),
    ("0008_api_keys", KEYS_MIGRATION),
    ("0009_hooks_and_deliveries", HOOKS_MIGRATION),
    ("0010_posting_log", POSTING_LOG_MIGRATION),
    ("0011_label_names_generation", LABEL_NAMES_MIGRATION),
    ("0012_hook_matches", MATCHES_MIGRATION),
    ("0013_when_and_where", when_and_where_migration),
    ("0014_people_and_screenshots", kind_migration),
]


PRUNE_EVERY = 1000  # records written between prunings of posting_log
SCHEMA_VERSION = len(MIGRATIONS)  # PRAGMA user_version of a catalog this code made or migrated


def statements(script: str) -> Iterator[str]:
    """The statements of a migration (a trigger's body holds semicolons of its own)."""
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                yield current
            current = ""


class SqliteCatalog:
    """Catalog in one SQLite file (``sqlite:///path/to/catalog.db``)."""

    def __init__(self, path: Path | str, face_similarity: float = 0.55) -> None:
        self.path = Path(path)
        self._refuse_read_only()
        self.vectors = Vectors(self.path, face_similarity, self._read, self._snapshot)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._postings = Postings()
        self._postings_lock = threading.Lock()
        self._postings_writer: sqlite3.Connection | None = None
        self._since_prune = 0  # records written since posting_log was last pruned
        self._label_names: tuple[int, list[str], list[str]] | None = None  # generation, labels, every entry
        self._watcher: sqlite3.Connection | None = None  # never writes: its data_version moves with every commit
        self._watcher_lock = threading.Lock()
        self._writer = self._connect()
        self.access = AccessTables(self._read, self._write)
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # -- connections ----
    def _refuse_read_only(self) -> None:
        """A clear error up front: SQLite would only fail at the first write, or half-way (WAL files)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogError(f"cannot create the catalog's folder {self.path.parent}: {exc.strerror}") from exc
        if self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK):
            raise CatalogError(read_only_message(self.path, "the file is not writable"))
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise CatalogError(read_only_message(self.path, f"its folder {self.path.parent} is not writable"))

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA cache_size=-65536")
        except sqlite3.Error as exc:
            raise catalog_error(exc, self.path, "open") from exc
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _open(self) -> None:
        """Check that the file is a catalog this code can read (cheaply: header and schema), then migrate."""
        conn = self._writer
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("SELECT name FROM sqlite_master").fetchall()  # reads the header and every schema page
        except sqlite3.Error as exc:
            raise catalog_error(exc, self.path, "open") from exc
        self._migrate()

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on this thread's read connection: several statements see one state of the file."""
        conn = self._reader()
        if conn.in_transaction:  # already inside one (a generator still reading)
            yield conn
            return
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise catalog_error(exc, self.path, "read") from exc

    def _applied(self, conn: sqlite3.Connection) -> list[str]:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'").fetchone():
            return []
        return [row[0] for row in conn.execute("SELECT name FROM migrations")]

    def _refuse_newer(self, conn: sqlite3.Connection, applied: list[str]) -> None:
        known = {name for name, _ in MIGRATIONS}
        unknown = sorted(name for name in applied if name not in known)
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if unknown or version > SCHEMA_VERSION:
            found = f"schema version {max(version, len(applied))}" + (f", with {', '.join(unknown)}" if unknown else "")
            raise CatalogError(
                f"the catalog {self.path} was written by a newer pixlens ({found}); this pixlens reads schema "
                f"versions up to {SCHEMA_VERSION}: upgrade pixlens to use it"
            )

    def _migrate(self) -> None:
        """Apply the migrations this catalog lacks; opening an up-to-date catalog writes nothing."""
        with self._write_lock:
            conn = self._writer
            try:
                applied = self._applied(conn)
                self._refuse_newer(conn, applied)
                if len(applied) == len(MIGRATIONS):
                    return
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
                    )
                    applied = self._applied(conn)  # another process may have migrated meanwhile
                    self._refuse_newer(conn, applied)
                    for name, sql in MIGRATIONS:
                        if name in applied:
                            continue
                        if isinstance(sql, str):
                            for statement in statements(sql):
                                conn.execute(statement)
                        else:
                            sql(conn)
                        conn.execute("INSERT INTO migrations VALUES (?, ?)", (name, utc_now()))
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
            except sqlite3.Error as exc:
                raise catalog_error(exc, self.path, "migrate") from exc

    def _write(self, work: Any) -> Any:
        """Run ``work(conn)`` in one write transaction.

        The transaction holds SQLite's write lock from BEGIN IMMEDIATE on, so ``vectors.begin`` sees every change
        other processes committed before it, and none can come in until COMMIT.
        """
        with self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self.vectors.begin(conn)
                    result = work(conn)
                    self.vectors.finish(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    self.vectors.rolled_back()
                    raise
            except sqlite3.Error as exc:
                raise catalog_error(exc, self.path, "write") from exc
            self.vectors.committed()
            return result

    def _read(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[Any]:
        try:
            bound = params if isinstance(params, dict) else tuple(params)
            return self._reader().execute(sql, bound).fetchall()
        except sqlite3.Error as exc:
            raise catalog_error(exc, self.path, "read") from exc

    # -- records ----
    def get(self, key: str) -> ImageRecord | None:
        rows = self._read("SELECT id, record, status, has_analysis FROM images WHERE key = ?", (key,))
        if not rows:
            return None
        image_id, text, status, has_analysis = rows[0]
        record = ImageRecord.model_validate_json(text)
        record.Status = Status(status)  # a changed image is pending while its old record stays searchable
        if has_analysis:  # only an analysis has vectors (a failed or never analysed image: none to read)
            self.vectors.attach(image_id, record)
        return record

    def put(self, records: Iterable[ImageRecord]) -> None:
        batch = list(records)
        if batch:
            self._write(lambda conn: self._put_all(conn, batch))

    def _put_all(self, conn: sqlite3.Connection, records: list[ImageRecord]) -> None:
        for record in records:
            self._put_one(conn, record)
        self._since_prune += len(records)
        if self._since_prune >= PRUNE_EVERY:
            prune_log(conn)
            self._since_prune = 0

    def _put_one(self, conn: sqlite3.Connection, record: ImageRecord) -> None:
        plan = indexed(record)  # what the record puts into the indexes (pixlens.catalog.facets decides)
        to_match = False
        if plan is not None and self.access.hooks_exist(conn):
            to_match = analysed_anew(*self.access.previous_analysis(conn, record.ImageName), record)
        row = conn.execute(
            """INSERT INTO images (key, status, has_analysis, etag, sha256, phash, versions, record, updated_at,
                                   latitude, longitude)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(key) DO UPDATE SET status = excluded.status, has_analysis = excluded.has_analysis,
                   etag = excluded.etag, sha256 = excluded.sha256, phash = excluded.phash,
                   versions = excluded.versions, record = excluded.record, updated_at = excluded.updated_at,
                   latitude = excluded.latitude, longitude = excluded.longitude
               RETURNING id""",
            (
                record.ImageName,
                record.Status.value,
                int(plan is not None),
                record.ETag,
                record.ContentSha256,
                plan.phash if plan is not None else None,
                json.dumps(record.AnalyzerVersions, sort_keys=True),
                record.to_json(),
                utc_now(),
                *(plan.position if plan is not None and plan.position is not None else (None, None)),
            ),
        ).fetchone()
        image_id = row[0]
        self._unindex(conn, image_id, keep_faces=plan is not None)
        if plan is None:
            return
        entries = {**plan.entries, **self.vectors.index(conn, image_id, record)}
        if record.FaceDetails:  # now with the PersonId of each face
            conn.execute("UPDATE images SET record = ? WHERE id = ?", (record.to_json(), image_id))
        conn.executemany(
            "INSERT INTO label_index (label, confidence, image_id) VALUES (?, ?, ?)",
            [(label, round(conf, 3), image_id) for label, conf in entries.items()],
        )
        if plan.text:
            conn.execute("INSERT INTO text_fts (rowid, text) VALUES (?, ?)", (image_id, plan.text))
        if to_match:
            self.access.note_analyzed(conn, image_id)
        conn.executemany(
            """INSERT INTO label_counts (label, images) VALUES (?, 1)
               ON CONFLICT(label) DO UPDATE SET images = images + 1""",
            [(label,) for label in entries],
        )

    def _unindex(self, conn: sqlite3.Connection, image_id: int, keep_faces: bool = False) -> None:
        self.vectors.unindex(conn, image_id, keep_faces)
        conn.execute(
            """UPDATE label_counts SET images = images - 1
               WHERE label IN (SELECT label FROM label_index WHERE image_id = ?)""",
            (image_id,),
        )
        conn.execute("DELETE FROM label_counts WHERE images <= 0")
        conn.execute("DELETE FROM label_index WHERE image_id = ?", (image_id,))
        conn.execute("DELETE FROM text_fts WHERE rowid = ?", (image_id,))

    def mark_pending(self, items: Iterable[tuple[str, str | None]], force: bool = False) -> int:
        jobs = list(items)

        def work(conn: sqlite3.Connection) -> int:
            marked = 0
            for key, etag in jobs:
                row = conn.execute("SELECT status, etag, sha256 FROM images WHERE key = ?", (key,)).fetchone()
                state = None if row is None else ImageState(key, Status(row[0]), row[1], row[2], {})
                need = needs_work(state, etag, force=force)  # pixlens.work decides, in this transaction
                if need is None or not need.marks_pending:
                    continue
                if state is None:
                    record = ImageRecord(ImageName=key, ETag=etag)
                    conn.execute(
                        """INSERT INTO images (key, status, etag, record, updated_at)
                           VALUES (?, 'pending', ?, ?, ?)""",
                        (key, etag, record.to_json(), utc_now()),
                    )
                else:
                    # A changed image keeps its old labels searchable until the new analysis replaces them.
                    conn.execute("UPDATE images SET status = 'pending' WHERE key = ?", (key,))
                marked += 1
            return marked

        return int(self._write(work)) if jobs else 0

    def delete(self, keys: Iterable[str]) -> int:
        wanted = list(keys)

        def work(conn: sqlite3.Connection) -> int:
            removed = 0
            for key in wanted:
                row = conn.execute("SELECT id FROM images WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    self._unindex(conn, row[0])
                    conn.execute("DELETE FROM images WHERE id = ?", (row[0],))
                    removed += 1
            return removed

        return int(self._write(work)) if wanted else 0

    def states(self, keys: Iterable[str] | None = None) -> Iterator[ImageState]:
        sql = "SELECT key, status, etag, sha256, versions FROM images"
        if keys is None:
            rows = self._read(sql + " ORDER BY key")
        else:
            wanted = list(keys)
            rows = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows += self._read(f"{sql} WHERE key IN ({','.join('?' * len(chunk))})", chunk)
        for key, status, etag, sha256, versions in rows:
            yield ImageState(key, Status(status), etag, sha256, json.loads(versions))

    def with_content(self, sha256s: Iterable[str]) -> list[str]:
        wanted = sorted(set(sha256s))
        keys: list[str] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            sql = f"SELECT key FROM images WHERE sha256 IN ({','.join('?' * len(chunk))})"
            keys += [row[0] for row in self._read(sql, chunk)]
        return keys

    # -- search ----
    def search(self, query: Node, resolve: Resolver, limit: int = 20, offset: int = 0) -> list[Hit]:
        return self.page(query, resolve, limit, offset)[0]

    def page(
        self, query: Node, resolve: Resolver, limit: int = 20, offset: int = 0, after: tuple[float, int] | None = None
    ) -> tuple[list[Hit], int]:
        """One page of hits, best first, and the number of all hits (one snapshot: a write meanwhile is seen
        entirely or not at all)."""
        with self._search_read() as built:
            evaluation = self._evaluate(query, resolve, built)
            page = evaluation.page(limit, offset, after)
            return self._hits(query, resolve, page), evaluation.count()

    def facets(self, query: Node, resolve: Resolver, entries: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(entries))
        with self._search_read() as built:
            hits = self._evaluate(query, resolve, built).matching(query)
            counts: dict[str, int] = {}
            if wanted and hits:
                found, new = self._postings.get(self._reader(), wanted)
                built.extend(new)
                counts = {
                    entry: hits.intersection_cardinality(p.bitmap) for entry, p in zip(wanted, found, strict=True)
                }
            return counts

    def count(self, query: Node, resolve: Resolver) -> int:
        with self._search_read() as built:
            return self._evaluate(query, resolve, built).count()

    def matching(self, query: Node, resolve: Resolver, keys: Iterable[str]) -> list[str]:
        wanted = list(keys)
        if not wanted:
            return []
        with self._search_read() as built:
            hits = self._evaluate(query, resolve, built).matching(query)
            found: list[str] = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = self._read(f"SELECT id, key FROM images WHERE key IN ({','.join('?' * len(chunk))})", chunk)
                found += [key for image_id, key in rows if image_id in hits]
            return found

    @contextmanager
    def _search_read(self) -> Iterator[list[tuple[str, int, Posting]]]:
        """One read transaction for a search; the postings built in it are saved after it."""
        built: list[tuple[str, int, Posting]] = []
        with self._snapshot():
            yield built
        if built:
            self._save_postings(built)

    def _evaluate(self, query: Node, resolve: Resolver, built: list[tuple[str, int, Posting]]) -> Evaluation:
        conn = self._reader()

        def read(load: Callable[[], tuple[Posting, list[tuple[str, int, Posting]]]]) -> Posting:
            try:
                found, new = load()
            except sqlite3.Error as exc:
                raise CatalogError(f"catalog read failed ({self.path}): {exc}") from exc
            built.extend(new)
            return found

        def fetch(term: Term) -> Posting:
            weights = weighted(resolve(term))
            entries = list(weights)
            if not entries:
                return Posting.empty()
            if entries[0].startswith(TEXT):
                sql, params = text_sql(entries[0].removeprefix(TEXT))
                rows = self._read(sql, params)
                ids = np.fromiter((row[0] for row in rows), np.uint32, len(rows))
                found = Posting.from_rows(ids, np.fromiter((row[1] for row in rows), np.float64, len(rows)))
                if term.op is not None and term.threshold is not None:
                    found = found.within(term.op, term.threshold)
                return found
            if entries[0].startswith(NEAR):
                found = self._near(entries[0].removeprefix(NEAR))
                if term.op is not None and term.threshold is not None:
                    found = found.within(term.op, term.threshold)
                return found
            scale = tuple(weights.values()) if any(w != 1.0 for w in weights.values()) else None
            return read(lambda: self._postings.term(conn, entries, term.op, term.threshold, scale))

        def universe() -> BitMap:
            return read(lambda: self._postings.term(conn, [UNIVERSE], None, None)).bitmap

        return Evaluation(query, fetch, universe)

    def _near(self, circle_text: str) -> Posting:
        """The images within a circle ("latitude,longitude,radius_km"): candidates from boxes of the position index,
        then the exact great-circle distance; a hit scores 100 at the centre down to 0 at the edge (included)."""
        latitude, longitude, radius = (float(part) for part in circle_text.split(","))
        circle = Circle(latitude, longitude, radius)
        rows: dict[int, tuple[float, float]] = {}
        for south, north, west, east in circle.boxes():
            for image_id, lat, lon in self._read(
                """SELECT id, latitude, longitude FROM images
                   WHERE latitude BETWEEN ? AND ? AND longitude BETWEEN ? AND ? AND has_analysis = 1""",
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

    def _save_postings(self, built: list[tuple[str, int, Posting]]) -> None:
        """Keep large postings for the next process; a cache, so a busy or read-only catalog just skips it."""
        if not self._postings_lock.acquire(blocking=False):
            return
        try:
            if self._postings_writer is None:
                self._postings_writer = self._connect()
                self._postings_writer.execute("PRAGMA busy_timeout=0")
            self._postings.save(self._postings_writer, built)
        except (sqlite3.Error, CatalogError):
            pass
        finally:
            self._postings_lock.release()

    def _hits(self, query: Node, resolve: Resolver, page: list[tuple[int, float]]) -> list[Hit]:
        """Keys and matched labels for the rows of one page only."""
        if not page:
            return []
        ids = [image_id for image_id, _ in page]
        marks = ",".join("?" * len(ids))
        keys = dict(self._read(f"SELECT id, key FROM images WHERE id IN ({marks})", ids))
        matched: dict[int, dict[str, float]] = {image_id: {} for image_id in ids}
        entries = positive_entries(query, resolve)
        if entries:
            for label, confidence, image_id in self._read(
                f"""SELECT label, confidence, image_id FROM label_index
                    WHERE image_id IN ({marks}) AND label IN ({",".join("?" * len(entries))})""",
                [*ids, *entries],
            ):
                matched[image_id][label.removeprefix(CATEGORY)] = confidence
        return [
            Hit(key=keys[image_id], score=round(score, 2), matched=matched[image_id], place=(score, image_id))
            for image_id, score in page
            if image_id in keys
        ]

    def labels(self) -> list[tuple[str, int]]:
        rows = self._read("SELECT label, images FROM label_counts ORDER BY images DESC, label")
        return [(label, count) for label, count in rows if is_label(label)]

    def label_names(self) -> list[str]:
        """Kept while no label appears or disappears (a generation bumped by triggers on ``label_counts``): every
        search asks for them."""
        return self._entries()[1]

    def generation(self) -> int:
        """SQLite's ``data_version`` as a connection that never writes sees it: it changes at every commit of any
        other connection, in this process or another (microseconds: no table is read)."""
        with self._watcher_lock:
            if self._watcher is None:
                self._watcher = self._connect()
            try:
                return int(self._watcher.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error as exc:
                raise catalog_error(exc, self.path, "read") from exc

    def entries(self, prefix: str) -> list[str]:
        """Every index entry that starts with ``prefix``, sorted (``place:``, ``make:``...), kept as label_names."""
        every = self._entries()[2]
        return every[bisect.bisect_left(every, prefix) : bisect.bisect_left(every, prefix + "\U0010ffff")]

    def _entries(self) -> tuple[int, list[str], list[str]]:
        generation = self._read(f"SELECT value FROM generations WHERE name = '{LABEL_NAMES}'")[0][0]
        kept = self._label_names
        if kept is None or kept[0] != generation:
            every = sorted(row[0] for row in self._read("SELECT label FROM label_counts"))
            kept = self._label_names = (generation, [name for name in every if is_label(name)], every)
        return kept

    def person_names(self, person_ids: Iterable[int]) -> dict[int, str]:
        wanted = sorted(set(person_ids))
        marks = ",".join("?" * len(wanted))
        rows = self._read(f"SELECT id, name FROM people WHERE name IS NOT NULL AND id IN ({marks})", wanted)
        return {person_id: name for person_id, name in rows}

    def top_people(self, limit: int) -> list[tuple[int, str | None]]:
        return [
            (pid, name)
            for pid, name in self._read("SELECT id, name FROM people ORDER BY faces DESC, id LIMIT ?", (limit,))
        ]

    def status_counts(self) -> dict[str, int]:
        by_status = dict.fromkeys((status.value for status in Status), 0)
        by_status.update(
            {status: count for status, count in self._read("SELECT status, COUNT(*) FROM images GROUP BY status")}
        )
        return by_status

    def failures(self, limit: int = 100) -> list[tuple[str, str | None, str]]:
        rows = self._read(
            """SELECT key, json_extract(record, '$.Error'), updated_at FROM images WHERE status = ?
               ORDER BY updated_at DESC, id DESC LIMIT ?""",
            (Status.FAILED.value, limit),
        )
        return [(key, error, at) for key, error, at in rows]

    def stats(self) -> dict[str, object]:
        by_status = self.status_counts()
        labels = len(self.label_names())
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return {
            "catalog": str(self.path),
            "images": sum(by_status.values()),
            **by_status,
            "labels": labels,
            "with_text": self._read("SELECT COUNT(*) FROM text_fts")[0][0],
            "faces": self._read("SELECT COUNT(*) FROM faces")[0][0],
            "people": self._read("SELECT COUNT(*) FROM people")[0][0],
            "embeddings": self._read("SELECT COUNT(*) FROM embeddings")[0][0],
            "bytes": size,
        }

    # -- vectors, people, duplicates ----
    def similar(self, key: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` images most like ``key`` (cosine similarity of their embeddings), best first."""
        rows = self._read("SELECT id FROM images WHERE key = ?", (key,))
        if not rows:
            return []
        found = self.vectors.similar(rows[0][0], k)
        keys = self._keys([image_id for image_id, _ in found])
        return [(keys[image_id], round(similarity, 4)) for image_id, similarity in found if image_id in keys]

    def _keys(self, ids: list[int]) -> dict[int, str]:
        if not ids:
            return {}
        return dict(self._read(f"SELECT id, key FROM images WHERE id IN ({','.join('?' * len(ids))})", ids))

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

        rows = self._read("SELECT id, key, sha256, phash FROM images WHERE has_analysis = 1 ORDER BY id")
        return duplicate_sets(rows, self.vectors, max_hash_distance, min_similarity)

    # -- API keys, hooks, deliveries (sqlite_access.py) ----
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
        """A full check (reads the whole file): every problem found, as sentences; empty when the catalog is sound."""
        return check_catalog(self._reader(), self.path)

    def close(self) -> None:
        try:
            self.vectors.save()
        finally:
            with self._all_lock:
                for conn in self._all:
                    conn.close()
                self._all.clear()


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a failed transaction, keeping the error that failed it the one reported.

    SQLite rolls some failures back itself (a full disk, an I/O error); a ROLLBACK then fails with "no
    transaction is active", which would hide the real cause.
    """
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def open_sqlite(url: str, face_similarity: float = 0.55, home: Path | None = None) -> SqliteCatalog:
    """The catalog of a ``sqlite:///path`` URL (the registry's factory); its vector index lives beside the file,
    whatever ``home`` is."""
    return SqliteCatalog(url.removeprefix("sqlite:///").removeprefix("sqlite://"), face_similarity)
