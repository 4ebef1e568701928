"""Object stores, picked by URL from the registry ``STORES``: a plain path or ``file:///...`` is a local folder,
``s3://bucket/prefix`` a bucket of an S3-compatible server (the ``s3`` extra: boto3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixlens.parts import Registry
from pixlens.store.base import ObjectStore

if TYPE_CHECKING:
    from pixlens.config import Settings

STORES: Registry[ObjectStore] = Registry("store")
STORES.register("file", "pixlens.store.local:open_local")
STORES.register("s3", "pixlens.store.s3:open_s3", extra="s3")


def open_store(settings: Settings) -> ObjectStore:
    return STORES.create(settings.store or str(settings.store_path), settings)


def is_folder(store: ObjectStore) -> bool:
    """Whether the store is a local folder (what the folder watcher and file serving need)."""
    from pixlens.store.local import LocalStore

    return isinstance(store, LocalStore)
