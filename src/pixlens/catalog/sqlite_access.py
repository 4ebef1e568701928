"""The SQLite catalog's access tables: API keys, saved searches with webhooks, and their deliveries.

Plain rows in, plain rows out: what a key may do, how a hook matches and how a delivery is sent are decided in
``pixlens.access`` and ``pixlens.webhooks``. A key is stored as its SHA-256 and a short display prefix, never as
itself. Deliveries are rows, so that those not yet sent survive a restart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from pixlens.catalog.base import ApiKeyRow, DeliveryRow, HookRow

KEYS_MIGRATION = """
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        name TEXT,
        scope TEXT NOT NULL,
        prefix TEXT NOT NULL,
        sha256 TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at TEXT
    );
    CREATE INDEX api_keys_by_prefix ON api_keys(prefix);
"""

HOOKS_MIGRATION = """
    CREATE TABLE hooks (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        query TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        hook_id INTEGER NOT NULL,
        image TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT
    );
    CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
    CREATE INDEX deliveries_by_hook ON deliveries(hook_id);
"""

# Images analysed while saved searches exist, not yet matched against them: written in the transaction that writes
# the record, so that a crash between the analysis and the matching loses no webhook delivery.
MATCHES_MIGRATION = """
    CREATE TABLE hook_matches (image_id INTEGER PRIMARY KEY);
"""

_KEY_COLUMNS = "id, name, scope, prefix, sha256, created_at, last_used_at, revoked_at"
_HOOK_COLUMNS = "id, name, query, url, secret, created_at"
_DELIVERY_SELECT = """
    SELECT d.id, d.hook_id, h.name, d.image, d.body, d.status, d.attempts, d.next_attempt_at, d.last_error,
           d.created_at, d.delivered_at
    FROM deliveries d JOIN hooks h ON h.id = d.hook_id
