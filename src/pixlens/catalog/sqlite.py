"""The SQLite catalog: the embedded default.

One row per image (the record as JSON plus the columns reconcile needs) and an inverted index
``label_index(label, confidence, image_id)`` that holds every label, every parent and every category of each image,
so that "all images with X" is one index range read, already in confidence order. WAL mode; all writes go
through one connection under a lock, reads use one connection per thread.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from pixlens.catalog.facets import backfill
from pixlens.catalog.postings import LOG_MIGRATION as POSTING_LOG_MIGRATION
from pixlens.catalog.postings import MIGRATION as POSTINGS_MIGRATION
from pixlens.catalog.postings import Postings
from pixlens.catalog.sets import Posting
from pixlens.catalog.sql_access import AccessTables
from pixlens.catalog.sql_catalog import LABEL_NAMES, SqlCatalog
from pixlens.catalog.sql_search import Built, Scale
from pixlens.catalog.sqldialect import SQLITE, Connection
from pixlens.catalog.sqlite_access import HOOKS_MIGRATION, KEYS_MIGRATION, MATCHES_MIGRATION
from pixlens.catalog.sqlite_check import check_catalog
from pixlens.catalog.sqlite_errors import catalog_error, read_only_message
from pixlens.catalog.sqlite_migrations import HAS_TEXT_MIGRATION, kind_migration
from pixlens.catalog.sqlite_vectors import GENERATIONS_MIGRATION, sqlite_vectors
from pixlens.catalog.sqlite_vectors import MIGRATION as VECTORS_MIGRATION
from pixlens.catalog.sqlplan import text_sql
from pixlens.errors import CatalogError
from pixlens.record import ImageRecord, Status, utc_now

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


class SqliteCatalog(SqlCatalog):
    """Catalog in one SQLite file (``sqlite:///path/to/catalog.db``)."""

    dialect = SQLITE
    prune_every = PRUNE_EVERY

    def __init__(self, path: Path | str, face_similarity: float = 0.55) -> None:
        self.path = Path(path)
        self._refuse_read_only()
        self.vectors = sqlite_vectors(self.path, face_similarity, self._read, self._snapshot)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._postings = Postings(SQLITE)
        self._postings_lock = threading.Lock()
        self._postings_writer: sqlite3.Connection | None = None
        self._watcher: sqlite3.Connection | None = None  # never writes: its data_version moves with every commit
        self._watcher_lock = threading.Lock()
        self._writer = self._connect()
        self.access = AccessTables(SQLITE, self._read, self._write, arrival="rowid")
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

    def _put_entries(
        self, conn: sqlite3.Connection, image_id: int, entries: dict[str, float], text: str | None
    ) -> None:
        conn.executemany(
            "INSERT INTO label_index (label, confidence, image_id) VALUES (?, ?, ?)",
            [(label, round(conf, 3), image_id) for label, conf in entries.items()],
        )
        if text:
            conn.execute("INSERT INTO text_fts (rowid, text) VALUES (?, ?)", (image_id, text))
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

    # -- search (sql_search.py) ----
    @contextmanager
    def _search_read(self) -> Iterator[tuple[sqlite3.Connection, Built]]:
        """One read transaction for a search; the postings built in it are saved after it."""
        built: Built = []
        with self._snapshot() as conn:
            yield conn, built
        if built:
            self._save_postings(built)

    def _term(
        self, conn: Connection, entries: list[str], op: str | None, threshold: float | None, scale: Scale
    ) -> tuple[Posting, Built]:
        try:
            return self._postings.term(conn, entries, op, threshold, scale)
        except sqlite3.Error as exc:
            raise CatalogError(f"catalog read failed ({self.path}): {exc}") from exc

    def _text(self, phrase: str) -> Posting:
        sql, params = text_sql(phrase)
        rows = self._read(sql, params)
        ids = np.fromiter((row[0] for row in rows), np.uint32, len(rows))
        return Posting.from_rows(ids, np.fromiter((row[1] for row in rows), np.float64, len(rows)))

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

    def check(self) -> list[str]:
        """A full check (reads the whole file): every problem found, as sentences; empty when the catalog is sound."""
        return check_catalog(self._reader(), self.path)

    def snapshot(self) -> AbstractContextManager[object]:
        return self._snapshot()

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
