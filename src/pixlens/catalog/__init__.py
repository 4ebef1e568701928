"""Catalogs, picked by URL: ``sqlite:///path/to/catalog.db``."""

from __future__ import annotations

from pixlens.catalog.base import Catalog
from pixlens.errors import ConfigError


def open_catalog(url: str, face_similarity: float = 0.55) -> Catalog:
    if url.startswith("sqlite:///"):
        from pixlens.catalog.sqlite import SqliteCatalog

        return SqliteCatalog(url.removeprefix("sqlite:///"), face_similarity)
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise ConfigError(f"unsupported catalog URL {scheme!r} (supported: sqlite:///path)")