"""

Read = Callable[..., list[Any]]
Write = Callable[[Callable[[sqlite3.Connection], Any]], Any]


class AccessTables:
    """The queries behind the catalog's key, hook and delivery methods (``read``/``write`` are the catalog's)."""

    def __init__(self, read: Read, write: Write) -> None:
        self._read = read
        self._write = write

    # -- API keys ----
    def add_api_key(self, name: str | None, scope: str, prefix: str, sha256: str, when: str) -> ApiKeyRow:
        def work(conn: sqlite3.Connection) -> ApiKeyRow:
            row = conn.execute(
                f"""INSERT INTO api_keys (name, scope, prefix, sha256, created_at) VALUES (?, ?, ?, ?, ?)
                    RETURNING {_KEY_COLUMNS}""",
                (name, scope, prefix, sha256, when),
            ).fetchone()
            return ApiKeyRow(*row)

        result: ApiKeyRow = self._write(work)
        return result

    def api_keys(self, prefix: str | None = None) -> list[ApiKeyRow]:
        if prefix is None:
            rows = self._read(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY id")
        else:
            rows = self._read(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE prefix = ? ORDER BY id", (prefix,))
        return [ApiKeyRow(*row) for row in rows]

    def revoke_api_key(self, key_id: int, when: str) -> ApiKeyRow | None:
        def work(conn: sqlite3.Connection) -> ApiKeyRow | None:
            conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (when, key_id))
            row = conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            return None if row is None else ApiKeyRow(*row)

        result: ApiKeyRow | None = self._write(work)
        return result

    def touch_api_key(self, key_id: int, when: str, unless_since: str) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                (when, key_id, unless_since),
            )
        )

    # -- hooks ----
    def add_hook(self, name: str, query: str, url: str, secret: str | None, when: str) -> HookRow | None:
        def work(conn: sqlite3.Connection) -> HookRow | None:
            row = conn.execute(
                f"""INSERT INTO hooks (name, query, url, secret, created_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(name) DO NOTHING RETURNING {_HOOK_COLUMNS}""",
                (name, query, url, secret, when),
            ).fetchone()
            return None if row is None else HookRow(*row)

        result: HookRow | None = self._write(work)
        return result

    def hooks(self) -> list[HookRow]:
        return [HookRow(*row) for row in self._read(f"SELECT {_HOOK_COLUMNS} FROM hooks ORDER BY name")]

    def remove_hook(self, name: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute("DELETE FROM hooks WHERE name = ? RETURNING id", (name,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM deliveries WHERE hook_id = ?", (row[0],))
            return True

        return bool(self._write(work))

    # -- deliveries ----
    @staticmethod
    def hooks_exist(conn: sqlite3.Connection) -> bool:
        return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM hooks)").fetchone()[0])

    @staticmethod
    def previous_analysis(conn: sqlite3.Connection, key: str) -> tuple[str | None, bool]:
        """The ``AnalyzedAt`` of the record the catalog holds for ``key``, and whether it holds one."""
        row = conn.execute("SELECT json_extract(record, '$.AnalyzedAt') FROM images WHERE key = ?", (key,)).fetchone()
        return (row[0], True) if row is not None else (None, False)

    @staticmethod
    def note_analyzed(conn: sqlite3.Connection, image_id: int) -> None:
        """In the record's own transaction: the image waits to be matched against the saved searches."""
        conn.execute("INSERT OR IGNORE INTO hook_matches (image_id) VALUES (?)", (image_id,))

    def unmatched(self, limit: int) -> list[str]:
        rows = self._read(
            """SELECT i.key FROM hook_matches AS m JOIN images AS i ON i.id = m.image_id
               ORDER BY m.image_id LIMIT ?""",
            (limit,),
        )
        return [row[0] for row in rows]

    def add_deliveries(self, deliveries: Iterable[DeliveryRow], matched: Iterable[str] = ()) -> None:
        rows = [
            (d.id, d.hook_id, d.image, d.body, d.status, d.attempts, d.next_attempt_at, d.last_error, d.created_at)
            for d in deliveries
        ]
        keys = [(key,) for key in matched]

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                """INSERT INTO deliveries
                   (id, hook_id, image, body, status, attempts, next_attempt_at, last_error, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                rows,
            )
            conn.executemany("DELETE FROM hook_matches WHERE image_id = (SELECT id FROM images WHERE key = ?)", keys)
            # images deleted meanwhile leave nothing to match
            conn.execute("DELETE FROM hook_matches WHERE image_id NOT IN (SELECT id FROM images)")

        if rows or keys:
            self._write(work)

    def claim_deliveries(self, due_by: str, lease_until: str, limit: int) -> list[DeliveryRow]:
        def work(conn: sqlite3.Connection) -> list[DeliveryRow]:
            rows = conn.execute(
                f"""{_DELIVERY_SELECT} WHERE d.status = 'pending' AND d.next_attempt_at <= ?
                    ORDER BY d.next_attempt_at, d.rowid LIMIT ?""",
                (due_by, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE deliveries SET next_attempt_at = ? WHERE id = ?", [(lease_until, row[0]) for row in rows]
            )
            return [DeliveryRow(*row) for row in rows]

        result: list[DeliveryRow] = self._write(work)
        return result

    def update_delivery(self, d: DeliveryRow) -> None:
        self._write(
            lambda conn: conn.execute(
                """UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?,
                   delivered_at = ? WHERE id = ?""",
                (d.status, d.attempts, d.next_attempt_at, d.last_error, d.delivered_at, d.id),
            )
        )

    def deliveries(self, hook: str | None = None, limit: int = 100) -> list[DeliveryRow]:
        if hook is None:
            rows = self._read(f"{_DELIVERY_SELECT} ORDER BY d.rowid DESC LIMIT ?", (limit,))
        else:
            rows = self._read(f"{_DELIVERY_SELECT} WHERE h.name = ? ORDER BY d.rowid DESC LIMIT ?", (hook, limit))
        return [DeliveryRow(*row) for row in rows]
