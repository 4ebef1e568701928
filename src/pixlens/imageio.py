"""Safe image decoding: bytes in, a small RGB picture plus a few facts out, or a :class:`DecodeError`.

Every image pixlens analyses goes through :func:`decode`. It is the one place that touches untrusted
bytes, so it:

* decides the format from the bytes (magic numbers), never from a file name, and accepts only JPEG, PNG,
  WebP, GIF, BMP, TIFF and HEIC/HEIF;
* refuses files larger than ``max_bytes`` and pictures whose header claims more than ``max_pixels``
  *before* any pixel is decoded (decompression bombs), without relying on Pillow's global
  ``Image.MAX_IMAGE_PIXELS``;
* decodes JPEG at a reduced scale (``Image.draft``) so that a 24-megapixel photo never exists at full size
  in memory, and downscales every other format right after decoding, to ``work_size`` on the longer side;
* applies the EXIF orientation, converts every colour mode to 8-bit RGB (alpha composited onto white,
  16-bit samples scaled rather than clipped) and reads a few EXIF facts (date, camera, GPS) without ever
  failing on malformed EXIF;
* turns every Pillow failure (and warning) into a :class:`DecodeError` whose message a person understands.

Truncated files fail: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never set, and a JPEG whose scan data ends
before its last block fails too, even when an end marker follows (libjpeg fills the missing blocks with flat
grey and only warns, a warning Pillow drops): see :func:`_jpeg_stream`.

Thread safety: :func:`decode` may be called from several threads. Pillow reports some oddities (corrupt
EXIF, invalid APNG chunks, its own decompression-bomb check) as Python warnings; the short steps that can
warn (reading the header and the EXIF, and decoding a picture larger than Pillow's own pixel limit) run
under one process-wide lock with warnings silenced and logged at DEBUG, so that no warning escapes and the
global warning filters are never restored out of order. The pixel decoding itself runs outside that lock.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import re
import struct
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile

from pixlens.errors import DecodeError

if TYPE_CHECKING:
    from pixlens.store.base import BucketObject

__all__ = ["DecodeLimits", "DecodedImage", "decode", "sniff_content_type"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeLimits:
    """How much :func:`decode` is willing to do for one image."""

    max_bytes: int = 200 * 1024 * 1024
    """Larger inputs are refused without being parsed."""
    max_pixels: int = 100_000_000
    """``width * height`` of the original picture, checked from the header before decoding."""
    min_side: int = 16
    """Pictures whose shorter side is smaller are refused as too small to analyse."""
    work_size: int = 1024
    """The decoded picture's longer side is at most this; analysers resize from it."""


@dataclass(frozen=True)
class DecodedImage:
    """A decoded picture, ready for the analysers."""

    image: Image.Image
    """Mode ``RGB``, EXIF orientation applied, longer side at most ``work_size``."""
    width: int
    """Width of the original picture after orientation (what the user sees)."""
    height: int
    """Height of the original picture after orientation."""
    content_type: str
    """Sniffed from the bytes: ``image/jpeg``, ``image/png``, ``image/webp``, ``image/gif``, ``image/bmp``,
    ``image/tiff``, ``image/heic`` or ``image/heif``."""
    exif: dict[str, object] = field(default_factory=dict)
    """Only the keys present: ``DateTimeOriginal`` (ISO ``YYYY-MM-DDTHH:MM:SS``), ``Make``, ``Model`` and
    ``GPS`` (``{"Latitude": float, "Longitude": float}`` plus ``"Altitude": float`` when known)."""
    sha256: str | None = None
    """The SHA-256 of the file's bytes when the caller knows it (the pipeline does): for what is named after
    the file's content."""
    data: bytes | None = None
    """The file's bytes as read, when the caller keeps them (the pipeline does): for analysers that send the file
    itself to a service (Rekognition) rather than pixels."""
    origin: BucketObject | None = None
    """Where the file lies in an S3 bucket, when it does (the pipeline says so for an S3 store): a service that
    reads the bucket itself is given that instead of the bytes."""


