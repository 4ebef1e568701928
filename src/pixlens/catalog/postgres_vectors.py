"""The PostgreSQL catalog's vector tables: the statements PostgreSQL writes its own way (the tables are made by
``postgres_sql/``; the logic is ``vector_upkeep.py``'s).

This PostgreSQL has no pgvector, so the vector index is a local file: ``<home>/vectors/<catalog id>.vectors`` (the
catalog id is a random id the database holds), saved on close and every few minutes; each process that opens
the catalog keeps its own copy and brings it up to date from ``vector_log``. Every write transaction holds the
catalog's write lock (``pg_advisory_xact_lock``) from its start, so ``begin`` sees every change committed before
it, and two processes assign faces exactly as if they ran one after the other.
"""

from __future__ import annotations

from pixlens.catalog.sqldialect import POSTGRES
from pixlens.catalog.vector_upkeep import VectorSql

POSTGRES_VECTORS = VectorSql(
    dialect=POSTGRES,
    person_rows="""SELECT p.id, p.name, p.faces,
                      (SELECT COUNT(DISTINCT f.image_id) FROM faces AS f WHERE f.person_id = p.id),
                      i.key, best.face_index
               FROM people AS p
               LEFT JOIN LATERAL (SELECT image_id, face_index FROM faces AS f WHERE f.person_id = p.id
                                  ORDER BY confidence DESC, id LIMIT 1) AS best ON TRUE
               LEFT JOIN images AS i ON i.id = best.image_id
               ORDER BY p.faces DESC, p.id""",
    person_ids="SELECT id FROM people WHERE lower(name) = lower(%s) ORDER BY id",
)
