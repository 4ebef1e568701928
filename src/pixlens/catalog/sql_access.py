"""The SQL catalogs' access tables: API keys, saved searches with webhooks, and their deliveries (the tables are
made by ``sqlite_access.py``'s migrations and by ``postgres_sql/``).

Plain rows in, plain rows out: what a key may do, how a hook matches and how a delivery is sent are decided in
``pixlens.access`` and ``pixlens.webhooks``. A key is stored as its SHA-256 and a short display prefix, never as
itself. Deliveries are rows, so that those not yet sent survive a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pixlens.catalog.base import ApiKeyRow, DeliveryRow, HookRow
from pixlens.catalog.sqldialect import Connection, Dialect, one

_KEY_COLUMNS = "id, name, scope, prefix, sha256, created_at, last_used_at, revoked_at"
_HOOK_COLUMNS = "id, name, query, url, secret, created_at"
_DELIVERY_SELECT = """
    SELECT d.id, d.hook_id, h.name, d.image, d.body, d.status, d.attempts, d.next_attempt_at, d.last_error,
           d.created_at, d.delivered_at
    FROM deliveries d JOIN hooks h ON h.id = d.hook_id
"""

Read = Callable[..., list[Any]]
Write = Callable[[Callable[[Connection], Any]], Any]


class AccessTables:
    """The queries behind the catalog's key, hook and delivery methods (``read``/``write`` are the catalog's;
    ``arrival`` is the column that orders deliveries as they were added)."""

    def __init__(self, dialect: Dialect, read: Read, write: Write, arrival: str) -> None:
        self.dialect = dialect
        self._sql = dialect.sql
        self._read = read
        self._write = write
        self._arrival = arrival

    # -- API keys ----
    def add_api_key(self, name: str | None, scope: str, prefix: str, sha256: str, when: str) -> ApiKeyRow:
        sql = self._sql(
            f"""INSERT INTO api_keys (name, scope, prefix, sha256, created_at) VALUES (?, ?, ?, ?, ?)
                RETURNING {_KEY_COLUMNS}"""
        )
        result: ApiKeyRow = self._write(lambda conn: ApiKeyRow(*one(conn, sql, (name, scope, prefix, sha256, when))))
        return result

    def api_keys(self, prefix: str | None = None) -> list[ApiKeyRow]:
        if prefix is None:
            rows = self._read(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY id")
        else:
            rows = self._read(self._sql(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE prefix = ? ORDER BY id"), (prefix,))
        return [ApiKeyRow(*row) for row in rows]

    def revoke_api_key(self, key_id: int, when: str) -> ApiKeyRow | None:
        def work(conn: Connection) -> ApiKeyRow | None:
            conn.execute(
                self._sql("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"), (when, key_id)
            )
            row = conn.execute(self._sql(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?"), (key_id,)).fetchone()
            return None if row is None else ApiKeyRow(*row)

        result: ApiKeyRow | None = self._write(work)
        return result

    def touch_api_key(self, key_id: int, when: str, unless_since: str) -> None:
        sql = self._sql(
            "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)"
        )
        self._write(lambda conn: conn.execute(sql, (when, key_id, unless_since)))

    # -- hooks ----
    def add_hook(self, name: str, query: str, url: str, secret: str | None, when: str) -> HookRow | None:
        def work(conn: Connection) -> HookRow | None:
            row = conn.execute(
                self._sql(
                    f"""INSERT INTO hooks (name, query, url, secret, created_at) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (name) DO NOTHING RETURNING {_HOOK_COLUMNS}"""
                ),
                (name, query, url, secret, when),
            ).fetchone()
            return None if row is None else HookRow(*row)

        result: HookRow | None = self._write(work)
        return result

    def hooks(self) -> list[HookRow]:
        return [HookRow(*row) for row in self._read(f"SELECT {_HOOK_COLUMNS} FROM hooks ORDER BY name")]

    def remove_hook(self, name: str) -> bool:
        def work(conn: Connection) -> bool:
            row = conn.execute(self._sql("DELETE FROM hooks WHERE name = ? RETURNING id"), (name,)).fetchone()
            if row is None:
                return False
            conn.execute(self._sql("DELETE FROM deliveries WHERE hook_id = ?"), (row[0],))
            return True

        return bool(self._write(work))

    # -- deliveries ----
    @staticmethod
    def hooks_exist(conn: Connection) -> bool:
        return bool(one(conn, "SELECT EXISTS (SELECT 1 FROM hooks)")[0])

    def previous_analysis(self, conn: Connection, key: str) -> tuple[str | None, bool]:
        """The ``AnalyzedAt`` of the record the catalog holds for ``key``, and whether it holds one."""
        analysed_at = self.dialect.json_text("record", "AnalyzedAt")
        row = conn.execute(self._sql(f"SELECT {analysed_at} FROM images WHERE key = ?"), (key,)).fetchone()
        return (row[0], True) if row is not None else (None, False)

    def note_analyzed(self, conn: Connection, image_id: int) -> None:
        """In the record's own transaction: the image waits to be matched against the saved searches."""
        conn.execute(self._sql("INSERT INTO hook_matches (image_id) VALUES (?) ON CONFLICT DO NOTHING"), (image_id,))

    def unmatched(self, limit: int) -> list[str]:
        rows = self._read(
            self._sql(
                """SELECT i.key FROM hook_matches AS m JOIN images AS i ON i.id = m.image_id
                   ORDER BY m.image_id LIMIT ?"""
            ),
            (limit,),
        )
        return [row[0] for row in rows]

    def add_deliveries(self, deliveries: Iterable[DeliveryRow], matched: Iterable[str] = ()) -> None:
        rows = [
            (d.id, d.hook_id, d.image, d.body, d.status, d.attempts, d.next_attempt_at, d.last_error, d.created_at)
            for d in deliveries
        ]
        keys = [(key,) for key in matched]

        def work(conn: Connection) -> None:
            conn.cursor().executemany(
                self._sql(
                    """INSERT INTO deliveries
                       (id, hook_id, image, body, status, attempts, next_attempt_at, last_error, created_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""
                ),
                rows,
            )
            conn.cursor().executemany(
                self._sql("DELETE FROM hook_matches WHERE image_id = (SELECT id FROM images WHERE key = ?)"), keys
            )
            # images deleted meanwhile leave nothing to match
            conn.execute("DELETE FROM hook_matches WHERE image_id NOT IN (SELECT id FROM images)")

        if rows or keys:
            self._write(work)

    def claim_deliveries(self, due_by: str, lease_until: str, limit: int) -> list[DeliveryRow]:
        def work(conn: Connection) -> list[DeliveryRow]:
            rows = conn.execute(
                self._sql(
                    f"""{_DELIVERY_SELECT} WHERE d.status = 'pending' AND d.next_attempt_at <= ?
                        ORDER BY d.next_attempt_at, d.{self._arrival} LIMIT ?"""
                ),
                (due_by, limit),
            ).fetchall()
            conn.cursor().executemany(
                self._sql("UPDATE deliveries SET next_attempt_at = ? WHERE id = ?"),
                [(lease_until, row[0]) for row in rows],
            )
            return [DeliveryRow(*row) for row in rows]

        result: list[DeliveryRow] = self._write(work)
        return result

    def update_delivery(self, d: DeliveryRow) -> None:
        sql = self._sql(
            """UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?,
               delivered_at = ? WHERE id = ?"""
        )
        self._write(
            lambda conn: conn.execute(
                sql, (d.status, d.attempts, d.next_attempt_at, d.last_error, d.delivered_at, d.id)
            )
        )

    def deliveries(self, hook: str | None = None, limit: int = 100) -> list[DeliveryRow]:
        newest_first = f"ORDER BY d.{self._arrival} DESC LIMIT ?"
        if hook is None:
            rows = self._read(self._sql(f"{_DELIVERY_SELECT} {newest_first}"), (limit,))
        else:
            rows = self._read(self._sql(f"{_DELIVERY_SELECT} WHERE h.name = ? {newest_first}"), (hook, limit))
        return [DeliveryRow(*row) for row in rows]


class AccessMethods:
    """The catalog port's key, hook and delivery methods, answered by the catalog's ``access`` tables."""

    access: AccessTables

    def add_api_key(self, name: str | None, scope: str, prefix: str, sha256: str, when: str) -> ApiKeyRow:
        return self.access.add_api_key(name, scope, prefix, sha256, when)

    def api_keys(self, prefix: str | None = None) -> list[ApiKeyRow]:
        return self.access.api_keys(prefix)

    def revoke_api_key(self, key_id: int, when: str) -> ApiKeyRow | None:
        return self.access.revoke_api_key(key_id, when)

    def touch_api_key(self, key_id: int, when: str, unless_since: str) -> None:
        self.access.touch_api_key(key_id, when, unless_since)

    def add_hook(self, name: str, query: str, url: str, secret: str | None, when: str) -> HookRow | None:
        return self.access.add_hook(name, query, url, secret, when)

    def hooks(self) -> list[HookRow]:
        return self.access.hooks()

    def remove_hook(self, name: str) -> bool:
        return self.access.remove_hook(name)

    def add_deliveries(self, deliveries: Iterable[DeliveryRow], matched: Iterable[str] = ()) -> None:
        self.access.add_deliveries(deliveries, matched)

    def unmatched(self, limit: int = 500) -> list[str]:
        return self.access.unmatched(limit)

    def claim_deliveries(self, due_by: str, lease_until: str, limit: int) -> list[DeliveryRow]:
        return self.access.claim_deliveries(due_by, lease_until, limit)

    def update_delivery(self, delivery: DeliveryRow) -> None:
        self.access.update_delivery(delivery)

    def deliveries(self, hook: str | None = None, limit: int = 100) -> list[DeliveryRow]:
        return self.access.deliveries(hook, limit)