# ----------------------------------------------------------------------------------------------------
# Sniffing


_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2", b"miaf"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def _ftyp_brands(data: bytes) -> set[bytes] | None:
    """The major and compatible brands of an ISO-BMFF ``ftyp`` box at the start of ``data``, or None."""
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(data[0:4], "big")
    end = min(len(data), box_size if 16 <= box_size <= 4096 else 16)
    brands = {data[8:12]}
    brands.update(data[i : i + 4] for i in range(16, end - 3, 4))
    return brands


def sniff_content_type(data: bytes) -> str | None:
    """The content type of ``data`` from its first bytes; None if not an image format pixlens accepts.

    Cheap: looks only at the magic numbers at the start. A ``str`` result does not mean the bytes decode.
    """
    head = bytes(data[:64])
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image/tiff"
    if head[:2] == b"BM" and (len(head) < 18 or int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES):
        return "image/bmp"
    brands = _ftyp_brands(head)
    if brands is not None:
        if brands & _HEIC_BRANDS:
            return "image/heic"
        if brands & _HEIF_BRANDS and not brands & _AVIF_BRANDS:
            return "image/heif"
    return None


_TEXT_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")


def _describe(data: bytes) -> str:
    """What ``data`` looks like when it is not an accepted image: the message of the DecodeError."""
    head = bytes(data[:1024])
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    not_image: str | None = None
    other_image: str | None = None
    brands = _ftyp_brands(head)
    if head.startswith(b"%PDF"):
        not_image = "a PDF document"
    elif stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        not_image = "an HTML page"
    elif stripped.startswith(b"<svg") or (stripped.startswith(b"<?xml") and b"<svg" in stripped):
        other_image = "an SVG drawing (vector images are not supported)"
    elif stripped.startswith(b"<?xml"):
        not_image = "an XML document"
    elif head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        not_image = "a ZIP archive (or an Office document, which is a ZIP)"
    elif head.startswith(b"\x1f\x8b"):
        not_image = "a gzip-compressed file"
    elif head.startswith((b"Rar!", b"7z\xbc\xaf")):
        not_image = "a compressed archive"
    elif head.startswith(b"\x7fELF") or head.startswith(b"MZ"):
        not_image = "a program"
    elif head.startswith((b"ID3", b"fLaC", b"OggS")) or (head[:4] == b"RIFF" and head[8:12] == b"WAVE"):
        not_image = "an audio file"
    elif head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        not_image = "a video (AVI)"
    elif head.startswith(b"\x1a\x45\xdf\xa3"):
        not_image = "a video (Matroska/WebM)"
    elif brands is not None and brands & _AVIF_BRANDS:
        other_image = "an AVIF image"
    elif brands is not None:
        not_image = "a video (MP4/QuickTime)"
    elif head.startswith(b"8BPS"):
        other_image = "a Photoshop document"
    elif head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")):
        other_image = "a JPEG XL image"
    elif head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        other_image = "a JPEG 2000 image"
    elif head.startswith((b"\x00\x00\x01\x00", b"\x00\x00\x02\x00")) and len(head) > 6 and head[4] > 0:
        other_image = "an icon file (ICO/CUR)"
    elif head.startswith(b"BM"):
        other_image = "a BMP file with an unknown header"
    elif _TEXT_CONTROL.search(head) is None:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the 1024-byte boundary is still text.
            if exc.start >= len(head) - 4:
                not_image = "a text file"
        else:
            not_image = "a text file"
    if not_image is not None:
        return f"not an image: the file looks like {not_image}"
    if other_image is not None:
        return f"not a supported image format: the file looks like {other_image}"
    first = " ".join(f"{b:02x}" for b in head[:8])
    return f"not a supported image format (unrecognised content, first bytes: {first})"


# ----------------------------------------------------------------------------------------------------
# Warnings: Pillow reports some problems as warnings; none may escape decode().

