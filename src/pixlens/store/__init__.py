"""Object stores, picked by URL from the registry ``STORES``: a plain path or ``file:///...`` is a local folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixlens.parts import Registry
from pixlens.store.base import ObjectStore

if TYPE_CHECKING:
    from pixlens.config import Settings

STORES: Registry[ObjectStore] = Registry("store")
STORES.register("file", "pixlens.store.local:open_local")


def open_store(settings: Settings) -> ObjectStore:
    return STORES.create(settings.store or str(settings.store_path), settings)
