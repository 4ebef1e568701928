"""The WebP thumbnail of each image, kept in ``<home>/thumbnails`` and named by its content.

``prepare`` (thread-safe, in the decode threads) shrinks the one decoded image to ``thumbnails.size`` pixels on
its longer side (never enlarging it), encodes it as WebP at ``thumbnails.quality`` and writes it to
``thumbnails/<h[:2]>/<h>.webp``, where ``h`` is the SHA-256 of the file's own hash (when the pipeline gives it),
the thumbnail's pixels, size and encoding settings: only exact copies of a file share a thumbnail, so that
:func:`release` finds every record that may still use one among the records with the same content.
A file that already exists is not written again; a new one is written to a temporary file in the same folder
and renamed into place, so a reader never sees half a thumbnail and two writers of the same file cannot clash.
The record's ``Thumbnail`` is that path relative to the home folder, with forward slashes.

Thumbnails follow their image: when a record leaves the catalog, fails after a success, or is re-analysed with
another thumbnail, :func:`release` removes the thumbnail it pointed at, unless an exact copy still uses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from pixlens.catalog.base import Catalog
from pixlens.config import Settings
from pixlens.imageio import DecodedImage
from pixlens.record import ImageRecord

VERSION = "2"  # 2: named after the file's content too
FOLDER = "thumbnails"


class ThumbnailAnalyzer:
    name = "thumbnail"
    version = VERSION
    fields = ("Thumbnail",)

    def __init__(self, settings: Settings) -> None:
        self.home = Path(settings.home)
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
        path = self.home / prepared.relative
        if not path.exists():
            write_atomically(path, prepared.webp)

    def release(self, dropped: Sequence[ImageRecord], catalog: Catalog) -> None:
        release(self.home, dropped, catalog)


@dataclass(frozen=True)
class _Prepared:
    relative: str
    webp: bytes


def release(home: Path, dropped: Sequence[ImageRecord], catalog: Catalog) -> list[str]:
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
        path = home / relative
        if path.parent.parent != home / FOLDER:
            continue  # a path this analyser never wrote: left alone
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
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


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a thumbnail is as readable as its folder
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