_QUIET_LOCK = threading.RLock()


@contextlib.contextmanager
def _quiet(max_pixels: int | None = None) -> Iterator[None]:
    """Run Pillow code with warnings recorded (and logged at DEBUG) instead of emitted. Process-wide lock.

    With ``max_pixels``, Pillow's own decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``, read by some
    plugins while parsing or loading: WebP, GIF, TIFF) is set to ours for the duration and then restored,
    so that Pillow neither refuses a picture our limits allow nor lets through one they refuse. Other
    threads see the changed value only during this short, locked step.
    """
    with _QUIET_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        saved = Image.MAX_IMAGE_PIXELS
        if max_pixels is not None:
            Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            if max_pixels is not None:
                Image.MAX_IMAGE_PIXELS = saved
            for item in caught:
                log.debug("pillow warning while decoding: %s: %s", item.category.__name__, item.message)


# ----------------------------------------------------------------------------------------------------
# Opening without Image.open (whose decompression-bomb check warns from the global MAX_IMAGE_PIXELS).

_heif_lock = threading.Lock()
_heif_registered = False


def _heif_factory() -> Callable[[IO[bytes]], ImageFile.ImageFile]:
    global _heif_registered
    with _heif_lock:
        if not _heif_registered:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_registered = True
    from pillow_heif.as_plugin import HeifImageFile

    factory: Callable[[IO[bytes]], ImageFile.ImageFile] = HeifImageFile
    return factory


def _factory(content_type: str) -> Callable[[IO[bytes]], ImageFile.ImageFile]:
    """The Pillow plugin class for ``content_type``: only the sniffed format may parse the bytes."""
    if content_type == "image/jpeg":
        from PIL import JpegImagePlugin

        # Not jpeg_factory: an MPO (multi-picture JPEG) is read as its first picture, a plain JPEG.
        return JpegImagePlugin.JpegImageFile
    if content_type == "image/png":
        from PIL import PngImagePlugin

        return PngImagePlugin.PngImageFile
    if content_type == "image/gif":
        from PIL import GifImagePlugin

        return GifImagePlugin.GifImageFile
    if content_type == "image/webp":
        from PIL import WebPImagePlugin

        return WebPImagePlugin.WebPImageFile
    if content_type == "image/bmp":
        from PIL import BmpImagePlugin

        return BmpImagePlugin.BmpImageFile
    if content_type == "image/tiff":
        from PIL import TiffImagePlugin

        return TiffImagePlugin.TiffImageFile
    return _heif_factory()


def declared_pixels(stream: IO[bytes], content_type: str) -> int | None:
    """Width x height as the header of a sniffed image declares it (nothing decoded); None when the header
    cannot be read (the analysis then fails with the reason)."""
    try:
        with _quiet(max_pixels=2**62):
            opened = _factory(content_type)(stream)
            return int(opened.size[0]) * int(opened.size[1])
    except _PILLOW_ERRORS:
        return None


_FORMAT_NAMES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WebP",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/heic": "HEIC",
    "image/heif": "HEIF",
}

# Errors that Pillow and its plugins raise for bad input (SyntaxError is Pillow's "not my format" error).
_PILLOW_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError
    SyntaxError,
    ValueError,
    struct.error,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
    AttributeError,
    RuntimeError,
    AssertionError,
    Image.DecompressionBombError,
    Warning,  # a warning turned into an error by the caller's filters
)

_TRUNCATION_HINTS = (
    "truncated",
    "premature end",
    "unexpected end",
    "end of file",
    "end of data",
    "not enough data",
    "too short",
    "insufficient",
)


