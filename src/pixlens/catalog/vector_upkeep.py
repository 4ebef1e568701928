"""The SQL catalogs' vectors: image embeddings (for "more like this") and faces clustered into people.

The tables are the truth: ``embeddings(image_id, vector)``, ``faces(image_id, face_index, person_id,
confidence, vector)`` and ``people(id, name, faces, total)``. Beside them, two in-memory structures that the
tables rebuild at any time: the people clustering (``pixlens.people.People``) and the HNSW vector index
(``pixlens.vectors.VectorIndex``, saved in a ``.vectors`` file on close and every few minutes).

Several processes may write one catalog, so each in-memory copy says which state of its table it mirrors: the
``generations`` table holds a counter for the people and one for the embeddings, bumped in the same transaction
as every change to them, and ``vector_log`` names the images whose embedding changed in each generation.

- People: every write transaction (which holds the catalog's write lock from its start) first compares the
  people's generation with the one its clustering was loaded at, and reloads the clustering when another
  connection moved it; so two processes assign faces exactly as if they ran one after the other.
- Vector index: every use compares the embeddings' generation with the index's; when it moved, the index replays
  the logged changes since (or, when the log no longer reaches back that far, is rebuilt from the table). The
  saved file carries its generation (``saved_index.py``), so a file left behind by a crash is brought up to date
  exactly when it is opened.

Changes are made inside the catalog's write transaction; the vector index follows after the commit, and after a
rollback the people are reloaded from their table. The logic is written once here; each catalog gives its
dialect and statements (``VectorSql``) and its connections.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixlens.catalog.base import PersonRow
from pixlens.catalog.facets import person_entries
from pixlens.catalog.saved_index import SavedIndex
from pixlens.catalog.sqldialect import Connection, Dialect, one
from pixlens.errors import CatalogError
from pixlens.people import People, forget_faces, people_from_rows, place_faces
from pixlens.record import ImageRecord

SAVE_INTERVAL = 300.0  # seconds between saves of a changed vector index (and at close); a crash replays the log
LOG_GENERATIONS = 20_000  # write transactions whose embedding changes stay in vector_log (older: rebuild)
COMPACT_RATIO = 0.25  # removed vectors (usearch tombstones) per live one above which a save rebuilds the index
COMPACT_MIN = 1_000  # ... and never for fewer tombstones than this
CHUNK = 10_000  # vectors read from the table at once
BY_ID = 500  # images looked up by id at once
PEOPLE, EMBEDDINGS = "people", "embeddings"

Vector = np.ndarray[Any, np.dtype[np.float32]]
Snapshot = Callable[[], AbstractContextManager[Any]]


@dataclass(frozen=True)
class VectorSql:
    """What differs between the SQL catalogs' vector tables: the statements they write differently."""

    dialect: Dialect
    person_rows: str  # every person: id, name, faces, images, key of its best face's image, that face's index
    person_ids: str  # the ids of the people with a name, in any case (one parameter)
    catch_up_errors: tuple[type[Exception], ...] = ()  # the driver's errors that the index's catch-up may raise


def _blob(vector: Any) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _vector(blob: bytes) -> Vector:
    return np.frombuffer(blob, dtype=np.float32)


