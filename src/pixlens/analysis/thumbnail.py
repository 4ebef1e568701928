"""The WebP thumbnail of each image, kept in ``<home>/thumbnails`` and named by its content.

``prepare`` (thread-safe, in the decode threads) shrinks the one decoded image to ``thumbnails.size`` pixels on
its longer side (never enlarging it), encodes it as WebP at ``thumbnails.quality`` and writes it to
``thumbnails/<h[:2]>/<h>.webp``, where ``h`` is the SHA-256 of the thumbnail's own pixels, size and encoding
settings (the analyser does not see the file's hash; equal pictures give equal thumbnails and one file).
A file that already exists is not written again; a new one is written to a temporary file in the same folder
and renamed into place, so a reader never sees half a thumbnail and two writers of the same file cannot clash.
The record's ``Thumbnail`` is that path relative to the home folder, with forward slashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from pixlens.config import Settings
from pixlens.imageio import DecodedImage

VERSION = "1"
FOLDER = "thumbnails"


class ThumbnailAnalyzer:
    name = "thumbnail"
    version = VERSION
    fields = ("Thumbnail",)

    def __init__(self, settings: Settings) -> None:
        self.home = Path(settings.home)
        self.size = settings.thumbnails.size
        self.quality = settings.thumbnails.quality

    def prepare(self, image: DecodedImage) -> dict[str, Any]:
        thumbnail = make_thumbnail(image.image, self.size)
        digest = hashlib.sha256(
            f"pixlens-thumbnail:{VERSION}:{thumbnail.mode}:{thumbnail.size}:{self.quality}:".encode()
        )
        digest.update(thumbnail.tobytes())
        name = digest.hexdigest()
        relative = f"{FOLDER}/{name[:2]}/{name}.webp"
        path = self.home / relative
        if not path.exists():
            buffer = io.BytesIO()
            thumbnail.save(buffer, format="WEBP", quality=self.quality, method=4)
            write_atomically(path, buffer.getvalue())
        return {"Thumbnail": relative}

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        return [dict(fields) for fields in prepared]


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
