"""Catalogs, picked by URL from the registry ``CATALOGS``: ``sqlite:///path/to/catalog.db``, or
``postgresql://user@host:5432/database`` (the ``postgres`` extra)."""

from __future__ import annotations

from pathlib import Path

from pixlens.catalog.base import Catalog
from pixlens.parts import Registry

CATALOGS: Registry[Catalog] = Registry("catalog")
CATALOGS.register("sqlite", "pixlens.catalog.sqlite:open_sqlite")
CATALOGS.register(("postgresql", "postgres"), "pixlens.catalog.postgres:open_postgres", extra="postgres")


def open_catalog(url: str, face_similarity: float = 0.55, home: Path | None = None) -> Catalog:
    """The catalog at ``url``; ``home`` (the pixlens home) holds what a catalog keeps on local disk beside a
    database server (the PostgreSQL catalog's vector index); an SQLite catalog keeps it beside its file."""
    if home is None:
        return CATALOGS.create(url, face_similarity)
    return CATALOGS.create(url, face_similarity, home=home)
