"""Connections of the PostgreSQL catalog: a psycopg pool, one-line errors, retries of a lost connection, and the
versioned migrations (one SQL script each, in ``postgres_sql/``, applied at open under an advisory lock).

Writes are serialised by one transaction-scoped advisory lock (``WRITE_LOCK``), taken first in every write
transaction: the catalog's writes then behave as SQLite's (one writer at a time, each seeing every commit before
it), which is what makes face clustering by several processes give the result of running them one after the
other. Reads never wait for it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import Connection, errors
from psycopg_pool import ConnectionPool, PoolTimeout

from pixlens.errors import CatalogError

T = TypeVar("T")
Conn = Connection[Any]

# Advisory lock keys (one 64-bit number each; "pixlens" in ASCII, then the lock's purpose).
MIGRATE_LOCK = 0x706978_6C656E_01
WRITE_LOCK = 0x706978_6C656E_02
CONNECT_TIMEOUT = 10  # seconds to reach the server
POOL_SIZE = 8
# Seconds to wait for a pooled connection before taking a connection of its own: the pool replaces the connections
# the server ended in the background, with a back-off that can leave it empty for a while after several were
# ended at once (a restart); a direct connection goes on as soon as the server answers again.
POOL_WAIT = 5.0
# Work that lost its connection (the server restarted, a backend was ended) runs again on a new one, with pauses
# growing from FIRST_PAUSE to LAST_PAUSE, for RETRY_FOR seconds: a restart takes seconds, and may end the new
# connection too.
RETRY_FOR = 30.0
FIRST_PAUSE, LAST_PAUSE = 0.05, 1.0
SQL_PACKAGE = "pixlens.catalog.postgres_sql"


class LostConnectionError(CatalogError):
    """The connection to the server went away (the server restarted, the backend was ended): the work can run
    again on a new connection."""


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def one_line(exc: BaseException) -> str:
    """psycopg's message on one line (the server's DETAIL and HINT lines folded in)."""
    return re.sub(r"\s*\n\s*", "; ", str(exc).strip()) or type(exc).__name__


def connection_lost(exc: BaseException) -> bool:
    """Whether an error means the connection went away (the work can run again on a new one)."""
    if isinstance(exc, PoolTimeout):
        return False
    if isinstance(exc, errors.AdminShutdown | errors.CrashShutdown | errors.CannotConnectNow):
        return True
    if isinstance(exc, psycopg.OperationalError):
        sqlstate = getattr(exc, "sqlstate", None)
        return sqlstate is None or sqlstate.startswith("08")
    return isinstance(exc, psycopg.InterfaceError)


def migrations() -> list[tuple[str, str]]:
    """(name, SQL) of every migration, in order: the scripts ``NNNN_name.sql`` of the package."""
    scripts = [item for item in resources.files(SQL_PACKAGE).iterdir() if item.name.endswith(".sql")]
    return [(item.name.removesuffix(".sql"), item.read_text()) for item in sorted(scripts, key=lambda i: i.name)]


class Retries:
    """The pauses between attempts of work that lost its connection, until ``RETRY_FOR`` has passed."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + RETRY_FOR
        self.pause = FIRST_PAUSE

    def wait(self) -> bool:
        """Pause before the next attempt; False when there is no time left for one."""
        if time.monotonic() + self.pause > self.deadline:
            return False
        time.sleep(self.pause)
        self.pause = min(self.pause * 2, LAST_PAUSE)
        return True


