"""The ObjectStore port: where the images live. Keys are paths relative to the store root, with ``/``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".png",
        ".webp",
        ".gif",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".heic",
        ".heif",
        ".avif",
    }
)


@dataclass(frozen=True)
class ObjectInfo:
    """A stored object: its key, its size and a token that changes whenever its content may have changed."""

    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class BucketObject:
    """Where an object lies in an S3 bucket: what a service that reads the bucket itself (Rekognition's S3Object)
    is given instead of the bytes. A store that has its objects in a bucket says so by a ``bucket_object(key)``
    method (optional: a folder has none)."""

    bucket: str
    name: str


class ObjectStore(Protocol):
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every image in the store (by name, or by content where the name says nothing), sorted by key."""

    def stat(self, key: str) -> ObjectInfo | None:
        """The object's info, or None if it does not exist."""

    def read(self, key: str, max_bytes: int) -> bytes:
        """The object's bytes; StoreError if it cannot be read, DecodeError if it is larger than max_bytes."""

    def stream(self, key: str) -> BinaryIO | None:
        """The object's bytes as a stream, read as it is consumed (the caller closes it); None if it does not
        exist; StoreError if it cannot be read."""

    def put_file(self, key: str, source: Path, overwrite: bool = True) -> ObjectInfo:
        """Copy a local regular file into the store under ``key`` (atomically: readers never see half a file).
        With ``overwrite=False``, ObjectExistsError when ``key`` exists (checked atomically with the write)."""

    def put_stream(self, key: str, stream: BinaryIO, overwrite: bool = True) -> ObjectInfo:
        """Store the bytes a stream gives under ``key``, as :meth:`put_file` does a file's."""

    def delete(self, key: str) -> None:
        """Remove an object; no error if it is already gone."""

    def key_for(self, path: Path) -> str | None:
        """The key of a local path if that path lies inside the store, else None."""

    def describe(self) -> str:
        """Where the store is, for people."""


def looks_like_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def is_image_key(key: str) -> bool:
    """Whether an object name (relative to the store's prefix) is one a bucket's listing keeps: an image by its
    name, with no hidden part (starting with '.'), no empty part (a folder marker "a/") and no '.' or '..'."""
    parts = key.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return False
    return looks_like_image_name(parts[-1])
