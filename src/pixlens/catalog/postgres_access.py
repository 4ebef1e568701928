"""The PostgreSQL catalog's access tables: API keys, saved searches with webhooks, and their deliveries (the
same queries as ``sqlite_access.py``; the tables are made by ``postgres_sql/``).

Plain rows in, plain rows out: what a key may do, how a hook matches and how a delivery is sent are decided in
``pixlens.access`` and ``pixlens.webhooks``. A key is stored as its SHA-256 and a short display prefix, never as
itself. Deliveries are rows, so that those not yet sent survive a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pixlens.catalog.base import ApiKeyRow, DeliveryRow, HookRow
from pixlens.catalog.postgres_db import Conn, one

_KEY_COLUMNS = "id, name, scope, prefix, sha256, created_at, last_used_at, revoked_at"
_HOOK_COLUMNS = "id, name, query, url, secret, created_at"
_DELIVERY_SELECT = """
    SELECT d.id, d.hook_id, h.name, d.image, d.body, d.status, d.attempts, d.next_attempt_at, d.last_error,
           d.created_at, d.delivered_at
    FROM deliveries d JOIN hooks h ON h.id = d.hook_id
"""

Read = Callable[..., list[Any]]
Write = Callable[[Callable[[Conn], Any]], Any]


class AccessTables:
    """The queries behind the catalog's key, hook and delivery methods (``read``/``write`` are the catalog's)."""

    def __init__(self, read: Read, write: Write) -> None:
        self._read = read
        self._write = write

    # -- API keys ----
    def add_api_key(self, name: str | None, scope: str, prefix: str, sha256: str, when: str) -> ApiKeyRow:
        def work(conn: Conn) -> ApiKeyRow:
            row = one(
                conn,
                f"""INSERT INTO api_keys (name, scope, prefix, sha256, created_at) VALUES (%s, %s, %s, %s, %s)
                    RETURNING {_KEY_COLUMNS}""",
                (name, scope, prefix, sha256, when),
            )
            return ApiKeyRow(*row)

        result: ApiKeyRow = self._write(work)
        return result

    def api_keys(self, prefix: str | None = None) -> list[ApiKeyRow]:
        if prefix is None:
            rows = self._read(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY id")
        else:
            rows = self._read(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE prefix = %s ORDER BY id", (prefix,))
        return [ApiKeyRow(*row) for row in rows]

    def revoke_api_key(self, key_id: int, when: str) -> ApiKeyRow | None:
        def work(conn: Conn) -> ApiKeyRow | None:
            conn.execute("UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL", (when, key_id))
            row = conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = %s", (key_id,)).fetchone()
            return None if row is None else ApiKeyRow(*row)

        result: ApiKeyRow | None = self._write(work)
        return result

    def touch_api_key(self, key_id: int, when: str, unless_since: str) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE api_keys SET last_used_at = %s WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)",
                (when, key_id, unless_since),
            )
        )

    # -- hooks ----
    def add_hook(self, name: str, query: str, url: str, secret: str | None, when: str) -> HookRow | None:
        def work(conn: Conn) -> HookRow | None:
            row = conn.execute(
                f"""INSERT INTO hooks (name, query, url, secret, created_at) VALUES (%s, %s, %s, %s, %s)
                    ON CONFLICT (name) DO NOTHING RETURNING {_HOOK_COLUMNS}""",
                (name, query, url, secret, when),
            ).fetchone()
            return None if row is None else HookRow(*row)

        result: HookRow | None = self._write(work)
        return result

    def hooks(self) -> list[HookRow]:
        return [HookRow(*row) for row in self._read(f"SELECT {_HOOK_COLUMNS} FROM hooks ORDER BY name")]

    def remove_hook(self, name: str) -> bool:
        def work(conn: Conn) -> bool:
            row = conn.execute("DELETE FROM hooks WHERE name = %s RETURNING id", (name,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM deliveries WHERE hook_id = %s", (row[0],))
            return True

        return bool(self._write(work))

    # -- deliveries ----
    @staticmethod
    def hooks_exist(conn: Conn) -> bool:
        return bool(one(conn, "SELECT EXISTS (SELECT 1 FROM hooks)")[0])

    @staticmethod
    def previous_analysis(conn: Conn, key: str) -> tuple[str | None, bool]:
        """The ``AnalyzedAt`` of the record the catalog holds for ``key``, and whether it holds one."""
        row = conn.execute("SELECT record->>'AnalyzedAt' FROM images WHERE key = %s", (key,)).fetchone()
        return (row[0], True) if row is not None else (None, False)

    @staticmethod
    def note_analyzed(conn: Conn, image_id: int) -> None:
        """In the record's own transaction: the image waits to be matched against the saved searches."""
        conn.execute("INSERT INTO hook_matches (image_id) VALUES (%s) ON CONFLICT DO NOTHING", (image_id,))

    def unmatched(self, limit: int) -> list[str]:
        rows = self._read(
            """SELECT i.key FROM hook_matches AS m JOIN images AS i ON i.id = m.image_id
               ORDER BY m.image_id LIMIT %s""",
            (limit,),
        )
        return [row[0] for row in rows]

    def add_deliveries(self, deliveries: Iterable[DeliveryRow], matched: Iterable[str] = ()) -> None:
        rows = [
            (d.id, d.hook_id, d.image, d.body, d.status, d.attempts, d.next_attempt_at, d.last_error, d.created_at)
            for d in deliveries
        ]
        keys = [(key,) for key in matched]

        def work(conn: Conn) -> None:
            conn.cursor().executemany(
                """INSERT INTO deliveries
                   (id, hook_id, image, body, status, attempts, next_attempt_at, last_error, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                rows,
            )
            conn.cursor().executemany(
                "DELETE FROM hook_matches WHERE image_id = (SELECT id FROM images WHERE key = %s)", keys
            )
            # images deleted meanwhile leave nothing to match
            conn.execute("DELETE FROM hook_matches WHERE image_id NOT IN (SELECT id FROM images)")

        if rows or keys:
            self._write(work)

    def claim_deliveries(self, due_by: str, lease_until: str, limit: int) -> list[DeliveryRow]:
        def work(conn: Conn) -> list[DeliveryRow]:
            rows = conn.execute(
                f"""{_DELIVERY_SELECT} WHERE d.status = 'pending' AND d.next_attempt_at <= %s
                    ORDER BY d.next_attempt_at, d.seq LIMIT %s""",
                (due_by, limit),
            ).fetchall()
            conn.cursor().executemany(
                "UPDATE deliveries SET next_attempt_at = %s WHERE id = %s", [(lease_until, row[0]) for row in rows]
            )
            return [DeliveryRow(*row) for row in rows]

        result: list[DeliveryRow] = self._write(work)
        return result

    def update_delivery(self, d: DeliveryRow) -> None:
        self._write(
            lambda conn: conn.execute(
                """UPDATE deliveries SET status = %s, attempts = %s, next_attempt_at = %s, last_error = %s,
                   delivered_at = %s WHERE id = %s""",
                (d.status, d.attempts, d.next_attempt_at, d.last_error, d.delivered_at, d.id),
            )
        )

    def deliveries(self, hook: str | None = None, limit: int = 100) -> list[DeliveryRow]:
        if hook is None:
            rows = self._read(f"{_DELIVERY_SELECT} ORDER BY d.seq DESC LIMIT %s", (limit,))
        else:
            rows = self._read(f"{_DELIVERY_SELECT} WHERE h.name = %s ORDER BY d.seq DESC LIMIT %s", (hook, limit))
        return [DeliveryRow(*row) for row in rows]