def _failure(exc: BaseException, content_type: str, stage: str, max_pixels: int) -> DecodeError:
    """A DecodeError for a Pillow failure while ``stage`` (``reading the header`` / ``decoding``)."""
    name = _FORMAT_NAMES.get(content_type, "image")
    detail = str(exc).strip() or type(exc).__name__
    if detail == "not identified by this driver":  # Pillow's words for a header that gives no size or mode
        detail = "the header gives no valid size or colour mode"
    lowered = detail.lower()
    if isinstance(exc, Image.DecompressionBombError):
        found = re.search(r"\((\d+) pixels\)", detail)
        size = f"{_megapixels(int(found.group(1)))} megapixels" if found else "too many pixels"
        return DecodeError(
            f"image too large to decode safely: {size}, limit {_megapixels(max_pixels)} megapixels "
            "(decompression bomb?)"
        )
    if isinstance(exc, MemoryError):
        return DecodeError(f"image too large to decode in the available memory ({name})")
    if isinstance(exc, EOFError) or any(hint in lowered for hint in _TRUNCATION_HINTS):
        return DecodeError(f"truncated image: the {name} data ends before the picture is complete ({detail})")
    return DecodeError(f"corrupt image data: the {name} file failed while {stage} ({detail})")


def _megapixels(pixels: int) -> str:
    mp = pixels / 1_000_000
    return f"{mp:,.0f}" if mp >= 10 else f"{mp:.2g}"


def _size_text(n_bytes: int) -> str:
    if n_bytes >= 1024 * 1024:
        return f"{n_bytes / (1024 * 1024):,.0f} MB"
    if n_bytes >= 1024:
        return f"{n_bytes / 1024:,.0f} KB"
    return f"{n_bytes} bytes"


# ----------------------------------------------------------------------------------------------------
# JPEG completeness

_JPEG_EOI = b"\xff\xd9"
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field
_HUFFMAN_SEQUENTIAL = frozenset({0xC0, 0xC1})  # baseline, extended sequential (Huffman)
# Bytes with no 0xFF: decoded as data in an incomplete scan, skipped as stray bytes after a complete one.
_JPEG_PADDING = bytes(range(0x40, 0x60))


@dataclass(frozen=True)
class _JpegLayout:
    scan_end: int
    """Where the first picture's last scan data ends: at its end marker, or the end of the bytes."""
    single_huffman_scan: bool
    """One Huffman-coded sequential scan (most camera JPEGs), decodable without the end marker."""


def _scan_markers(data: bytes) -> npt.NDArray[np.intp]:
    """Positions of the markers that can end entropy-coded data: 0xFF followed by a byte that is neither a
    stuffed zero, a restart marker (RST0-7, inside a scan) nor another 0xFF (a fill byte). Vectorised: a
    byte-by-byte search costs more than the decoding of a large photo."""
    array = np.frombuffer(data, dtype=np.uint8)
    ffs = np.flatnonzero(array[:-1] == 0xFF)
    following = array[ffs + 1]
    ends = (following != 0x00) & (following != 0xFF) & ((following < 0xD0) | (following > 0xD7))
    markers: npt.NDArray[np.intp] = ffs[ends]
    return markers


def _jpeg_layout(data: bytes) -> _JpegLayout | None:
    """Walk the first picture's markers; None if they are malformed (Pillow then says what is wrong).

    Raises DecodeError for a file that ends inside a marker segment.
    """
    pos, scans, frame = 2, 0, 0
    markers: npt.NDArray[np.intp] | None = None
    while True:
        while pos < len(data) and data[pos] == 0xFF and pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos + 1 >= len(data):
            return _JpegLayout(len(data), scans == 1 and frame in _HUFFMAN_SEQUENTIAL) if scans else None
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xD9:
            return _JpegLayout(pos, scans == 1 and frame in _HUFFMAN_SEQUENTIAL) if scans else None
        if marker in _STANDALONE_MARKERS:
            pos += 2
            continue
        if marker < 0xC0:
            return None  # not a marker: corrupt, not cut
        segment_end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if segment_end > len(data):
            raise _jpeg_truncated(f"the file ends inside a marker segment (0xFF{marker:02X})")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            frame = marker
        if marker != 0xDA:
            pos = segment_end
            continue
        scans += 1
        if markers is None:
            markers = _scan_markers(data)
        following = int(np.searchsorted(markers, segment_end))
        if following == len(markers):
            return _JpegLayout(len(data), scans == 1 and frame in _HUFFMAN_SEQUENTIAL)
        pos = int(markers[following])


