"""A full check of an SQLite catalog: SQLite's own integrity check, then the catalog's own rules.

Reads every page, so it takes as long as reading the whole file (``pixlens check``); opening a catalog only
checks its header and schema.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pixlens.catalog.check_rules import RULES, broken_rules
from pixlens.catalog.sqlite_errors import catalog_error


def check_catalog(conn: sqlite3.Connection, path: Path) -> list[str]:
    """Every problem found, as sentences (empty: the catalog is sound)."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check(100)") if row[0] != "ok"]
    except sqlite3.DatabaseError as exc:
        return [catalog_error(exc, path, "check").args[0]]
    if problems:  # the rules below would only read damaged pages again
        return [f"SQLite: {problem}" for problem in problems]
    return broken_rules(lambda sql: int(conn.execute(sql).fetchone()[0]), RULES, (sqlite3.DatabaseError,))
