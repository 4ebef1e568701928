"""Catalogs, picked by URL from the registry ``CATALOGS``: ``sqlite:///path/to/catalog.db``."""

from __future__ import annotations

from pixlens.catalog.base import Catalog
from pixlens.parts import Registry

CATALOGS: Registry[Catalog] = Registry("catalog")
CATALOGS.register("sqlite", "pixlens.catalog.sqlite:open_sqlite")


def open_catalog(url: str, face_similarity: float = 0.55) -> Catalog:
    return CATALOGS.create(url, face_similarity)