def _jpeg_stream(data: bytes) -> tuple[bytes, bytes | None]:
    """The bytes to decode a JPEG from, and for a multi-scan JPEG the bytes of its completeness check.

    libjpeg, meeting a marker before a scan's last block, fills the rest with zeros (flat grey) and only
    warns. A single-scan JPEG is therefore decoded without its end marker, followed by a few stray bytes:
    complete data ends within them, cut data runs out of bytes and Pillow reports it truncated. A
    multi-scan (progressive) JPEG needs its end marker, so it is decoded a second time with stray bytes
    before that marker: after a complete last scan they are skipped, inside a cut one they change pixels.
    What follows the first picture's end marker (trailing bytes, an MPO's other pictures) is never read.
    """
    layout = _jpeg_layout(data)
    if layout is None:
        return data, None
    scans = data[: layout.scan_end].rstrip(b"\xff")  # a last 0xFF is half of a stuffed byte or a marker
    if layout.single_huffman_scan:
        return scans + _JPEG_PADDING, None
    return scans + _JPEG_EOI, scans + _JPEG_PADDING + _JPEG_EOI


def _check_riff_size(data: bytes) -> None:
    """A WebP's RIFF header gives its size: fewer bytes than that is a cut file (libwebp only says it
    cannot decode)."""
    declared = int.from_bytes(data[4:8], "little") + 8
    if len(data) < declared:
        raise DecodeError(
            f"truncated image: the WebP data ends before the picture is complete ({len(data)} of {declared} bytes)"
        )


def _jpeg_truncated(detail: str) -> DecodeError:
    return DecodeError(f"truncated image: the JPEG data ends before the picture is complete ({detail})")


# ----------------------------------------------------------------------------------------------------
# EXIF


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = value.replace("\x00", " ").strip()
    return cleaned or None


def _exif_datetime(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    found = re.match(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})", text)
    if found is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in found.groups())
        parsed = datetime(year, month, day, hour, minute, second)  # EXIF times are local, no zone
    except ValueError:  # 0000:00:00 00:00:00 and other placeholders
        return None
    return parsed.isoformat(timespec="seconds")


