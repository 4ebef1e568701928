"""The SQLite catalog's vector tables: their migrations and the statements SQLite writes its own way.

The logic (generations, the vector log, the HNSW index catching up, people clustering) is
``vector_upkeep.py``'s; the index file lives beside the catalog, in ``<catalog>.vectors``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pixlens.catalog.sqldialect import SQLITE
from pixlens.catalog.vector_upkeep import EMBEDDINGS, PEOPLE, Snapshot, Vectors, VectorSql

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

GENERATIONS_MIGRATION = f"""
    CREATE TABLE generations (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO generations VALUES ('{PEOPLE}', 0), ('{EMBEDDINGS}', 0);
    CREATE TABLE vector_log (
        generation INTEGER NOT NULL,
        image_id INTEGER NOT NULL,
        PRIMARY KEY (generation, image_id)
    ) WITHOUT ROWID;
"""


SQLITE_VECTORS = VectorSql(
    dialect=SQLITE,
    person_rows="""SELECT p.id, p.name, p.faces, COUNT(DISTINCT f.image_id), i.key, best.face_index FROM people AS p
               LEFT JOIN faces AS f ON f.person_id = p.id
               LEFT JOIN (SELECT person_id, image_id, face_index, MAX(confidence) FROM faces GROUP BY person_id)
                   AS best ON best.person_id = p.id
               LEFT JOIN images AS i ON i.id = best.image_id
               GROUP BY p.id ORDER BY p.faces DESC, p.id""",
    person_ids="SELECT id FROM people WHERE name = ? COLLATE NOCASE",
    catch_up_errors=(sqlite3.Error,),
)


def sqlite_vectors(
    catalog_path: Path, face_similarity: float, read: Callable[..., list[Any]], snapshot: Snapshot
) -> Vectors:
    """The vectors of the catalog at ``catalog_path``, its index file beside it."""
    index_path = catalog_path.with_name(catalog_path.name + ".vectors")
    return Vectors(SQLITE_VECTORS, index_path, face_similarity, read, snapshot)
