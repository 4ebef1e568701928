"""A full check of an SQLite catalog: SQLite's own integrity check, then the catalog's own rules.

Reads every page, so it takes as long as reading the whole file (``pixlens check``); opening a catalog only
checks its header and schema.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pixlens.catalog.sqlite_errors import catalog_error

# (what is wrong, a query counting the rows where it is)
RULES: list[tuple[str, str]] = [
    (
        "label counts that disagree with the label index",
        """SELECT COUNT(*) FROM (
               SELECT label, images FROM label_counts
               EXCEPT SELECT label, COUNT(*) FROM label_index GROUP BY label
           )""",
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
]


def check_catalog(conn: sqlite3.Connection, path: Path) -> list[str]:
    """Every problem found, as sentences (empty: the catalog is sound)."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check(100)") if row[0] != "ok"]
    except sqlite3.DatabaseError as exc:
        return [catalog_error(exc, path, "check").args[0]]
    if problems:  # the rules below would only read damaged pages again
        return [f"SQLite: {problem}" for problem in problems]
    found = []
    for what, sql in RULES:
        try:
            (count,) = conn.execute(sql).fetchone()
        except sqlite3.DatabaseError as exc:
            found.append(f"{what}: cannot tell ({exc})")
            continue
        if count:
            found.append(f"{what}: {count}")
    return found
