"""Object stores, picked by URL: a plain path or ``file:///...`` is a local folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixlens.errors import ConfigError
from pixlens.store.base import ObjectStore

if TYPE_CHECKING:
    from pixlens.config import Settings


def open_store(settings: Settings) -> ObjectStore:
    url = settings.store
    if "://" in url and not url.startswith("file://"):
        scheme = url.split("://", 1)[0]
        raise ConfigError(f"unsupported store URL scheme {scheme!r} (supported: a folder path or file://)")
    from pixlens.store.local import LocalStore

    store = LocalStore(settings.store_path)
    store.ensure()
    return store
