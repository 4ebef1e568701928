"""The PostgreSQL catalog (``postgresql://user@host:5432/database``): the catalog of a pixlens that outgrew one
machine, with the same semantics as the SQLite catalog through the port.

Rows as SQLite's (``postgres_sql/``): one per image, its record as JSONB beside the columns reconcile needs, and
the inverted index ``label_index(label, confidence, image_id)`` holding every entry that ``facets.indexed``
gives a record, so that a term is one range read of its primary key, in rank order. A query is evaluated by
``catalog/sets.py`` over the postings of its terms (the same set algebra and ranking as SQLite's), inside one
REPEATABLE READ transaction; the postings are kept in memory and caught up with the changes since, as SQLite's
(``catalog/postings.py``); ``text:`` phrases go to a tsvector column with a GIN index.

Writes go through ``postgres_db.Database.transaction``: one advisory lock serialises them (see there); vectors and
people follow ``vector_upkeep.py``; the local vector index lives in the pixlens home (no pgvector here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np

from pixlens.catalog.check_rules import RULES as SHARED_RULES
from pixlens.catalog.check_rules import Rule, broken_rules
from pixlens.catalog.postgres_db import Conn, Database
from pixlens.catalog.postgres_vectors import POSTGRES_VECTORS
from pixlens.catalog.postings import Postings, saved_row
from pixlens.catalog.sets import Posting
from pixlens.catalog.sql_access import AccessTables
from pixlens.catalog.sql_catalog import SqlCatalog
from pixlens.catalog.sql_search import Built
from pixlens.catalog.sqldialect import POSTGRES
from pixlens.catalog.vector_upkeep import Vectors
from pixlens.errors import CatalogError
from pixlens.record import ImageRecord, Status

T = TypeVar("T")
PRUNE_EVERY = 5_000  # records written between prunes of the posting log
TEXT_CONFIG = "english"  # stemmed words, any case (SQLite: porter over unicode61)

# the shared rules (check_rules.py), and those of the text table that SQLite keeps in FTS5
RULES: list[Rule] = [
    *SHARED_RULES,
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


class PostgresCatalog(SqlCatalog):
    """Catalog in a PostgreSQL database (``postgresql://user@host:port/database``)."""

    dialect = POSTGRES
    prune_every = PRUNE_EVERY

    def __init__(self, url: str, face_similarity: float = 0.55, home: Path | None = None) -> None:
        self.url = url
        self.db = Database(url)
        try:
            self.db.migrate()
            (catalog_id,) = self.db.read("SELECT id FROM catalog_meta")[0]
            index_path = vector_index_path(home, catalog_id)
            self.vectors = Vectors(POSTGRES_VECTORS, index_path, face_similarity, self.db.read, self.db.snapshot)
            self.access = AccessTables(POSTGRES, self.db.read, self._write, arrival="seq")
            self._postings = Postings(POSTGRES)
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

    def _again(self, work: Callable[[], T]) -> T:
        return self.db.again(work)

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

    def _put_entries(self, conn: Conn, image_id: int, entries: dict[str, float], text: str | None) -> None:
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
        if text:
            conn.execute("INSERT INTO texts (image_id, text) VALUES (%s, %s)", (image_id, text))

    def _unindex(self, conn: Conn, image_id: int, keep_faces: bool = False) -> None:
        self.vectors.unindex(conn, image_id, keep_faces)
        labels = [
            row[0] for row in conn.execute("DELETE FROM label_index WHERE image_id = %s RETURNING label", (image_id,))
        ]
        if labels:
            conn.execute("UPDATE label_counts SET images = images - 1 WHERE label = ANY(%s)", (labels,))
            conn.execute("DELETE FROM label_counts WHERE label = ANY(%s) AND images <= 0", (labels,))
        conn.execute("DELETE FROM texts WHERE image_id = %s", (image_id,))

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

    # -- search (sql_search.py) ----
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

    def _text(self, phrase: str) -> Posting:
        """Images whose text holds the phrase (stemmed words, any case); a match scores 100, as in SQLite."""
        rows = self._read(
            "SELECT image_id FROM texts WHERE words @@ phraseto_tsquery(%s::regconfig, %s)",
            (TEXT_CONFIG, " ".join(phrase.split())),
        )
        ids = np.fromiter((row[0] for row in rows), np.uint32, len(rows))
        return Posting.from_rows(ids, np.full(len(rows), 100.0)) if len(rows) else Posting.empty()

    def generation(self) -> None:
        """Not known cheaply here (it would be a round trip to the server): answers are never reused."""
        return None

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

    def check(self) -> list[str]:
        """The catalog's own rules, each a count of the rows that break it (PostgreSQL checks its own pages)."""
        with self.db.snapshot():
            return broken_rules(lambda sql: int(self._read(sql)[0][0]), RULES)

    def snapshot(self) -> AbstractContextManager[object]:
        return self.db.snapshot()

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
