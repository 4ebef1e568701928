"""Catalogs, picked by URL from the registry ``CATALOGS``: ``sqlite:///path/to/catalog.db``,
``postgresql://user@host:5432/database`` (the ``postgres`` extra), or ``dynamodb://TABLE?region=REGION`` (the ``aws``
extra)."""

from __future__ import annotations

from pathlib import Path

from pixlens.catalog.base import Catalog
from pixlens.parts import Registry

CATALOGS: Registry[Catalog] = Registry("catalog")
CATALOGS.register("sqlite", "pixlens.catalog.sqlite:open_sqlite")
CATALOGS.register(("postgresql", "postgres"), "pixlens.catalog.postgres:open_postgres", extra="postgres")
CATALOGS.register("dynamodb", "pixlens.catalog.dynamodb:open_dynamodb", extra="aws")


def open_catalog(url: str, face_similarity: float = 0.55, home: Path | None = None) -> Catalog:
    """The catalog at ``url``; ``home`` (the pixlens home) holds what a catalog keeps on local disk beside a
    database server (the PostgreSQL catalog's vector index); an SQLite catalog keeps it beside its file."""
    if home is None:
        return CATALOGS.create(url, face_similarity)
    return CATALOGS.create(url, face_similarity, home=home)


def create_catalog(url: str) -> bool:
    """Make the catalog's storage where opening it does not (``pixlens init``): a DynamoDB catalog's table, which
    an open never creates (a mistyped table name must not make an empty catalog). Whether anything was made; the
    other catalogs make themselves at first open."""
    if CATALOGS.scheme_of(url) != "dynamodb":
        return False
    from pixlens.parts import require

    require("boto3", "aws", "a DynamoDB catalog")
    from pixlens.catalog.dynamodb import create_table

    return create_table(url)
