"""Bad (and tricky) input files, made on demand, for the decoder's tests and the pipeline's.

Each ``make_*`` function writes one case into ``directory`` and returns its path. :data:`CASES` lists
the cases with what should happen to them, so a test can loop over them::

    for case in badfiles.CASES:
        path = case.make(tmp_path)
        ...

Stages:

* ``"decode"``: reading the file works; :func:`pixlens.imageio.decode` raises ``DecodeError`` whose
  message starts with ``case.message``.
* ``"ok"``: the file is fine and decodes (for example a PNG named ``.jpg``: the content decides).
* ``"read"``: the file cannot be read at all (``OSError`` from ``open``/``read_bytes``); a pipeline must
  record it as failed rather than crash.

Unreadable files when the tests run as root: root ignores permission bits (``chmod 000`` files and
folders stay readable), so the unreadable case is a *directory* named ``unreadable.jpg``
(``IsADirectoryError``) and the symlink loop (``OSError`` ELOOP), which fail for everyone.
:func:`make_chmod_000` is kept for the record: it only fails for a non-root user. :func:`make_fifo` (a
named pipe called ``pipe.jpg``) is not in :data:`CASES` on purpose: opening it for reading BLOCKS until a
writer appears, so code must check ``Path.is_file()`` (or ``stat``) before opening it; a test that uses it
must not read it naively.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

# ----------------------------------------------------------------------------------------------------
# Building blocks (also used by the tests to make unusual but valid images)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, payload, CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bytes(width: int, height: int, bit_depth: int, color_type: int, rows: list[bytes]) -> bytes:
    """A PNG from raw scanlines (filter byte 0 is added): modes Pillow cannot write, such as 16-bit RGB."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw, 9))
        + png_chunk(b"IEND", b"")
    )


