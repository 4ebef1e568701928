"""The search benchmark's synthetic catalog in PostgreSQL (the server on 127.0.0.1:5432), for search_latency.py to
measure beside SQLite's: the same records, the same rows as ``PostgresCatalog.put`` writes them.

A million records through ``put`` take over an hour (a transaction and a dozen statements each); the rows are
loaded with COPY instead, built by the catalog's own rules (``facets.indexed``), with the triggers and indexes of
the index table off during the load and made after it. The database is kept between runs, named by the benchmark's
VERSION, the record count and the taxonomy version; it is built under another name and renamed when complete, so
a killed build is thrown away, never measured.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from pixlens.analysis.taxonomy import Taxonomy
from pixlens.catalog.facets import indexed
from pixlens.catalog.postgres import PostgresCatalog
from pixlens.record import utc_now

SERVER = "postgresql://postgres@127.0.0.1:5432"


def database_url(count: int, taxonomy: Taxonomy, version: str) -> str:
    """The URL of the benchmark's PostgreSQL catalog of ``count`` synthetic records, built on first use."""
    name = f"pixlens_bench_search_v{version}_{count}_{taxonomy.version}".lower().replace("-", "_")
    with _admin() as admin:
        found = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{name}%",)).fetchall()
        if (name,) in found:
            return f"{SERVER}/{name}"
        building = f"{name}_building"
        for (leftover,) in found:
            admin.execute(f'DROP DATABASE "{leftover}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{building}"')
    started = time.perf_counter()
    _load(f"{SERVER}/{building}", count, taxonomy)
    with _admin() as admin:
        admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    print(f"  (built PostgreSQL database {name} in {time.perf_counter() - started:.0f} s)")
    return f"{SERVER}/{name}"


@contextmanager
def _admin() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        yield conn


def _load(url: str, count: int, taxonomy: Taxonomy) -> None:
    from search_latency import synthetic_records

    PostgresCatalog(url).close()  # the schema, by the catalog's own migrations
    # two connections: one COPY at a time each
    with psycopg.connect(url, autocommit=True) as conn, psycopg.connect(url, autocommit=True) as other:
        conn.execute("ALTER TABLE label_index DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE images DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE label_index DROP CONSTRAINT label_index_pkey")
        conn.execute("DROP INDEX label_index_by_image")
        now = utc_now()
        with (
            conn.cursor().copy(
                """COPY images (id, key, status, has_analysis, etag, sha256, phash, versions, record, updated_at)
                   FROM STDIN"""
            ) as image_rows,
            other.cursor().copy("COPY label_index (label, confidence, image_id) FROM STDIN") as entry_rows,
        ):
            for image_id, record in enumerate(synthetic_records(count, taxonomy), start=1):
                plan = indexed(record)
                assert plan is not None
                versions = json.dumps(record.AnalyzerVersions, sort_keys=True)
                image_rows.write_row(
                    (image_id, record.ImageName, record.Status.value, True, record.ETag,
                     record.ContentSha256, plan.phash, versions, record.to_json(), now)
                )  # fmt: skip
                for label, confidence in plan.entries.items():
                    entry_rows.write_row((label, round(confidence, 3), image_id))
        conn.execute("ALTER TABLE label_index ADD PRIMARY KEY (label, confidence, image_id)")
        conn.execute("CREATE INDEX label_index_by_image ON label_index (image_id, label, confidence)")
        conn.execute("INSERT INTO label_counts SELECT label, COUNT(*) FROM label_index GROUP BY label")
        conn.execute("SELECT setval(pg_get_serial_sequence('images', 'id'), (SELECT MAX(id) FROM images))")
        conn.execute("ALTER TABLE label_index ENABLE TRIGGER USER")
        conn.execute("ALTER TABLE images ENABLE TRIGGER USER")
        conn.execute("VACUUM ANALYZE")
