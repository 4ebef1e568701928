"""The SQLite catalog's vectors: image embeddings (for "more like this") and faces clustered into people.

The tables are the truth: ``embeddings(image_id, vector)``, ``faces(image_id, face_index, person_id,
confidence, vector)`` and ``people(id, name, faces, total)``. Beside them, two in-memory structures that the
tables rebuild at any time: the people clustering (``pixlens.people.People``) and the HNSW vector index
(``pixlens.vectors.VectorIndex``, saved in ``<catalog>.vectors`` on close and every few minutes; rebuilt from
the table when its count disagrees, e.g. after a crash).

Changes are made inside the catalog's write transaction; the vector index follows after the commit, and after a
rollback the people are reloaded from their table.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pixlens.catalog.base import PersonRow
from pixlens.catalog.facets import PERSON
from pixlens.people import People
from pixlens.record import ImageRecord

SAVE_INTERVAL = 300.0  # seconds between saves of a changed vector index (and at close); a crash rebuilds it

MIGRATION = """
    ALTER TABLE images ADD COLUMN phash TEXT;
    CREATE TABLE embeddings (image_id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        image_id INTEGER NOT NULL,
        face_index INTEGER NOT NULL,
        person_id INTEGER NOT NULL,
        confidence REAL NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE INDEX faces_by_image ON faces(image_id);
    CREATE INDEX faces_by_person ON faces(person_id);
    CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, faces INTEGER NOT NULL, total BLOB NOT NULL);