def photo(size: tuple[int, int] = (320, 240), seed: int = 1) -> Image.Image:
    """A deterministic RGB picture with gradients and noise (compresses like a photo, not a flat fill)."""
    width, height = size
    gradient = Image.linear_gradient("L").resize(size)
    rng = random.Random(seed)
    noise = Image.frombytes("L", size, rng.randbytes(width * height))
    return Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def image_bytes(im: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


def _write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------------------------------
# Cases: decode fails with a clear message


def make_empty(directory: Path) -> Path:
    return _write(directory, "empty.jpg", b"")


def make_truncated_jpeg(directory: Path) -> Path:
    data = image_bytes(photo(), "JPEG", quality=90)
    return _write(directory, "truncated.jpg", data[: len(data) // 2])


def make_cut_jpeg_with_end_marker(directory: Path) -> Path:
    """693 bytes that claim 9000 x 9000 pixels: a JPEG's headers and first scan bytes, then its end marker.

    libjpeg fills the missing blocks with flat grey and only warns, so a naive decoder returns a picture.
    """
    data = image_bytes(photo(), "JPEG", quality=90)
    frame = data.index(b"\xff\xc0") + 5  # after the SOF0 marker, its length and the sample precision
    data = data[:frame] + struct.pack(">HH", 9000, 9000) + data[frame + 4 :]
    return _write(directory, "cut_with_end.jpg", data[:691] + b"\xff\xd9")


def make_truncated_webp(directory: Path) -> Path:
    data = image_bytes(photo(), "WEBP", quality=80)
    return _write(directory, "truncated.webp", data[: len(data) // 2])


def make_truncated_png(directory: Path) -> Path:
    data = image_bytes(photo(), "PNG")
    return _write(directory, "truncated.png", data[: len(data) // 2])


def make_corrupt_jpeg(directory: Path) -> Path:
    """A real JPEG whose first Huffman table is overwritten with garbage: the header parses, the data not."""
    data = image_bytes(photo(), "JPEG", quality=90)
    table = data.index(b"\xff\xc4") + 4  # after the DHT marker and its length
    return _write(directory, "corrupt.jpg", data[:table] + b"\xff" * 20 + data[table + 20 :])


def make_corrupt_jpeg_header(directory: Path) -> Path:
    """A JPEG signature followed by random bytes: claims to be a JPEG, has no valid marker."""
    return _write(directory, "corrupt_header.jpg", b"\xff\xd8\xff\x00" + random.Random(7).randbytes(4096))


def make_random_bytes_jpg(directory: Path) -> Path:
    """Random bytes with a .jpg name: no image signature at all."""
    return _write(directory, "random.jpg", b"\x00\x13" + random.Random(8).randbytes(4096))


def make_text_as_jpg(directory: Path) -> Path:
    return _write(directory, "notes.jpg", b"Shopping list\n- milk\n- eggs\n" * 20)


def make_pdf_as_jpg(directory: Path) -> Path:
    pdf = (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )
    return _write(directory, "scan.jpg", pdf)


def make_html_as_png(directory: Path) -> Path:
    html = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not found</body></html>\n"
    return _write(directory, "download.png", html)


def make_zip_as_jpg(directory: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.txt", "not really a photo")
    return _write(directory, "archive.jpg", buffer.getvalue())


def make_bomb_png_header(directory: Path) -> Path:
    """A valid PNG whose header claims 100000 x 100000 pixels (10 gigapixels) with a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + png_chunk(b"IEND", b"")
    )
    return _write(directory, "bomb.png", data)


def make_bomb_png_1bit(directory: Path) -> Path:
    """A real, complete 1-bit PNG of 20000 x 20000 (400 megapixels) that is only ~50 KB on disk."""
    width = height = 20_000
    row = b"\x00" + b"\x00" * (width // 8)
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row * 1000) for _ in range(height // 1000)]
    chunks.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"".join(chunks)) + png_chunk(b"IEND", b"")
    )
    return _write(directory, "bomb_1bit.png", data)


def make_bomb_gif(directory: Path) -> Path:
    """A GIF whose logical screen is 65535 x 65535 (4.3 gigapixels) holding one 1x1 frame."""
    header = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0x80, 0, 0)  # global colour table of 2 entries
    palette = b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
    pixels = b"\x02\x02\x44\x01\x00"  # LZW minimum code size 2, one sub-block of 2 bytes, terminator
    return _write(directory, "bomb.gif", header + palette + frame + pixels + b"\x3b")


def make_one_by_one(directory: Path) -> Path:
    return _write(directory, "pixel.png", image_bytes(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"))


# ----------------------------------------------------------------------------------------------------
# Cases: fine files that a naive decoder gets wrong


def make_png_as_jpg(directory: Path) -> Path:
    """A real PNG saved with a .jpg name: must decode (as image/png)."""
    return _write(directory, "really_png.jpg", image_bytes(photo(), "PNG"))


# ----------------------------------------------------------------------------------------------------
# Cases: the file cannot be read at all


def make_unreadable_directory(directory: Path) -> Path:
    """A directory named like a photo: ``read_bytes`` raises IsADirectoryError, also for root."""
    path = directory / "unreadable.jpg"
    path.mkdir()
    return path


def make_symlink_loop(directory: Path) -> Path:
    """``loop_a.jpg -> loop_b.jpg -> loop_a.jpg``: ``open``/``stat`` raise OSError (ELOOP).

    Note ``Path.resolve(strict=True)`` raises RuntimeError instead on Python < 3.13.
    """
    first, second = directory / "loop_a.jpg", directory / "loop_b.jpg"
    first.symlink_to(second.name)
    second.symlink_to(first.name)
    return first


def make_chmod_000(directory: Path) -> Path:
    """A JPEG with mode 000. Unreadable for a normal user; root (as in the tests) still reads it."""
    path = _write(directory, "secret.jpg", image_bytes(photo(), "JPEG"))
    path.chmod(0)
    return path


def make_fifo(directory: Path) -> Path:
    """A named pipe called ``pipe.jpg``. Opening it for reading blocks until a writer appears: never read it
    without checking ``is_file()`` first."""
    path = directory / "pipe.jpg"
    os.mkfifo(path)
    return path


# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadFile:
    name: str
    make: Callable[[Path], Path]
    stage: Literal["decode", "read", "ok"]
    message: str
    """For ``decode``: the start of the DecodeError message; for ``ok``: the content type it decodes as."""


CASES: tuple[BadFile, ...] = (
    BadFile("empty", make_empty, "decode", "empty file (0 bytes)"),
    BadFile("truncated_jpeg", make_truncated_jpeg, "decode", "truncated image"),
    BadFile("truncated_png", make_truncated_png, "decode", "truncated image"),
    BadFile("cut_jpeg_with_end_marker", make_cut_jpeg_with_end_marker, "decode", "truncated image"),
    BadFile("truncated_webp", make_truncated_webp, "decode", "truncated image"),
    BadFile("corrupt_jpeg", make_corrupt_jpeg, "decode", "corrupt image data"),
    BadFile("corrupt_jpeg_header", make_corrupt_jpeg_header, "decode", "corrupt image data"),
    BadFile("random_bytes_jpg", make_random_bytes_jpg, "decode", "not a supported image format"),
    BadFile("text_as_jpg", make_text_as_jpg, "decode", "not an image: the file looks like a text file"),
    BadFile("pdf_as_jpg", make_pdf_as_jpg, "decode", "not an image: the file looks like a PDF document"),
    BadFile("html_as_png", make_html_as_png, "decode", "not an image: the file looks like an HTML page"),
    BadFile("zip_as_jpg", make_zip_as_jpg, "decode", "not an image: the file looks like a ZIP archive"),
    BadFile("bomb_png_header", make_bomb_png_header, "decode", "image too large to decode safely"),
    BadFile("bomb_png_1bit", make_bomb_png_1bit, "decode", "image too large to decode safely"),
    BadFile("bomb_gif", make_bomb_gif, "decode", "image too large to decode safely"),
    BadFile("one_by_one", make_one_by_one, "decode", "image too small to analyse"),
    BadFile("png_as_jpg", make_png_as_jpg, "ok", "image/png"),
    BadFile("unreadable_directory", make_unreadable_directory, "read", ""),
    BadFile("symlink_loop", make_symlink_loop, "read", ""),
)
"""Every case that is safe to loop over (no FIFO: see :func:`make_fifo`)."""


def make_all(directory: Path) -> dict[str, Path]:
    """Write every case of :data:`CASES` into ``directory``; name -> path."""
    return {case.name: case.make(directory) for case in CASES}
