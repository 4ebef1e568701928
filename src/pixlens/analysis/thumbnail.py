"""The WebP thumbnail of each image, named by its content, kept where every process that serves it can read it.

Where (``thumbnails.location``): ``home``, the folder ``<home>/thumbnails`` (the default beside a folder store:
one machine); ``store``, the image store itself under the hidden prefix ``.pixlens-thumbnails/`` (the default
beside a bucket: API servers and workers on other machines share it; listings leave hidden names out, so a
thumbnail is never taken for a photo).

``prepare`` (thread-safe, in the decode threads) shrinks the one decoded image to ``thumbnails.size`` pixels on
its longer side (never enlarging it), encodes it as WebP at ``thumbnails.quality`` and writes it to
``thumbnails/<h[:2]>/<h>.webp``, where ``h`` is the SHA-256 of the file's own hash (when the pipeline gives it),
the thumbnail's pixels, size and encoding settings: only exact copies of a file share a thumbnail, so that
:func:`release` finds every record that may still use one among the records with the same content.
A thumbnail that already exists is not written again; a new one is written without replacing anything (the
store's no-overwrite write: atomic in a folder, conditional in a bucket), so a reader never sees half a thumbnail
and two writers of the same one cannot clash. The record's ``Thumbnail`` is its name, ``thumbnails/<h[:2]>/<h>.webp``
(in the home: that path relative to the home folder).

Thumbnails follow their image: when a record leaves the catalog, fails after a success, or is re-analysed with
another thumbnail, :func:`release` removes the thumbnail it pointed at, unless an exact copy still uses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from pixlens.catalog.base import Catalog
from pixlens.config import Settings
from pixlens.errors import ObjectExistsError
from pixlens.imageio import DecodedImage
from pixlens.record import ImageRecord
from pixlens.store.base import ObjectStore

VERSION = "2"  # 2: named after the file's content too
FOLDER = "thumbnails"
IN_STORE = ".pixlens-"  # in the image store, thumbnails/... is kept as .pixlens-thumbnails/... (hidden)


@dataclass(frozen=True)
class ThumbnailPlace:
    """Where thumbnails are kept: a store and the prefix of their keys there."""

    store: ObjectStore
    prefix: str

    def key(self, name: str) -> str:
        return self.prefix + name

    def write(self, name: str, webp: bytes) -> None:
        """Keep a thumbnail unless it is there already (same name: same content)."""
        local = self.local_path(name)
        if local is not None and local.exists():
            return
        with contextlib.suppress(ObjectExistsError):
            self.store.put_stream(self.key(name), io.BytesIO(webp), overwrite=False)

    def delete(self, name: str) -> None:
        self.store.delete(self.key(name))

    def stream(self, name: str) -> BinaryIO | None:
        return self.store.stream(self.key(name))

    def local_path(self, name: str) -> Path | None:
        """The file of a thumbnail kept in a folder (None in a bucket)."""
        path_of = getattr(self.store, "path_of", None)
        return Path(path_of(self.key(name))) if path_of is not None else None

    def describe(self) -> str:
        return f"{self.store.describe()}/{self.prefix}{FOLDER}" if self.prefix else self.store.describe()


def thumbnail_place(settings: Settings) -> ThumbnailPlace:
    """The place ``thumbnails.location`` names (``auto``: the home beside a folder store, else the store)."""
    from pixlens.store import STORES, open_store
    from pixlens.store.local import LocalStore

    location = settings.thumbnails.location
    if location == "auto":
        location = "home" if STORES.scheme_of(settings.store or str(settings.store_path)) == "file" else "store"
    if location == "home":
        return ThumbnailPlace(LocalStore(Path(settings.home)), "")
    return ThumbnailPlace(open_store(settings), IN_STORE)


class ThumbnailAnalyzer:
    name = "thumbnail"
    version = VERSION
    fields = ("Thumbnail",)

    def __init__(self, settings: Settings) -> None:
        self.place = thumbnail_place(settings)
        self.size = settings.thumbnails.size
        self.quality = settings.thumbnails.quality

    def prepare(self, image: DecodedImage) -> _Prepared:
        thumbnail = make_thumbnail(image.image, self.size)
        digest = hashlib.sha256(
            f"pixlens-thumbnail:{VERSION}:{image.sha256}:{thumbnail.mode}:{thumbnail.size}:{self.quality}:".encode()
        )
        digest.update(thumbnail.tobytes())
        name = digest.hexdigest()
        relative = f"{FOLDER}/{name[:2]}/{name}.webp"
        buffer = io.BytesIO()
        thumbnail.save(buffer, format="WEBP", quality=self.quality, method=4)
        prepared = _Prepared(relative, buffer.getvalue())
        self._write(prepared)
        return prepared

    def analyze(self, prepared: Sequence[_Prepared]) -> list[dict[str, Any]]:
        # Written again if a release (in the model thread, as this) removed it after prepare wrote it.
        for each in prepared:
            self._write(each)
        return [{"Thumbnail": each.relative} for each in prepared]

    def _write(self, prepared: _Prepared) -> None:
        self.place.write(prepared.relative, prepared.webp)

    def release(self, dropped: Sequence[ImageRecord], catalog: Catalog) -> None:
        release(self.place, dropped, catalog)


@dataclass(frozen=True)
class _Prepared:
    relative: str
    webp: bytes


def release(place: ThumbnailPlace, dropped: Sequence[ImageRecord], catalog: Catalog) -> list[str]:
    """Remove the thumbnails that ``dropped`` (records as they were before they left the catalog or were
    replaced) pointed at and that no record in the catalog points at now; returns those removed.

    Only exact copies share a thumbnail (it is named after the file's content), so the records to ask are
    those with the same content hash.
    """
    candidates = {record.Thumbnail: record.ContentSha256 for record in dropped if record.Thumbnail}
    if not candidates:
        return []
    in_use = set()
    for key in catalog.with_content(sha for sha in candidates.values() if sha):
        current = catalog.get(key)
        if current is not None and current.Thumbnail in candidates:
            in_use.add(current.Thumbnail)
    removed = []
    for relative in sorted(set(candidates) - in_use):
        parts = relative.split("/")
        if len(parts) != 3 or parts[0] != FOLDER or ".." in parts or not parts[2].endswith(".webp"):
            continue  # a name this analyser never wrote: left alone
        place.delete(relative)
        removed.append(relative)
    return removed


def make_thumbnail(image: Image.Image, size: int) -> Image.Image:
    """An RGB copy at most ``size`` pixels on its longer side, same aspect ratio (never enlarged)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    if max(width, height) <= size:
        return rgb.copy()
    scale = size / max(width, height)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    return rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
