-- Run once by the postgres image, when its data volume is new (as the superuser, in POSTGRES_DB).
-- pgvector: pixlens keeps its image vectors in PostgreSQL where the extension is installed, else in a local index
-- beside the catalog, which several machines could not share.
CREATE EXTENSION IF NOT EXISTS vector;
