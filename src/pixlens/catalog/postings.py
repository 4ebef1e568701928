"""Posting lists of the SQL catalogs: each index entry's images as a :class:`~pixlens.catalog.sets.Posting`.

A posting is built from ``label_index`` on first use (one range read, in rank order), kept in memory, and saved
in the table ``postings`` when it is large, so that the next process loads it in a millisecond instead of reading
every row again. It stays valid while the entry's *generation* is unchanged: triggers on ``label_index`` bump
``posting_generations`` for every row written or removed, so ingesting costs one small upsert per index row and
never rewrites a posting. The universe (every analysed image, for NOT) is the entry ``""``, bumped by triggers
on ``images``.

The SQLite catalog's triggers are below; the PostgreSQL catalog keeps the same tables with its own triggers
(``postgres_sql/0002_postings.sql``). Both read them through :class:`Postings`, in their own SQL dialect.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, cast

import numpy as np
from pyroaring import BitMap

from pixlens.catalog.sets import Posting, bitmap_of, ids_of
from pixlens.catalog.sqldialect import SQLITE, Dialect

UNIVERSE = ""  # the entry of every analysed image (no label is empty)
SAVE_FROM = 20_000  # smaller postings are rebuilt from the index in a few milliseconds: not worth a write
TERMS_KEPT = 32  # derived term postings kept (they hold their entries' postings too)
MEMORY_BYTES = 512 * 2**20  # postings kept in memory (a label in every image of 1,000,000: 24 MB)

_BUMP = """INSERT INTO posting_generations (entry, generation) VALUES ({entry}, 1)
           ON CONFLICT(entry) DO UPDATE SET generation = generation + 1"""

MIGRATION = f"""
CREATE TABLE posting_generations (
    entry TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE postings (
    entry TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    bitmap BLOB NOT NULL,
    scores BLOB NOT NULL,
    ranked BLOB NOT NULL,
    ranked_scores BLOB NOT NULL
);
CREATE TRIGGER postings_entry_added AFTER INSERT ON label_index BEGIN
    {_BUMP.format(entry="NEW.label")};
END;
CREATE TRIGGER postings_entry_removed AFTER DELETE ON label_index BEGIN
    {_BUMP.format(entry="OLD.label")};
END;
CREATE TRIGGER postings_entry_changed AFTER UPDATE ON label_index BEGIN
    {_BUMP.format(entry="OLD.label")};
    {_BUMP.format(entry="NEW.label")};
END;
CREATE TRIGGER postings_image_added AFTER INSERT ON images WHEN NEW.has_analysis = 1 BEGIN
    {_BUMP.format(entry="''")};
END;
CREATE TRIGGER postings_image_changed AFTER UPDATE OF has_analysis ON images
WHEN OLD.has_analysis IS NOT NEW.has_analysis BEGIN
    {_BUMP.format(entry="''")};
END;
CREATE TRIGGER postings_image_removed AFTER DELETE ON images WHEN OLD.has_analysis = 1 BEGIN
    {_BUMP.format(entry="''")};
END
"""

_LOG = """INSERT INTO posting_log (entry, generation, image_id, confidence)
          VALUES ({entry}, (SELECT generation FROM posting_generations WHERE entry = {entry}), {image}, {confidence})"""


def _change(entry: str, image: str, confidence: str) -> str:
    """A trigger's statements for one change of an entry: bump its generation, log what changed."""
    return f"{_BUMP.format(entry=entry)};\n    {_LOG.format(entry=entry, image=image, confidence=confidence)};"


# Every generation step of an entry is one row of posting_log (an image added with its confidence, or removed:
# NULL), so a posting kept in memory catches up with the few rows since its generation instead of being rebuilt
# from the whole index each time an image is analysed.
LOG_MIGRATION = f"""
CREATE TABLE posting_log (
    id INTEGER PRIMARY KEY,
    entry TEXT NOT NULL,
    generation INTEGER NOT NULL,
    image_id INTEGER NOT NULL,
    confidence REAL
);
CREATE INDEX posting_log_by_entry ON posting_log(entry, generation);
DROP TRIGGER postings_entry_added;
DROP TRIGGER postings_entry_removed;
DROP TRIGGER postings_entry_changed;
DROP TRIGGER postings_image_added;
DROP TRIGGER postings_image_changed;
DROP TRIGGER postings_image_removed;
CREATE TRIGGER postings_entry_added AFTER INSERT ON label_index BEGIN
    {_change("NEW.label", "NEW.image_id", "NEW.confidence")}
END;
CREATE TRIGGER postings_entry_removed AFTER DELETE ON label_index BEGIN
    {_change("OLD.label", "OLD.image_id", "NULL")}
END;
CREATE TRIGGER postings_entry_changed AFTER UPDATE ON label_index BEGIN
    {_change("OLD.label", "OLD.image_id", "NULL")}
    {_change("NEW.label", "NEW.image_id", "NEW.confidence")}
END;
CREATE TRIGGER postings_image_added AFTER INSERT ON images WHEN NEW.has_analysis = 1 BEGIN
    {_change("''", "NEW.id", "0")}
END;
CREATE TRIGGER postings_image_changed AFTER UPDATE OF has_analysis ON images
WHEN OLD.has_analysis IS NOT NEW.has_analysis BEGIN
    {_change("''", "NEW.id", "CASE WHEN NEW.has_analysis = 1 THEN 0 END")}
END;
CREATE TRIGGER postings_image_removed AFTER DELETE ON images WHEN OLD.has_analysis = 1 BEGIN
    {_change("''", "OLD.id", "NULL")}
END
"""
LOG_KEPT = 1_000_000  # the latest posting_log rows kept (pruned now and then by the writer)
CATCH_UP_MAX = 20_000  # more changes than this since a kept posting: rebuilding it is as quick


class Reader(Protocol):
    """A connection inside a read transaction: sqlite3's or psycopg's."""

    def execute(self, sql: str, params: Any, /) -> Any: ...


class Postings:
    """Loads postings through a connection that is inside a read transaction (one snapshot for a whole query)."""

    def __init__(self, dialect: Dialect = SQLITE) -> None:
        self.dialect = dialect
        self._memory: OrderedDict[str, tuple[int, Posting]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # term postings derived from entries' (several entries, a threshold), valid while those are the same objects
        self._terms: OrderedDict[tuple[object, ...], tuple[list[Posting], Posting]] = OrderedDict()
        self._flights: Flights[tuple[Posting, bool]] = Flights()  # one load per (entry, generation) at a time

    def term(
        self,
        conn: Reader,
        entries: list[str],
        op: str | None,
        threshold: float | None,
        weights: tuple[float, ...] | None = None,
    ) -> tuple[Posting, list[tuple[str, int, Posting]]]:
        """The posting of a term: the best of its entries, within its threshold, each entry's scores times its
        weight when weights are given (and what to save, as ``get``)."""
        found, built = self.get(conn, entries)
        if len(found) == 1 and (op is None or threshold is None) and weights is None:
            return found[0], built
        key = (tuple(entries), op, threshold, weights)
        with self._lock:
            kept = self._terms.get(key)
        if kept is not None and all(old is new for old, new in zip(kept[0], found, strict=True)):
            return kept[1], built
        posting = Posting.best_of(found)
        if op is not None and threshold is not None:
            posting = posting.within(op, threshold)  # the threshold is on confidences, as the records hold them
        if weights is not None:
            scaled = Posting.best_of([p.scaled(w) for p, w in zip(found, weights, strict=True)])
            posting = scaled.restricted(posting.bitmap) if len(scaled) != len(posting) else scaled
        with self._lock:
            self._terms[key] = (found, posting)
            while len(self._terms) > TERMS_KEPT:
                self._terms.popitem(last=False)
        return posting, built

    def get(self, conn: Reader, entries: list[str]) -> tuple[list[Posting], list[tuple[str, int, Posting]]]:
        """The postings of ``entries``, and those built from the index (entry, generation, posting) to save."""
        marks = ",".join([self.dialect.mark] * len(entries))
        sql = f"SELECT entry, generation FROM posting_generations WHERE entry IN ({marks})"
        generations = dict(conn.execute(sql, entries).fetchall())
        found: list[Posting] = []
        built: list[tuple[str, int, Posting]] = []
        for entry in entries:
            generation = generations.get(entry, 0)
            posting = self._remembered(entry, generation)
            if posting is None:
                load = functools.partial(self._load, conn, entry, generation)
                posting, fresh = self._flights.once((entry, generation), load)
                if fresh and len(posting) >= SAVE_FROM:
                    built.append((entry, generation, posting))
                self._remember(entry, generation, posting)
            found.append(posting)
        return found, built

    def _load(self, conn: Reader, entry: str, generation: int) -> tuple[Posting, bool]:
        """The posting of ``entry`` at ``generation``: the one kept in memory brought up to date from the log, or
        the saved one, or built from the index (True: worth saving)."""
        with self._lock:
            kept = self._memory.get(entry)
        if kept is not None and 0 < generation - kept[0] <= CATCH_UP_MAX:
            caught_up = self._caught_up(conn, entry, kept, generation)
            if caught_up is not None:
                return caught_up, False
        saved = self._saved(conn, entry, generation)
        if saved is not None:
            return saved, False
        return self._build(conn, entry), True

    def save(self, conn: sqlite3.Connection, built: list[tuple[str, int, Posting]]) -> None:
        """Store postings for the next process, each only if its entry has not changed since it was read."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            for entry, generation, posting in built:
                conn.execute(
                    """INSERT INTO postings (entry, generation, bitmap, scores, ranked, ranked_scores)
                       SELECT :entry, :generation, :bitmap, :scores, :ranked, :ranked_scores
                       WHERE COALESCE((SELECT generation FROM posting_generations WHERE entry = :entry), 0)
                             = :generation
                       ON CONFLICT(entry) DO UPDATE SET generation = excluded.generation, bitmap = excluded.bitmap,
                           scores = excluded.scores, ranked = excluded.ranked,
                           ranked_scores = excluded.ranked_scores""",
                    saved_row(entry, generation, posting),
                )
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:  # a write or the commit failed (busy): never leave the connection inside it
                conn.execute("ROLLBACK")

    def _remembered(self, entry: str, generation: int) -> Posting | None:
        with self._lock:
            kept = self._memory.get(entry)
            if kept is None or kept[0] != generation:
                return None
            self._memory.move_to_end(entry)
            return kept[1]

    def _remember(self, entry: str, generation: int, posting: Posting) -> None:
        with self._lock:
            old = self._memory.pop(entry, None)
            if old is not None:
                self._bytes -= old[1].nbytes()
            self._memory[entry] = (generation, posting)
            self._bytes += posting.nbytes()
            while self._bytes > MEMORY_BYTES and len(self._memory) > 1:
                _, (_, dropped) = self._memory.popitem(last=False)
                self._bytes -= dropped.nbytes()

    def _saved(self, conn: Reader, entry: str, generation: int) -> Posting | None:
        mark = self.dialect.mark
        row = conn.execute(
            f"SELECT bitmap, scores, ranked, ranked_scores FROM postings WHERE entry = {mark} AND generation = {mark}",
            (entry, generation),
        ).fetchone()
        if row is None:
            return None
        bitmap = BitMap.deserialize(row[0])
        return Posting(
            bitmap,
            ids_of(bitmap),
            np.frombuffer(row[1], np.float64),
            np.frombuffer(row[2], np.uint32),
            np.frombuffer(row[3], np.float64),
        )

    def _build(self, conn: Reader, entry: str) -> Posting:
        if entry == UNIVERSE:
            rows = conn.execute(f"SELECT id FROM images WHERE {self.dialect.analysed} ORDER BY id DESC", ()).fetchall()
            ranked = np.fromiter((row[0] for row in rows), np.uint32, len(rows))
            return Posting.from_ranked(ranked, np.zeros(len(ranked)))
        rows = conn.execute(
            f"""SELECT image_id, confidence FROM label_index WHERE label = {self.dialect.mark}
               ORDER BY confidence DESC, image_id DESC""",
            (entry,),
        ).fetchall()
        ranked = np.fromiter((row[0] for row in rows), np.uint32, len(rows))
        scores = np.fromiter((row[1] for row in rows), np.float64, len(rows))
        return Posting.from_ranked(ranked, scores)

    def _caught_up(self, conn: Reader, entry: str, kept: tuple[int, Posting], generation: int) -> Posting | None:
        """``kept`` (a generation and its posting) with the logged changes up to ``generation`` applied; None when
        the log no longer holds all of them (pruned, or older than the log)."""
        since, posting = kept
        mark = self.dialect.mark
        rows = conn.execute(
            f"""SELECT image_id, confidence FROM posting_log
               WHERE entry = {mark} AND generation > {mark} AND generation <= {mark} ORDER BY generation""",
            (entry, since, generation),
        ).fetchall()
        if len(rows) != generation - since:
            return None
        last: dict[int, float | None] = {}
        for image_id, confidence in rows:  # in order: an image's last change says whether it holds the entry now
            last[image_id] = confidence
        return _applied(posting, last)


def saved_row(entry: str, generation: int, posting: Posting) -> dict[str, object]:
    """The row of table ``postings`` that keeps a posting for the next process."""
    return {
        "entry": entry,
        "generation": generation,
        "bitmap": posting.bitmap.serialize(),
        "scores": posting.scores.tobytes(),
        "ranked": posting.ranked.tobytes(),
        "ranked_scores": posting.ranked_scores.tobytes(),
    }


def _applied(posting: Posting, last: dict[int, float | None]) -> Posting:
    """``posting`` with each image of ``last`` taken out and, where its value is not None, put back with it: the
    few changes merged into the sorted arrays (O(n) copies, no sort of the whole posting)."""
    touched = np.fromiter(last, np.uint32, len(last))
    added = sorted((image_id, value) for image_id, value in last.items() if value is not None)
    new_ids = np.fromiter((image_id for image_id, _ in added), np.uint32, len(added))
    new_scores = np.fromiter((value for _, value in added), np.float64, len(added))
    keep = ~np.isin(posting.ids, touched, assume_unique=True)
    ids, scores = posting.ids[keep], posting.scores[keep]
    at = np.searchsorted(ids, new_ids)
    ids, scores = np.insert(ids, at, new_ids), np.insert(scores, at, new_scores)
    kept_rank = ~np.isin(posting.ranked, touched, assume_unique=True)
    ranked, ranked_scores = posting.ranked[kept_rank], posting.ranked_scores[kept_rank]
    order = np.lexsort((-new_ids.astype(np.int64), -new_scores))  # rank order among the new ones
    places = [_rank_place(ranked, ranked_scores, float(new_scores[i]), int(new_ids[i])) for i in order]
    ranked = np.insert(ranked, places, new_ids[order])
    ranked_scores = np.insert(ranked_scores, places, new_scores[order])
    bitmap = (posting.bitmap - bitmap_of(touched)) | bitmap_of(new_ids)
    return Posting(bitmap, ids, scores, ranked, ranked_scores)


def _rank_place(ranked: np.ndarray[Any, Any], ranked_scores: np.ndarray[Any, Any], score: float, image: int) -> int:
    """Where (score, image) goes in a rank order (score down, then id down)."""
    first_tied = int(np.searchsorted(-ranked_scores, -score, side="left"))
    past_tied = int(np.searchsorted(-ranked_scores, -score, side="right"))
    return first_tied + int(np.count_nonzero(ranked[first_tied:past_tied] > image))


def prune_log(conn: Reader, dialect: Dialect = SQLITE) -> None:
    """Keep the latest :data:`LOG_KEPT` log rows (a posting older than those is rebuilt, not caught up)."""
    conn.execute(f"DELETE FROM posting_log WHERE id <= (SELECT MAX(id) FROM posting_log) - {dialect.mark}", (LOG_KEPT,))


T = TypeVar("T")


class Flights(Generic[T]):
    """Runs one ``make`` per key at a time: callers asking for a key already being made wait for its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[object, _Flight[T]] = {}

    def once(self, key: object, make: Callable[[], T]) -> T:
        with self._lock:
            flight = self._running.get(key)
            leads = flight is None
            if flight is None:
                flight = self._running[key] = _Flight()
        if not leads:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return cast(T, flight.value)
        try:
            flight.value = make()
            return flight.value
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._running[key]
            flight.done.set()


class _Flight(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None
