"""The SQLite catalog's access tables (API keys, saved searches with webhooks, and their deliveries): their
migrations. The queries are ``sql_access.py``'s."""

from __future__ import annotations

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
