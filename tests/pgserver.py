"""Fresh PostgreSQL databases for tests, on the server that runs on 127.0.0.1:5432 (trust auth, user postgres):
each test gets ``pixlens_test_<random>``, dropped after it (connections still open to it are ended first)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

SERVER = os.environ.get("PIXLENS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=10)


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database, dropped after."""
    name = f"pixlens_test_{secrets.token_hex(6)}"
    with admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        with admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def terminate_connections(url: str) -> int:
    """End every server process connected to the database of ``url`` (as a server restart would): how many."""
    name = url.rsplit("/", 1)[1]
    with admin() as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)