def _number(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _degrees(value: object) -> float:
    if isinstance(value, tuple | list):
        parts = [_number(part) for part in value]
        if not 1 <= len(parts) <= 3:
            raise ValueError("expected degrees, minutes, seconds")
        parts += [0.0] * (3 - len(parts))
        return abs(parts[0]) + parts[1] / 60 + parts[2] / 3600
    return abs(_number(value))


def _ref(value: object) -> str:
    text = _text(value)
    return text[0].upper() if text else ""


def _gps(gps_ifd: dict[int, Any]) -> dict[str, float] | None:
    if 2 not in gps_ifd or 4 not in gps_ifd:
        return None
    latitude = _degrees(gps_ifd[2])
    longitude = _degrees(gps_ifd[4])
    if latitude > 90 or longitude > 180:
        return None
    if _ref(gps_ifd.get(1)) == "S":
        latitude = -latitude
    if _ref(gps_ifd.get(3)) == "W":
        longitude = -longitude
    result = {"Latitude": latitude, "Longitude": longitude}
    if 6 in gps_ifd:
        with contextlib.suppress(*_PILLOW_ERRORS):
            altitude = abs(_number(gps_ifd[6]))
            ref = gps_ifd.get(5, 0)
            if isinstance(ref, bytes | str):
                ref = ref[0] if ref else 0
                ref = ord(ref) if isinstance(ref, str) else ref
            result["Altitude"] = -altitude if ref == 1 else altitude
    return result


def _exif_facts(exif: Image.Exif) -> tuple[dict[str, object], int]:
    """The EXIF facts pixlens keeps, and the orientation (1 when absent or bad). Never raises."""
    facts: dict[str, object] = {}
    orientation = 1
    with contextlib.suppress(*_PILLOW_ERRORS):
        value = exif.get(0x0112)
        if isinstance(value, int) and 1 <= value <= 8:
            orientation = value
    taken: str | None = None
    with contextlib.suppress(*_PILLOW_ERRORS):
        taken = _exif_datetime(exif.get_ifd(0x8769).get(36867))
    if taken is None:
        with contextlib.suppress(*_PILLOW_ERRORS):
            taken = _exif_datetime(exif.get(306))
    if taken is not None:
        facts["DateTimeOriginal"] = taken
    for tag, key in ((271, "Make"), (272, "Model")):
        with contextlib.suppress(*_PILLOW_ERRORS):
            text = _text(exif.get(tag))
            if text is not None:
                facts[key] = text
    with contextlib.suppress(*_PILLOW_ERRORS):
        gps = _gps(dict(exif.get_ifd(0x8825)))
        if gps is not None:
            facts["GPS"] = gps
    return facts, orientation


def _read_exif(im: Image.Image) -> tuple[dict[str, object], int]:
    try:
        exif = im.getexif()
    except _PILLOW_ERRORS:
        return {}, 1
    return _exif_facts(exif)


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


# ----------------------------------------------------------------------------------------------------
# Pixels


DRAFT_TOLERANCE = 0.95


def _draft_request(size: tuple[int, int], work_size: int) -> tuple[int, int] | None:
    """The size to ask ``Image.draft`` for: the smallest that keeps the longer side >= ``work_size``."""
    width, height = size
    longer = max(width, height)
    if longer <= work_size:
        return None
    # A reduced scale a little under work_size (a 4032-px photo at 1/4 is 1008 px) is accepted as it is:
    # decoding at 1/2 and resizing down cost three times as much, for no gain to the models (512 px at most).
    scale = work_size * DRAFT_TOLERANCE / longer
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def _apply_draft(im: ImageFile.ImageFile, work_size: int) -> None:
    """Ask the JPEG decoder for a reduced scale (1/2, 1/4, 1/8) whose longer side is still >= ``work_size``.

    Does nothing for other formats. After this, ``im.size`` is the size that ``load()`` will decode.
    """
    request = _draft_request(im.size, work_size)
    if request is not None and im.format == "JPEG":
        im.draft("RGB", request)


def _target_size(width: int, height: int, work_size: int) -> tuple[int, int]:
    """The final size for an original of ``width`` x ``height``: longer side ``work_size``, same aspect."""
    if max(width, height) <= work_size:
        return width, height
    if width >= height:
        return work_size, max(1, round(height * work_size / width))
    return max(1, round(width * work_size / height)), work_size


def _flatten(im: Image.Image) -> Image.Image:
    """Composite an image with alpha onto white; returns RGB."""
    rgba = im.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _scale_to_8bit(im: Image.Image) -> Image.Image:
    """High-bit-depth single-channel modes (I;16*, I, F) to L, scaling the range rather than clipping it."""
    array = np.asarray(im)
    if im.mode.startswith("I;16"):
        scaled = (array >> 8).astype(np.uint8) if array.dtype.itemsize == 2 else array
        return Image.fromarray(np.ascontiguousarray(scaled, dtype=np.uint8), mode="L")
    values = array.astype(np.float64)
    finite = values[np.isfinite(values)]
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 0.0
    if im.mode == "F" and low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0  # float images are usually 0..1
    elif im.mode == "I" and low >= 0 and high <= 65535:
        low, high = 0.0, 65535.0 if high > 255 else 255.0  # 16-bit samples stored in a 32-bit mode
    span = high - low if high > low else 1.0
    scaled = np.nan_to_num((values - low) * (255.0 / span), nan=0.0)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def _to_rgb(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB") and "transparency" in im.info):
        return _flatten(im)
    if mode.startswith("I") or mode == "F":
        return _scale_to_8bit(im).convert("RGB")
    if mode == "RGB":
        return im
    return im.convert("RGB")  # 1, L, P, CMYK, YCbCr, RGBX, LAB, HSV


def _decode_pixels(im: ImageFile.ImageFile, work_size: int) -> Image.Image:
    """Load (drafted for JPEG), convert to RGB, downscale to the final size. Orientation not yet applied."""
    _apply_draft(im, work_size)
    im.load()
    rgb = _to_rgb(im)
    target = _target_size(*rgb.size, work_size)
    if rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if rgb is im:
        rgb = im.copy()  # a plain in-memory Image, detached from the parser and its file state
    return rgb


# ----------------------------------------------------------------------------------------------------
# decode()


def _decode_check(factory: Callable[[IO[bytes]], ImageFile.ImageFile], data: bytes, limits: DecodeLimits) -> bytes:
    """The pixels of ``data`` decoded exactly as :func:`decode` does (before orientation)."""
    with _quiet(limits.max_pixels):
        im = factory(io.BytesIO(data))
    with im, _quiet(limits.max_pixels):
        return _decode_pixels(im, limits.work_size).tobytes()


def decode(data: bytes, limits: DecodeLimits = DecodeLimits()) -> DecodedImage:
    """Decode untrusted image bytes into a small RGB picture, or raise :class:`DecodeError` saying why."""
    if not data:
        raise DecodeError("empty file (0 bytes)")
    if len(data) > limits.max_bytes:
        raise DecodeError(f"file too large: {_size_text(len(data))}, limit {_size_text(limits.max_bytes)}")
    content_type = sniff_content_type(data)
    if content_type is None:
        raise DecodeError(_describe(data))

    try:
        factory = _factory(content_type)
    except ImportError as exc:  # pragma: no cover - Pillow built without a codec
        raise DecodeError(f"cannot decode {_FORMAT_NAMES[content_type]}: {exc}") from exc

    if content_type == "image/webp":
        _check_riff_size(data)
    stream, check = _jpeg_stream(data) if content_type == "image/jpeg" else (data, None)
    stage = "reading the header"
    try:
        with _quiet(limits.max_pixels):
            im = factory(io.BytesIO(stream))
        with im:
            width, height = im.size
            pixels = width * height
            if pixels > limits.max_pixels:
                raise DecodeError(
                    f"image too large to decode safely: {width} x {height} = "
                    f"{_megapixels(pixels)} megapixels, limit {_megapixels(limits.max_pixels)} megapixels "
                    "(decompression bomb?)"
                )
            if min(width, height) < limits.min_side:
                raise DecodeError(f"image too small to analyse: {width} x {height} pixels, minimum {limits.min_side}")
            stage = "decoding"
            # Pillow's own checks during load() (TIFF) warn or fail above its global limit; ours has
            # already been applied, so lift Pillow's for this picture.
            pillow_limit = Image.MAX_IMAGE_PIXELS
            if pillow_limit is not None and pixels > pillow_limit:
                with _quiet(limits.max_pixels):
                    rgb = _decode_pixels(im, limits.work_size)
            else:
                rgb = _decode_pixels(im, limits.work_size)
            if check is not None and _decode_check(factory, check, limits) != rgb.tobytes():
                raise _jpeg_truncated("its last scan stops before the last block")
            stage = "reading the metadata"
            with _quiet():
                exif, orientation = _read_exif(im)
    except DecodeError:
        raise
    except MemoryError as exc:
        raise _failure(exc, content_type, stage, limits.max_pixels) from exc
    except _PILLOW_ERRORS as exc:
        raise _failure(exc, content_type, stage, limits.max_pixels) from exc

    if orientation in _TRANSPOSE:
        rgb = rgb.transpose(_TRANSPOSE[orientation])
        if orientation >= 5:
            width, height = height, width
    return DecodedImage(image=rgb, width=width, height=height, content_type=content_type, exif=exif)