"""


def _blob(vector: Any) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _vector(blob: bytes) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.frombuffer(blob, dtype=np.float32)


class Vectors:
    def __init__(self, catalog_path: Path, face_similarity: float, read: Callable[..., list[Any]]) -> None:
        self.index_path = catalog_path.with_name(catalog_path.name + ".vectors")
        self.face_similarity = face_similarity
        self._read = read
        self._people: People | None = None
        self._index: Any = None
        self._index_lock = threading.Lock()
        self._pending: list[tuple[str, int, Any]] = []  # vector index changes waiting for the commit
        self._unsaved = 0
        self._saved_at = time.monotonic()

    # -- inside a write transaction ----
    def unindex(self, conn: sqlite3.Connection, image_id: int, keep_faces: bool = False) -> None:
        """Forget an image's vectors (its faces too, unless ``index`` will compare them with the new ones)."""
        if not keep_faces:
            self._forget_faces(conn, image_id)
        if conn.execute("DELETE FROM embeddings WHERE image_id = ?", (image_id,)).rowcount:
            self._pending.append(("remove", image_id, None))

    def _forget_faces(self, conn: sqlite3.Connection, image_id: int) -> None:
        faces = conn.execute("SELECT person_id, vector FROM faces WHERE image_id = ?", (image_id,)).fetchall()
        if faces:
            people = self.people(conn)
            for person_id, vector in faces:
                if person_id in people:
                    people.remove(person_id, _vector(vector).astype(np.float64))
                    self._save_person(conn, people, person_id)
            conn.execute("DELETE FROM faces WHERE image_id = ?", (image_id,))

    def index(self, conn: sqlite3.Connection, image_id: int, record: ImageRecord) -> dict[str, float]:
        """Store an analysed record's vectors; returns its ``person:<id>`` facet entries.

        Faces that are the same as the image already had (a re-analysis of something else, a touched file)
        keep their people: taking them out and assigning them again would renumber, and lose names.
        """
        entries: dict[str, float] = {}
        if record.ImageEmbedding:
            conn.execute("INSERT INTO embeddings VALUES (?, ?)", (image_id, _blob(record.ImageEmbedding)))
            self._pending.append(("add", image_id, record.ImageEmbedding))
        old = conn.execute(
            "SELECT person_id, vector FROM faces WHERE image_id = ? ORDER BY face_index", (image_id,)
        ).fetchall()
        same = len(old) == len(record.FaceEmbeddings) and all(
            np.allclose(_vector(blob), np.asarray(vector, dtype=np.float32), atol=1e-5)
            for (_, blob), vector in zip(old, record.FaceEmbeddings, strict=True)
        )
        if same:
            for face, (person_id, _) in zip(record.FaceDetails, old, strict=True):
                face["PersonId"] = person_id
                entry = f"{PERSON}{person_id}"
                entries[entry] = max(entries.get(entry, 0.0), float(face.get("Confidence", 0.0)))
            return entries
        self._forget_faces(conn, image_id)
        if record.FaceEmbeddings:
            people = self.people(conn)
            for number, (face, vector) in enumerate(zip(record.FaceDetails, record.FaceEmbeddings, strict=True)):
                person_id = people.assign(vector)
                face["PersonId"] = person_id
                confidence = float(face.get("Confidence", 0.0))
                conn.execute(
                    "INSERT INTO faces (image_id, face_index, person_id, confidence, vector) VALUES (?, ?, ?, ?, ?)",
                    (image_id, number, person_id, confidence, _blob(vector)),
                )
                self._save_person(conn, people, person_id)
                entry = f"{PERSON}{person_id}"
                entries[entry] = max(entries.get(entry, 0.0), confidence)
        return entries

    def _save_person(self, conn: sqlite3.Connection, people: People, person_id: int) -> None:
        if person_id not in people:
            conn.execute("DELETE FROM people WHERE id = ?", (person_id,))
            return
        person = people[person_id]
        conn.execute(
            """INSERT INTO people (id, name, faces, total) VALUES (?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET name = excluded.name, faces = excluded.faces, total = excluded.total""",
            (person.id, person.name, person.count, _blob(person.total)),
        )

    def people(self, conn: sqlite3.Connection | None = None) -> People:
        if self._people is None:
            sql = "SELECT id, name, faces, total FROM people"
            rows = conn.execute(sql).fetchall() if conn is not None else self._read(sql)
            state = {
                "version": 1,
                "threshold": self.face_similarity,
                "next_id": 1 + max((row[0] for row in rows), default=0),
                "people": [
                    {"id": row[0], "name": row[1], "count": row[2], "total": _vector(row[3]).astype(np.float64)}
                    for row in rows
                ],
            }
            self._people = People.from_state(state)
        return self._people

    def committed(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        index = self.vector_index()
        if index is None:
            return
        for action, image_id, vector in pending:
            if action == "add":
                index.add([image_id], [vector])
            else:
                index.remove([image_id])
        self._unsaved += len(pending)
        if time.monotonic() - self._saved_at >= SAVE_INTERVAL:
            self.save()

    def rolled_back(self) -> None:
        self._pending = []
        self._people = None  # the in-memory clustering may hold changes the tables do not

    # -- the vector index ----
    def vector_index(self) -> Any:
        """The HNSW index (opened, or rebuilt from the table when it disagrees); None while there are no vectors."""
        with self._index_lock:
            if self._index is not None:
                return self._index
            first = self._read("SELECT vector FROM embeddings LIMIT 1")
            if not first:
                return None
            from pixlens.vectors import VectorIndex

            dimensions = len(_vector(first[0][0]))
            index = VectorIndex(self.index_path, dimensions)
            count = self._read("SELECT COUNT(*) FROM embeddings")[0][0]
            sample = [row[0] for row in self._read("SELECT image_id FROM embeddings ORDER BY image_id DESC LIMIT 100")]
            if len(index) != count or any(image_id not in index for image_id in sample):
                self.index_path.unlink(missing_ok=True)
                index = VectorIndex(self.index_path, dimensions)
                self._rebuild(index)
            self._index = index
            return index

    def _rebuild(self, index: Any) -> None:
        """Fill an empty index from the table, a chunk at a time (the table may hold millions of vectors)."""
        last = -1
        while rows := self._read(
            "SELECT image_id, vector FROM embeddings WHERE image_id > ? ORDER BY image_id LIMIT 10000", (last,)
        ):
            index.add([row[0] for row in rows], np.stack([_vector(row[1]) for row in rows]))
            last = rows[-1][0]
        index.save()

    def embeddings(self) -> dict[int, np.ndarray[Any, np.dtype[np.float32]]]:
        return {image_id: _vector(blob) for image_id, blob in self._read("SELECT image_id, vector FROM embeddings")}

    def similar(self, image_id: int, k: int) -> list[tuple[int, float]]:
        rows = self._read("SELECT vector FROM embeddings WHERE image_id = ?", (image_id,))
        index = self.vector_index()
        if not rows or index is None:
            return []
        found = index.search(_vector(rows[0][0]), k + 1)
        return [(other, similarity) for other, similarity in found if other != image_id][:k]

    def save(self) -> None:
        with self._index_lock:
            if self._index is not None and self._unsaved:
                self._index.save()
                self._unsaved = 0
            self._saved_at = time.monotonic()

    # -- reading ----
    def attach(self, image_id: int, record: ImageRecord) -> None:
        """Put the vectors that the record's JSON leaves out back into it."""
        rows = self._read("SELECT vector FROM embeddings WHERE image_id = ?", (image_id,))
        record.ImageEmbedding = _vector(rows[0][0]).tolist() if rows else None
        faces = self._read("SELECT vector FROM faces WHERE image_id = ? ORDER BY face_index", (image_id,))
        record.FaceEmbeddings = [_vector(row[0]).tolist() for row in faces]

    def person_rows(self) -> list[PersonRow]:
        rows = self._read(
            """SELECT p.id, p.name, p.faces, COUNT(DISTINCT f.image_id) FROM people AS p
               LEFT JOIN faces AS f ON f.person_id = p.id GROUP BY p.id ORDER BY p.faces DESC, p.id"""
        )
        return [PersonRow(*row) for row in rows]

    def person_ids(self, name: str) -> list[int]:
        if name.isdigit():
            return [int(name)]
        rows = self._read("SELECT id FROM people WHERE name = ? COLLATE NOCASE", (name,))
        return [row[0] for row in rows]