class Vectors:
    """The catalog's vector tables and their in-memory companions (see the module docstring).

    ``read`` runs one statement on the calling thread's read connection; ``snapshot`` opens a read transaction
    there (one consistent state for several statements).
    """

    def __init__(
        self,
        statements: VectorSql,
        index_path: Path,
        face_similarity: float,
        read: Callable[..., list[Any]],
        snapshot: Snapshot,
    ) -> None:
        self.statements = statements
        self._dialect = statements.dialect
        self._sql = statements.dialect.sql
        self.index_path = index_path
        self.saved = SavedIndex(self.index_path)
        self.face_similarity = face_similarity
        self._read = read
        self._snapshot = snapshot
        self._people: People | None = None
        self._people_generation: int | None = None  # the people table's generation that self._people mirrors
        self._index: Any = None
        self._index_generation = -1  # the embeddings' generation that self._index holds
        self._saved_generation = -1  # ... and the one its file holds
        self._index_lock = threading.Lock()
        self._saved_at = time.monotonic()
        # the current write transaction: generations at its start, what it changed, index changes for the commit
        self._begun: dict[str, int] = {}
        self._touched: set[str] = set()
        self._logged: set[int] = set()
        self._pending: list[tuple[str, int, Any]] = []

    # -- around a write transaction ----
    def begin(self, conn: Connection) -> None:
        """At the start of a write transaction: notice what other connections changed since we last looked."""
        self._begun = dict(conn.execute("SELECT name, value FROM generations").fetchall())
        self._touched, self._logged, self._pending = set(), set(), []
        if self._begun[PEOPLE] != self._people_generation:
            self._people = None  # another process moved the people: reload them before assigning faces

    def finish(self, conn: Connection) -> None:
        """Just before the commit: bump the generation of what this transaction changed, log changed vectors."""
        for name in self._touched:
            conn.execute(self._sql("UPDATE generations SET value = value + 1 WHERE name = ?"), (name,))
        if EMBEDDINGS in self._touched:
            generation = self._begun[EMBEDDINGS] + 1
            conn.cursor().executemany(
                self._sql("INSERT INTO vector_log (generation, image_id) VALUES (?, ?) ON CONFLICT DO NOTHING"),
                [(generation, image_id) for image_id in self._logged],
            )
            conn.execute(self._sql("DELETE FROM vector_log WHERE generation <= ?"), (generation - LOG_GENERATIONS,))

    def committed(self) -> None:
        touched, pending = self._touched, self._pending
        self._touched, self._pending = set(), []
        if PEOPLE in touched:
            self._people_generation = self._begun[PEOPLE] + 1
        if EMBEDDINGS not in touched:
            return
        if self._index is None:
            # A writer keeps the index up to date, so that readers find it saved; the data is committed whatever
            # happens here (a lost connection): the index catches up at its next use.
            with suppress(CatalogError, *self.statements.catch_up_errors):
                self.vector_index()
            return
        with self._index_lock:
            # Only an index that held exactly the state before this transaction can take its changes as they
            # are; any other catches up from the log at its next use.
            if self._index_generation != self._begun[EMBEDDINGS]:
                return
            for action, image_id, vector in pending:
                if action == "add":
                    self._index.add([image_id], [vector])
                else:
                    self._index.remove([image_id])
            self._index_generation += 1
        if time.monotonic() - self._saved_at >= SAVE_INTERVAL:
            with suppress(CatalogError):  # the data is committed; the index file is a cache, saved again at close
                self.save()

    def rolled_back(self) -> None:
        self._touched, self._logged, self._pending = set(), set(), []
        self._people = None  # the in-memory clustering may hold changes the tables do not
        self._people_generation = None

    # -- inside a write transaction ----
    def _embedding_changed(self, image_id: int, action: str, vector: Any = None) -> None:
        self._touched.add(EMBEDDINGS)
        self._logged.add(image_id)
        self._pending.append((action, image_id, vector))

    def unindex(self, conn: Connection, image_id: int, keep_faces: bool = False) -> None:
        """Forget an image's vectors (its faces too, unless ``index`` will compare them with the new ones)."""
        if not keep_faces:
            self._forget_faces(conn, image_id)
        if conn.execute(self._sql("DELETE FROM embeddings WHERE image_id = ?"), (image_id,)).rowcount:
            self._embedding_changed(image_id, "remove")

    def _forget_faces(self, conn: Connection, image_id: int) -> None:
        faces = conn.execute(
            self._sql("SELECT person_id, vector FROM faces WHERE image_id = ?"), (image_id,)
        ).fetchall()
        if faces:
            changed = forget_faces(self.people(conn), [(person_id, _vector(blob)) for person_id, blob in faces])
            self._save_people(conn, changed)
            conn.execute(self._sql("DELETE FROM faces WHERE image_id = ?"), (image_id,))

    def index(self, conn: Connection, image_id: int, record: ImageRecord) -> dict[str, float]:
        """Store an analysed record's vectors, its faces where ``pixlens.people`` placed them; returns its
        ``person:<id>`` facet entries."""
        if record.ImageEmbedding:
            conn.execute(self._sql("INSERT INTO embeddings VALUES (?, ?)"), (image_id, _blob(record.ImageEmbedding)))
            self._embedding_changed(image_id, "add", record.ImageEmbedding)
        old = conn.execute(
            self._sql("SELECT person_id, vector FROM faces WHERE image_id = ? ORDER BY face_index"), (image_id,)
        ).fetchall()
        placement = place_faces(
            lambda: self.people(conn), [(person_id, _vector(blob)) for person_id, blob in old], record.FaceEmbeddings
        )
        # Faces without embeddings (Rekognition's DetectFaces gives none) are kept in the record but join no person.
        placed = record.FaceDetails if record.FaceEmbeddings else []
        confidences = [float(face.get("Confidence", 0.0)) for face in placed]
        if not placement.kept:
            if old:
                conn.execute(self._sql("DELETE FROM faces WHERE image_id = ?"), (image_id,))
            conn.cursor().executemany(
                self._sql(
                    "INSERT INTO faces (image_id, face_index, person_id, confidence, vector) VALUES (?, ?, ?, ?, ?)"
                ),
                [
                    (image_id, number, person_id, confidence, _blob(vector))
                    for number, (person_id, confidence, vector) in enumerate(
                        zip(placement.person_ids, confidences, record.FaceEmbeddings, strict=True)
                    )
                ],
            )
            self._save_people(conn, placement.changed)
        for face, person_id in zip(placed, placement.person_ids, strict=True):
            face["PersonId"] = person_id
        return person_entries(placement.person_ids, confidences)

    def _save_people(self, conn: Connection, changed: set[int]) -> None:
        """Write the changed people as the clustering now holds them (delete those it no longer has)."""
        if not changed:
            return
        self._touched.add(PEOPLE)
        people = self.people(conn)
        for person_id in sorted(changed):
            if person_id not in people:
                conn.execute(self._sql("DELETE FROM people WHERE id = ?"), (person_id,))
                continue
            person = people[person_id]
            conn.execute(
                self._sql(
                    """INSERT INTO people (id, name, faces, total) VALUES (?, ?, ?, ?)
                       ON CONFLICT(id) DO UPDATE SET name = excluded.name, faces = excluded.faces,
                           total = excluded.total"""
                ),
                (person.id, person.name, person.count, _blob(person.total)),
            )

    def rename(self, conn: Connection, person_id: int, name: str | None) -> bool:
        people = self.people(conn)
        if person_id not in people:
            return False
        people.rename(person_id, name)
        self._save_people(conn, {person_id})
        return True

    def people(self, conn: Connection) -> People:
        """The clustering, as of the write transaction ``conn`` is in."""
        if self._people is None:
            rows = conn.execute("SELECT id, name, faces, total FROM people").fetchall()
            self._people = people_from_rows(
                ((pid, name, faces, _vector(total)) for pid, name, faces, total in rows), self.face_similarity
            )
            self._people_generation = self._begun[PEOPLE]
        return self._people

    # -- the vector index ----
    def vector_index(self) -> Any:
        """The HNSW index, up to date with the table; None while there are no vectors."""
        with self._index_lock:
            with self._snapshot() as conn:
                current = self._generation(conn)
                if self._index is not None and self._index_generation == current:
                    return self._index
                first = conn.execute("SELECT vector FROM embeddings LIMIT 1").fetchone()
                if first is None and self._index is None:
                    return None
                dimensions = len(_vector(first[0])) if first is not None else self._index.dimensions
                if self._index is None or self._index.dimensions != dimensions:
                    self._open(dimensions)
                if not self._catch_up(conn, current):
                    self._index = self._rebuilt(conn, dimensions)
                self._index_generation = current
            return self._index

    def _generation(self, conn: Connection) -> int:
        (current,) = one(conn, self._sql("SELECT value FROM generations WHERE name = ?"), (EMBEDDINGS,))
        return int(current)

    def _open(self, dimensions: int) -> None:
        """The saved file as it is (a later catch-up brings it up to date), or an empty index."""
        from pixlens.vectors import VectorIndex

        loaded = self.saved.load(dimensions)
        if loaded is None:
            self._index, self._index_generation = VectorIndex(self.index_path, dimensions, load=False), -1
        else:
            self._index, self._index_generation = loaded
        self._saved_generation = self._index_generation

    def _catch_up(self, conn: Connection, current: int) -> bool:
        """Replay the logged changes since the index's generation; False when the log cannot (rebuild)."""
        since = self._index_generation
        if since < 0 or since > current:  # an unknown file, or one newer than the table (a restored catalog)
            return False
        (oldest,) = one(conn, "SELECT MIN(generation) FROM vector_log")
        if oldest is None or oldest > since + 1:
            return False
        changed = [
            row[0]
            for row in conn.execute(
                self._sql("SELECT DISTINCT image_id FROM vector_log WHERE generation > ? AND generation <= ?"),
                (since, current),
            )
        ]
        for start in range(0, len(changed), BY_ID):
            chunk = changed[start : start + BY_ID]
            where, params = self._dialect.any_of("image_id", chunk)
            rows = conn.execute(f"SELECT image_id, vector FROM embeddings WHERE {where}", params).fetchall()
            if rows:
                self._index.add([row[0] for row in rows], np.stack([_vector(row[1]) for row in rows]))
            present = {row[0] for row in rows}
            self._index.remove([image_id for image_id in chunk if image_id not in present])
        return True

    def _rebuilt(self, conn: Connection, dimensions: int) -> Any:
        """A new index filled from the table, a chunk at a time (the table may hold millions of vectors)."""
        from pixlens.vectors import VectorIndex

        index = VectorIndex(self.index_path, dimensions, load=False)
        for ids, matrix in self._chunks(conn):
            index.add(ids, matrix)
        return index

    def _chunks(self, conn: Connection) -> Iterator[tuple[list[int], Vector]]:
        last = -1
        while rows := conn.execute(
            self._sql("SELECT image_id, vector FROM embeddings WHERE image_id > ? ORDER BY image_id LIMIT ?"),
            (last, CHUNK),
        ).fetchall():
            yield [row[0] for row in rows], np.stack([_vector(row[1]) for row in rows])
            last = rows[-1][0]

    def embedding_chunks(self) -> Iterator[tuple[list[int], Vector]]:
        """Every embedding, ``CHUNK`` at a time, in id order (one consistent state of the table)."""
        with self._snapshot() as conn:
            yield from self._chunks(conn)

    def embeddings_of(self, ids: list[int]) -> dict[int, Vector]:
        found: dict[int, Vector] = {}
        for start in range(0, len(ids), BY_ID):
            where, params = self._dialect.any_of("image_id", ids[start : start + BY_ID])
            sql = f"SELECT image_id, vector FROM embeddings WHERE {where}"
            found.update((image_id, _vector(blob)) for image_id, blob in self._read(sql, params))
        return found

    def similar(self, image_id: int, k: int) -> list[tuple[int, float]]:
        rows = self._read(self._sql("SELECT vector FROM embeddings WHERE image_id = ?"), (image_id,))
        index = self.vector_index()
        if not rows or index is None:
            return []
        found = index.search(_vector(rows[0][0]), k + 1)
        return [(other, similarity) for other, similarity in found if other != image_id][:k]

    def save(self) -> None:
        """Save the index if it changed since its file was written; compact it first when removals piled up."""
        with self._index_lock:
            self._saved_at = time.monotonic()
            if self._index is None or self._index_generation == self._saved_generation:
                return
            if self._index.tombstones > max(COMPACT_MIN, COMPACT_RATIO * len(self._index)):
                with self._snapshot() as conn:
                    current = self._generation(conn)
                    self._index = self._rebuilt(conn, self._index.dimensions)
                    self._index_generation = current
            try:
                self.saved.save(self._index, self._index_generation)
            except OSError as exc:
                raise CatalogError(f"cannot save the vector index {self.index_path}: {exc}") from exc
            self._saved_generation = self._index_generation

    # -- reading ----
    def attach(self, image_id: int, record: ImageRecord) -> None:
        """Put the vectors that the record's JSON leaves out back into it."""
        rows = self._read(self._sql("SELECT vector FROM embeddings WHERE image_id = ?"), (image_id,))
        record.ImageEmbedding = _vector(rows[0][0]).tolist() if rows else None
        faces = self._read(self._sql("SELECT vector FROM faces WHERE image_id = ? ORDER BY face_index"), (image_id,))
        record.FaceEmbeddings = [_vector(row[0]).tolist() for row in faces]

    def person_rows(self) -> list[PersonRow]:
        return [PersonRow(*row) for row in self._read(self.statements.person_rows)]

    def person_ids(self, name: str) -> list[int]:
        if name.isdigit():
            return [int(name)]
        return [row[0] for row in self._read(self.statements.person_ids, (name,))]
