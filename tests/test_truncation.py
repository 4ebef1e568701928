"""Cut files fail as truncated, even when an end marker follows the cut; complete files still decode.

libjpeg meets an end marker inside a scan by filling the missing blocks with flat grey and a warning that
Pillow drops: without a check, a JPEG cut anywhere and closed with ``FF D9`` would be recorded as analysed.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

import badfiles
from pixlens.errors import DecodeError
from pixlens.imageio import decode

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_JPEGS = sorted(SAMPLES.glob("*.jpg"))
EOI = b"\xff\xd9"


def progressive(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        return badfiles.image_bytes(im, "JPEG", quality=90, progressive=True)


def pillow_pixels(data: bytes) -> bytes:
    """What Pillow itself decodes from a complete JPEG (the samples are under the work size, upright)."""
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB").tobytes()


@pytest.mark.parametrize("path", SAMPLE_JPEGS, ids=lambda p: p.name)
@pytest.mark.parametrize("kind", ["baseline", "progressive"])
def test_cut_sample_fails_with_or_without_end_marker(path: Path, kind: str) -> None:
    data = path.read_bytes() if kind == "baseline" else progressive(path.read_bytes())
    for fraction in (0.1, 0.5, 0.95):
        cut = data[: int(len(data) * fraction)]
        for ending in (b"", EOI, EOI + b"trailing bytes"):
            with pytest.raises(DecodeError, match=r"^truncated image: the JPEG data ends"):
                decode(cut + ending)


@pytest.mark.parametrize("path", SAMPLE_JPEGS, ids=lambda p: p.name)
def test_complete_sample_decodes_as_pillow_does(path: Path) -> None:
    """Complete data decodes to Pillow's own pixels: with its end marker, without it, with bytes after it,
    and re-encoded as a progressive JPEG."""
    data = path.read_bytes()
    assert data.endswith(EOI)
    for variant in (data, data[:-2], data + b"\x00\x00trailing \xff\xd8\xff garbage"):
        assert decode(variant).image.tobytes() == pillow_pixels(data)
    again = progressive(data)
    for variant in (again, again[:-2], again + b"trailing"):
        assert decode(variant).image.tobytes() == pillow_pixels(again)


@pytest.mark.parametrize("params", [{}, {"progressive": True}, {"subsampling": 0}], ids=["420", "progressive", "444"])
def test_large_real_jpeg_decodes(params: dict[str, object]) -> None:
    """A 12-megapixel photo (decoded at a reduced scale): complete, it decodes; cut near its end, it fails."""
    data = badfiles.image_bytes(badfiles.photo((4000, 3000)), "JPEG", quality=80, **params)
    decoded = decode(data)
    assert (decoded.width, decoded.height) == (4000, 3000)
    assert decode(data[:-2]).image.tobytes() == decoded.image.tobytes()
    with pytest.raises(DecodeError, match=r"^truncated image"):
        decode(data[: len(data) - 4096] + EOI)


def test_grey_and_cmyk_jpegs_decode() -> None:
    photo = badfiles.photo((400, 300))
    for im in (photo.convert("L"), photo.convert("CMYK")):
        data = badfiles.image_bytes(im, "JPEG")
        assert decode(data).image.size == (400, 300)
        with pytest.raises(DecodeError, match=r"^truncated image"):
            decode(data[: len(data) // 2] + EOI)


def test_cut_png_with_its_end_chunk_fails() -> None:
    data = badfiles.image_bytes(badfiles.photo(), "PNG")
    end = badfiles.png_chunk(b"IEND", b"")
    with pytest.raises(DecodeError, match=r"^truncated image"):
        decode(data[: len(data) // 2] + end)


@pytest.mark.parametrize("params", [{"quality": 80}, {"lossless": True}], ids=["lossy", "lossless"])
def test_cut_webp_is_truncated(params: dict[str, object]) -> None:
    data = badfiles.image_bytes(badfiles.photo(), "WEBP", **params)
    assert decode(data).image.size == (320, 240)
    for fraction in (0.2, 0.9):
        with pytest.raises(DecodeError, match=r"^truncated image: the WebP data ends"):
            decode(data[: int(len(data) * fraction)])
