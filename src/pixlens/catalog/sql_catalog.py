"""What the SQL catalogs (SQLite, PostgreSQL) do alike, written once over their dialects: records in and out,
pending marks, labels and entries, people, duplicates, counts. A catalog adds its connections and transactions,
its migrations, and the statements it writes its own way (``_put_entries``, ``_unindex``, ``delete``, ``stats``)."""

from __future__ import annotations

import bisect
import json
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pixlens.catalog.base import DuplicateSet, ImageState, PersonRow
from pixlens.catalog.facets import analysed_anew, indexed, is_label
from pixlens.catalog.postings import prune_log
from pixlens.catalog.sql_access import AccessMethods
from pixlens.catalog.sql_search import SqlSearch
from pixlens.catalog.sqldialect import Connection, one
from pixlens.catalog.vector_upkeep import Vectors
from pixlens.record import ImageRecord, Status, utc_now
from pixlens.work import needs_work

LABEL_NAMES = "label_names"  # the generation bumped by triggers whenever a label appears or disappears


class SqlCatalog(SqlSearch, AccessMethods):
    """The port's methods that both SQL catalogs share (see the module docstring)."""

    vectors: Vectors
    prune_every: int  # records written between prunings of posting_log
    _since_prune: int = 0
    _label_names: tuple[int, list[str], list[str]] | None = None  # generation, labels, every entry

    @abstractmethod
    def _write(self, work: Callable[[Any], Any]) -> Any:
        """``work(conn)`` in one write transaction (the vectors' ``begin``, ``finish`` and ``committed`` around)."""

    @abstractmethod
    def _unindex(self, conn: Any, image_id: int, keep_faces: bool = False) -> None:
        """Take an image's entries, text and vectors out of the indexes."""

    @abstractmethod
    def _put_entries(self, conn: Any, image_id: int, entries: dict[str, float], text: str | None) -> None:
        """Put an image's index entries (with the label counts) and its text into the indexes."""

    # -- records ----
    def put(self, records: Iterable[ImageRecord]) -> None:
        batch = list(records)
        if batch:
            self._write(lambda conn: self._put_all(conn, batch))

    def _put_all(self, conn: Connection, records: list[ImageRecord]) -> None:
        for record in records:
            self._put_one(conn, record)
        self._since_prune += len(records)
        if self._since_prune >= self.prune_every:
            prune_log(conn, self.dialect)
            self._since_prune = 0

    def _put_one(self, conn: Connection, record: ImageRecord) -> None:
        plan = indexed(record)  # what the record puts into the indexes (pixlens.catalog.facets decides)
        to_match = False
        if plan is not None and self.access.hooks_exist(conn):
            to_match = analysed_anew(*self.access.previous_analysis(conn, record.ImageName), record)
        (image_id,) = one(
            conn,
            self.dialect.sql(
                """INSERT INTO images (key, status, has_analysis, etag, sha256, phash, versions, record, updated_at,
                                       latitude, longitude)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (key) DO UPDATE SET status = excluded.status, has_analysis = excluded.has_analysis,
                       etag = excluded.etag, sha256 = excluded.sha256, phash = excluded.phash,
                       versions = excluded.versions, record = excluded.record, updated_at = excluded.updated_at,
                       latitude = excluded.latitude, longitude = excluded.longitude
                   RETURNING id"""
            ),
            (
                record.ImageName,
                record.Status.value,
                plan is not None,  # sqlite3 stores a bool as 1 or 0
                record.ETag,
                record.ContentSha256,
                plan.phash if plan is not None else None,
                json.dumps(record.AnalyzerVersions, sort_keys=True),
                record.to_json(),
                utc_now(),
                *(plan.position if plan is not None and plan.position is not None else (None, None)),
            ),
        )
        image_id = int(image_id)
        self._unindex(conn, image_id, keep_faces=plan is not None)
        if plan is None:
            return
        entries = {**plan.entries, **self.vectors.index(conn, image_id, record)}
        if record.FaceDetails:  # now with the PersonId of each face
            conn.execute(self.dialect.sql("UPDATE images SET record = ? WHERE id = ?"), (record.to_json(), image_id))
        self._put_entries(conn, image_id, entries, plan.text)
        if to_match:
            self.access.note_analyzed(conn, image_id)

    def mark_pending(self, items: Iterable[tuple[str, str | None]], force: bool = False) -> int:
        jobs = list(items)
        sql = self.dialect.sql
        read_state = sql(f"SELECT status, etag, sha256 FROM images WHERE key = ?{self.dialect.for_update}")

        def work(conn: Connection) -> int:
            marked = 0
            for key, etag in jobs:
                row = conn.execute(read_state, (key,)).fetchone()
                state = None if row is None else ImageState(key, Status(row[0]), row[1], row[2], {})
                need = needs_work(state, etag, force=force)  # pixlens.work decides, in this transaction
                if need is None or not need.marks_pending:
                    continue
                if state is None:
                    record = ImageRecord(ImageName=key, ETag=etag)
                    conn.execute(
                        sql(
                            "INSERT INTO images (key, status, etag, record, updated_at) VALUES (?, 'pending', ?, ?, ?)"
                        ),
                        (key, etag, record.to_json(), utc_now()),
                    )
                else:
                    # A changed image keeps its old labels searchable until the new analysis replaces them.
                    conn.execute(sql("UPDATE images SET status = 'pending' WHERE key = ?"), (key,))
                marked += 1
            return marked

        return int(self._write(work)) if jobs else 0

    def states(self, keys: Iterable[str] | None = None) -> Iterator[ImageState]:
        sql = "SELECT key, status, etag, sha256, versions FROM images"
        if keys is None:
            rows = self._read(f"{sql} ORDER BY key{self.dialect.binary}")
        else:
            rows = []
            for batch in self.dialect.batches(list(keys)):
                where, params = self.dialect.any_of("key", batch)
                rows += self._read(f"{sql} WHERE {where}", params)
        for key, status, etag, sha256, versions in rows:
            # SQLite gives the JSON text, PostgreSQL the decoded JSONB
            yield ImageState(
                key, Status(status), etag, sha256, dict(json.loads(versions) if isinstance(versions, str) else versions)
            )

    def with_content(self, sha256s: Iterable[str]) -> list[str]:
        keys: list[str] = []
        for batch in self.dialect.batches(sorted(set(sha256s))):
            where, params = self.dialect.any_of("sha256", batch)
            keys += [row[0] for row in self._read(f"SELECT key FROM images WHERE {where}", params)]
        return keys

    # -- labels, entries, counts ----
    def labels(self) -> list[tuple[str, int]]:
        rows = self._read(f"SELECT label, images FROM label_counts ORDER BY images DESC, label{self.dialect.binary}")
        return [(label, count) for label, count in rows if is_label(label)]

    def label_names(self) -> list[str]:
        return self._entries()[1]

    def entries(self, prefix: str) -> list[str]:
        """Every index entry that starts with ``prefix``, sorted (``place:``, ``make:``...), kept as label_names."""
        every = self._entries()[2]
        return every[bisect.bisect_left(every, prefix) : bisect.bisect_left(every, prefix + "\U0010ffff")]

    def _entries(self) -> tuple[int, list[str], list[str]]:
        """Every entry, kept while no label appears or disappears (a generation bumped by triggers on
        ``label_counts``): every search asks for them."""
        generation = self._read(self.dialect.sql("SELECT value FROM generations WHERE name = ?"), (LABEL_NAMES,))[0][0]
        kept = self._label_names
        if kept is None or kept[0] != generation:
            every = sorted(row[0] for row in self._read("SELECT label FROM label_counts"))
            kept = self._label_names = (generation, [name for name in every if is_label(name)], every)
        return kept

    def status_counts(self) -> dict[str, int]:
        by_status = dict.fromkeys((status.value for status in Status), 0)
        by_status.update({status: n for status, n in self._read("SELECT status, COUNT(*) FROM images GROUP BY status")})
        return by_status

    def failures(self, limit: int = 100) -> list[tuple[str, str | None, str]]:
        rows = self._read(
            self.dialect.sql(
                f"""SELECT key, {self.dialect.json_text("record", "Error")}, updated_at FROM images WHERE status = ?
                    ORDER BY updated_at DESC, id DESC LIMIT ?"""
            ),
            (Status.FAILED.value, limit),
        )
        return [(key, error, at) for key, error, at in rows]

    # -- vectors, people, duplicates ----
    def similar(self, key: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` images most like ``key`` (cosine similarity of their embeddings), best first."""
        rows = self._read(self.dialect.sql("SELECT id FROM images WHERE key = ?"), (key,))
        if not rows:
            return []
        found = self._again(lambda: self.vectors.similar(rows[0][0], k))
        ids = [image_id for image_id, _ in found]
        keys: dict[int, str] = {}
        if ids:
            where, params = self.dialect.any_of("id", ids)
            keys = dict(self._read(f"SELECT id, key FROM images WHERE {where}", params))
        return [(keys[image_id], round(similarity, 4)) for image_id, similarity in found if image_id in keys]

    def people(self) -> list[PersonRow]:
        return self.vectors.person_rows()

    def person_ids(self, name: str) -> list[int]:
        return self.vectors.person_ids(name)

    def name_person(self, person_id: int, name: str | None) -> bool:
        return bool(self._write(lambda conn: self.vectors.rename(conn, person_id, name)))

    def person_names(self, person_ids: Iterable[int]) -> dict[int, str]:
        where, params = self.dialect.any_of("id", sorted(set(person_ids)))
        rows = self._read(f"SELECT id, name FROM people WHERE name IS NOT NULL AND {where}", params)
        return {person_id: name for person_id, name in rows}

    def top_people(self, limit: int) -> list[tuple[int, str | None]]:
        rows = self._read(self.dialect.sql("SELECT id, name FROM people ORDER BY faces DESC, id LIMIT ?"), (limit,))
        return [(person_id, name) for person_id, name in rows]

    def duplicates(
        self, max_hash_distance: int | None = None, min_similarity: float | None = None
    ) -> list[DuplicateSet]:
        from pixlens.duplicates import duplicate_sets

        rows = self._read(f"SELECT id, key, sha256, phash FROM images WHERE {self.dialect.analysed} ORDER BY id")
        images = [(image_id, key, sha, phash) for image_id, key, sha, phash in rows]
        return self._again(lambda: duplicate_sets(images, self.vectors, max_hash_distance, min_similarity))