class Database:
    """A pool of connections to one PostgreSQL database (autocommit: a transaction is always explicit)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.shown = shown(url)
        self._local = threading.local()
        self._check_reachable()
        self.pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            check=ConnectionPool.check_connection,  # a connection the server dropped is replaced, not handed out
            open=False,
            name="pixlens-catalog",
        )
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except PoolTimeout as exc:
            self.pool.close()
            raise CatalogError(f"cannot open the PostgreSQL catalog {self.shown}: no connection in time") from exc

    def _check_reachable(self) -> None:
        """A first connection, for the server's own reason when it fails (the pool would only time out)."""
        try:
            psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT, autocommit=True).close()
        except psycopg.Error as exc:
            raise CatalogError(f"cannot open the PostgreSQL catalog {self.shown}: {one_line(exc)}") from exc

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def _connection(self) -> Iterator[Conn]:
        """A pooled connection, or one of its own when the pool has none in time (see ``POOL_WAIT``)."""
        try:
            conn = self.pool.getconn(timeout=POOL_WAIT)
        except PoolTimeout:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as own:
                yield own
            return
        try:
            yield conn
        finally:
            self.pool.putconn(conn)

    # -- running work ----
    def run(self, work: Callable[[Conn], T], what: str) -> T:
        """``work(conn)`` on a pooled connection (this thread's, inside ``snapshot``), again on a new connection
        while the connection is lost (``RETRY_FOR``); any failure is a CatalogError."""
        held: Conn | None = getattr(self._local, "conn", None)
        if held is not None:
            try:
                return work(held)
            except psycopg.Error as exc:
                raise self.error(exc, what) from exc
        retries = Retries()
        while True:
            try:
                with self._connection() as conn:
                    return work(conn)
            except psycopg.Error as exc:
                if connection_lost(exc) and retries.wait():
                    continue
                raise self.error(exc, what) from exc
            except PoolTimeout as exc:
                raise self.error(exc, what) from exc

    def transaction(self, work: Callable[[Conn], T], what: str, before: Callable[[Conn], None]) -> T:
        """``work`` in one write transaction holding the write lock (``before`` runs first, under it)."""

        def locked(conn: Conn) -> T:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                before(conn)
                return work(conn)

        return self.run(locked, what)

    def again(self, work: Callable[[], T]) -> T:
        """``work()`` (several statements in one snapshot), again while it loses its connection (``RETRY_FOR``);
        inside an outer snapshot, the outer one retries."""
        if getattr(self._local, "conn", None) is not None:
            return work()
        retries = Retries()
        while True:
            try:
                return work()
            except LostConnectionError:
                if not retries.wait():
                    raise

    def read(self, sql: str, params: Any = ()) -> list[Any]:
        return self.run(lambda conn: conn.execute(sql, params).fetchall(), "read")

    @contextmanager
    def snapshot(self) -> Iterator[Conn]:
        """One read-only transaction that sees one state of the database: every ``read`` and ``run`` of this thread
        inside it uses it."""
        held: Conn | None = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        try:
            with self._connection() as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                self._local.conn = conn
                try:
                    yield conn
                finally:
                    self._local.conn = None
        except psycopg.Error as exc:
            raise self.error(exc, "read") from exc
        except PoolTimeout as exc:
            raise self.error(exc, "read") from exc

    def error(self, exc: BaseException, what: str) -> CatalogError:
        if isinstance(exc, PoolTimeout):
            return CatalogError(f"catalog {what} failed ({self.shown}): no connection to the server in time")
        if connection_lost(exc):
            return LostConnectionError(
                f"catalog {what} failed ({self.shown}): the connection was lost: {one_line(exc)}"
            )
        return CatalogError(f"catalog {what} failed ({self.shown}): {one_line(exc)}")

    # -- migrations ----
    def migrate(self) -> None:
        """Apply the migrations this database lacks, in one transaction, under an advisory lock: concurrent opens
        wait for each other, and the second finds nothing to do."""
        known = migrations()

        def work(conn: Conn) -> None:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
                conn.execute(
                    """CREATE TABLE IF NOT EXISTS schema_version (
                           version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"""
                )
                applied = dict(conn.execute("SELECT version, name FROM schema_version").fetchall())
                newer = sorted(version for version in applied if version > len(known))
                if newer:
                    raise CatalogError(
                        f"the catalog {self.shown} was written by a newer pixlens (schema version {max(newer)}); "
                        f"this pixlens reads schema versions up to {len(known)}: upgrade pixlens to use it"
                    )
                for version, (name, script) in enumerate(known, start=1):
                    if version in applied:
                        continue
                    conn.execute(script.encode())  # several statements: one simple query
                    conn.execute(
                        "INSERT INTO schema_version (version, name, applied_at) VALUES (%s, %s, now())",
                        (version, name),
                    )

        self.run(work, "migrate")
