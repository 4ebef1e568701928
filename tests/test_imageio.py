"""Tests for pixlens.imageio: safe decoding of untrusted image bytes."""

from __future__ import annotations

import io
import random
import stat
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, JpegImagePlugin, TiffImagePlugin

import badfiles
from pixlens import imageio
from pixlens.errors import DecodeError
from pixlens.imageio import DecodedImage, DecodeLimits, decode, sniff_content_type

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    return badfiles.image_bytes(im, fmt, **params)


def pixel(decoded: DecodedImage, x: int, y: int) -> tuple[int, int, int]:
    value = decoded.image.getpixel((x, y))
    assert isinstance(value, tuple)
    return (int(value[0]), int(value[1]), int(value[2]))


def close(actual: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def assert_work_image(decoded: DecodedImage, limits: DecodeLimits = DecodeLimits()) -> None:  # noqa: B008
    assert decoded.image.mode == "RGB"
    assert not isinstance(decoded.image, ImageFile.ImageFile)  # a plain, loaded, in-memory picture
    decoded.image.getpixel((0, 0))
    assert max(decoded.image.size) <= limits.work_size
    longer_original = max(decoded.width, decoded.height)
    if longer_original > limits.work_size:
        assert max(decoded.image.size) == limits.work_size
    else:
        assert decoded.image.size == (decoded.width, decoded.height)
    # Same aspect ratio and same orientation as the reported original size.
    width, height = decoded.image.size
    assert abs(width / height - decoded.width / decoded.height) < 0.01 * max(1, decoded.width / decoded.height)


# ----------------------------------------------------------------------------------------------------
# Sniffing


@pytest.mark.parametrize(
    ("fmt", "params", "content_type"),
    [
        ("JPEG", {}, "image/jpeg"),
        ("PNG", {}, "image/png"),
        ("GIF", {}, "image/gif"),
        ("WEBP", {}, "image/webp"),
        ("BMP", {}, "image/bmp"),
        ("TIFF", {}, "image/tiff"),
        ("TIFF", {"compression": "tiff_lzw"}, "image/tiff"),
    ],
)
def test_sniff_and_decode_each_format(fmt: str, params: dict[str, object], content_type: str) -> None:
    data = encode(badfiles.photo((200, 150)), fmt, **params)
    assert sniff_content_type(data) == content_type
    decoded = decode(data)
    assert decoded.content_type == content_type
    assert (decoded.width, decoded.height) == (200, 150)
    assert_work_image(decoded)


def test_sniff_big_endian_tiff() -> None:
    assert sniff_content_type(b"MM\x00*\x00\x00\x00\x08" + bytes(8)) == "image/tiff"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world",
        b"%PDF-1.7\n",
        b"BM is a text file that happens to start with BM and goes on",
        b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00isomiso2mp41",  # MP4 video
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",  # AVIF: not accepted
    ],
)
def test_sniff_rejects(data: bytes) -> None:
    assert sniff_content_type(data) is None


def test_sniff_heif_brands() -> None:
    assert sniff_content_type(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") == "image/heic"
    assert sniff_content_type(b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic") == "image/heic"
    assert sniff_content_type(b"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1") == "image/heif"


# ----------------------------------------------------------------------------------------------------
# The shared bad-file cases


@pytest.mark.parametrize("case", badfiles.CASES, ids=lambda case: case.name)
def test_bad_file_case(case: badfiles.BadFile, tmp_path: Path) -> None:
    path = case.make(tmp_path)
    if case.stage == "read":
        with pytest.raises(OSError):
            path.read_bytes()
        return
    data = path.read_bytes()
    if case.stage == "ok":
        decoded = decode(data)
        assert decoded.content_type == case.message
        assert_work_image(decoded)
        return
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert str(info.value).startswith(case.message), str(info.value)


def test_bad_files_chain_pillow_errors(tmp_path: Path) -> None:
    """Pillow's own exception is kept as the cause, for logs; it never escapes on its own."""
    for make in (badfiles.make_truncated_jpeg, badfiles.make_truncated_png, badfiles.make_corrupt_jpeg):
        with pytest.raises(DecodeError) as info:
            decode(make(tmp_path).read_bytes())
        assert isinstance(info.value.__cause__, OSError | SyntaxError)


def test_exact_messages(tmp_path: Path) -> None:
    def message(make: Callable[[Path], Path]) -> str:
        with pytest.raises(DecodeError) as info:
            decode(make(tmp_path).read_bytes())
        return str(info.value)

    assert message(badfiles.make_empty) == "empty file (0 bytes)"
    assert message(badfiles.make_bomb_png_header) == (
        "image too large to decode safely: 100000 x 100000 = 10,000 megapixels, limit 100 megapixels "
        "(decompression bomb?)"
    )
    assert message(badfiles.make_one_by_one) == "image too small to analyse: 1 x 1 pixels, minimum 16"
    assert message(badfiles.make_pdf_as_jpg) == "not an image: the file looks like a PDF document"


def test_fifo_case_is_a_pipe_not_a_file(tmp_path: Path) -> None:
    """make_fifo is not in CASES: reading it would block. Check what it makes without reading it."""
    path = badfiles.make_fifo(tmp_path)
    assert stat.S_ISFIFO(path.stat().st_mode)
    assert not path.is_file()


def test_chmod_000_case(tmp_path: Path) -> None:
    """Documented in badfiles: permission bits do not stop root, so only other users cannot read it."""
    path = badfiles.make_chmod_000(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0
    try:
        data = path.read_bytes()
    except PermissionError:
        return  # not root: truly unreadable
    assert decode(data).content_type == "image/jpeg"


def test_symlink_loop_points_at_itself(tmp_path: Path) -> None:
    path = badfiles.make_symlink_loop(tmp_path)
    assert path.is_symlink()
    with pytest.raises(OSError):
        path.stat()
    # Beware: Python 3.11/3.12 raise RuntimeError (not OSError) from resolve(strict=True) on a loop.
    with pytest.raises((OSError, RuntimeError)):
        path.resolve(strict=True)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"   <html><body>hi</body></html>", "not an image: the file looks like an HTML page"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "not a supported image format"),
        (b"\x1f\x8b\x08\x00" + bytes(20), "not an image: the file looks like a gzip-compressed file"),
        (
            b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00isomiso2mp41",
            "not an image: the file looks like a video",
        ),
        (
            b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",
            "not a supported image format: the file looks",
        ),
        (
            b"8BPS\x00\x01" + bytes(20),
            "not a supported image format: the file looks like a Photoshop document",
        ),
        ("Grüße aus Köln\n".encode(), "not an image: the file looks like a text file"),
        (
            b"\x00\x01\x02\x03\xfe\xfd",
            "not a supported image format (unrecognised content, first bytes: 00 01",
        ),
    ],
)
def test_not_an_image_messages(data: bytes, expected: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert str(info.value).startswith(expected), str(info.value)


# ----------------------------------------------------------------------------------------------------
# Limits


def test_file_too_large() -> None:
    data = encode(badfiles.photo((64, 64)), "PNG")
    with pytest.raises(DecodeError, match=r"^file too large: \d+ KB, limit 1 KB$"):
        decode(data, DecodeLimits(max_bytes=1024))
    big = b"\xff\xd8\xff" + bytes(3 * 1024 * 1024)
    with pytest.raises(DecodeError, match=r"^file too large: 3 MB, limit 2 MB$"):
        decode(big, DecodeLimits(max_bytes=2 * 1024 * 1024))


def test_max_pixels_checked_from_header_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(badfiles.photo((300, 200)), "JPEG")
    loads: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.load

    def spy(self: JpegImagePlugin.JpegImageFile) -> object:
        loads.append(self.size)
        return original(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    with pytest.raises(DecodeError, match=r"^image too large to decode safely: 300 x 200 = 0\.06 megapixels"):
        decode(data, DecodeLimits(max_pixels=50_000))
    assert loads == []  # refused before any pixel was decoded
    assert decode(data, DecodeLimits(max_pixels=60_000)).width == 300


def test_min_side() -> None:
    data = encode(badfiles.photo((300, 20)), "PNG")
    assert decode(data).height == 20
    with pytest.raises(DecodeError, match=r"^image too small to analyse: 300 x 20 pixels, minimum 32$"):
        decode(data, DecodeLimits(min_side=32))


def test_own_limit_not_pillows_global(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's global MAX_IMAGE_PIXELS neither warns nor refuses: our max_pixels decides.

    (pytest turns warnings into errors, so a DecompressionBombWarning would fail this test.)
    """
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    im = badfiles.photo((300, 200))
    for fmt in ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"):
        decoded = decode(encode(im, fmt))
        assert (decoded.width, decoded.height) == (300, 200), fmt
    gif = io.BytesIO()
    im.save(gif, "GIF", save_all=True, append_images=[badfiles.photo((300, 200), seed=2)])
    assert decode(gif.getvalue()).width == 300


def test_no_warning_escapes_for_a_bomb(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for make in (badfiles.make_bomb_png_header, badfiles.make_bomb_png_1bit, badfiles.make_bomb_gif):
            with pytest.raises(DecodeError, match="decompression bomb"):
                decode(make(tmp_path).read_bytes())
    assert caught == []


def test_bomb_tiff_header() -> None:
    """A TIFF whose IFD claims 50000 x 50000."""
    im = Image.new("L", (16, 16))
    data = encode(im, "TIFF")
    # ImageWidth (0x0100) and ImageLength (0x0101), LONG: 16 -> 50000.
    patched = data.replace(
        b"\x00\x01\x04\x00\x01\x00\x00\x00\x10\x00\x00\x00",
        b"\x00\x01\x04\x00\x01\x00\x00\x00\x50\xc3\x00\x00",
    )
    patched = patched.replace(
        b"\x01\x01\x04\x00\x01\x00\x00\x00\x10\x00\x00\x00",
        b"\x01\x01\x04\x00\x01\x00\x00\x00\x50\xc3\x00\x00",
    )
    assert patched != data
    with pytest.raises(DecodeError, match=r"^image too large to decode safely: 50000 x 50000 = 2,500 megapixels"):
        decode(patched)


def test_truncated_images_stay_fatal(tmp_path: Path) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(DecodeError, match=r"^truncated image"):
        decode(badfiles.make_truncated_jpeg(tmp_path).read_bytes())
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    # Even a JPEG missing only its last few bytes fails.
    data = encode(badfiles.photo((320, 240)), "JPEG")
    with pytest.raises(DecodeError, match=r"^truncated image"):
        decode(data[:-200])


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_mangled_bytes_raise_only_decode_error(fmt: str) -> None:
    """Random truncations and byte flips: decode either works or raises DecodeError, never anything else."""
    data = encode(badfiles.photo((64, 48)), fmt)
    rng = random.Random(fmt)
    for _ in range(150):
        mangled = bytearray(data)
        if rng.random() < 0.3:
            mangled = mangled[: rng.randrange(1, len(mangled))]
        for _ in range(rng.randrange(1, 8)):
            position = rng.randrange(len(mangled))
            mangled[position] = rng.randrange(256)
        try:
            decoded = decode(bytes(mangled))
        except DecodeError as exc:
            assert str(exc)
        else:
            assert decoded.image.mode == "RGB"


# ----------------------------------------------------------------------------------------------------
# Orientation


def two_colour(size: tuple[int, int]) -> Image.Image:
    """Left half red, right half blue."""
    im = Image.new("RGB", size, (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return im


def with_orientation(im: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(im, fmt, exif=exif.tobytes())


def test_orientation_6_gives_portrait() -> None:
    decoded = decode(with_orientation(two_colour((600, 400)), 6))
    assert (decoded.width, decoded.height) == (400, 600)
    assert decoded.image.size == (400, 600)
    # Rotated 90 degrees clockwise for display: the left (red) half is now on top.
    assert close(pixel(decoded, 200, 50), (255, 0, 0), 40)
    assert close(pixel(decoded, 200, 550), (0, 0, 255), 40)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(orientation: int) -> None:
    from PIL import ImageOps

    data = with_orientation(two_colour((300, 200)), orientation, "PNG")
    decoded = decode(data)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)).convert("RGB"))
    assert decoded.image.size == expected.size == (decoded.width, decoded.height)
    assert np.array_equal(np.asarray(decoded.image), np.asarray(expected))


def test_orientation_with_downscale() -> None:
    decoded = decode(with_orientation(two_colour((3000, 2000)), 8), DecodeLimits(work_size=300))
    assert (decoded.width, decoded.height) == (2000, 3000)
    assert decoded.image.size == (200, 300)
    # Rotated 90 degrees counter-clockwise: the left (red) half is now at the bottom.
    assert close(pixel(decoded, 100, 280), (255, 0, 0), 40)


def test_bad_orientation_value_is_ignored() -> None:
    decoded = decode(with_orientation(two_colour((300, 200)), 9))
    assert (decoded.width, decoded.height) == (300, 200)


# ----------------------------------------------------------------------------------------------------
# Colour modes


def test_cmyk_jpeg() -> None:
    im = Image.new("CMYK", (64, 64), (0, 255, 255, 0))  # pure red in CMYK
    data = encode(im, "JPEG")
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    decoded = decode(data)
    assert decoded.image.mode == "RGB"
    assert close(pixel(decoded, 32, 32), (255, 0, 0), 20)


def test_16bit_gray_png_is_scaled_not_clipped() -> None:
    ramp = (np.arange(256, dtype=np.uint32) * 257).astype(np.uint16)  # 0 .. 65535
    im = Image.fromarray(np.tile(ramp, (32, 1)))
    assert im.mode == "I;16"
    data = encode(im, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    decoded = decode(data)
    row = np.asarray(decoded.image)[0]
    assert row[0].tolist() == [0, 0, 0]
    assert row[-1].tolist() == [255, 255, 255]
    assert np.array_equal(row[:, 0], np.arange(256))
    assert len(np.unique(row[:, 0])) == 256


def test_16bit_gray_tiff() -> None:
    ramp = (np.arange(64, dtype=np.uint32) * 1040).astype(np.uint16)
    data = encode(Image.fromarray(np.tile(ramp, (32, 1))), "TIFF")
    row = np.asarray(decode(data).image)[0, :, 0]
    assert row[0] == 0
    assert row[-1] == 65520 >> 8
    assert np.all(np.diff(row.astype(int)) > 0)


def test_16bit_rgb_png() -> None:
    width, height = 64, 32
    rows = []
    for _ in range(height):
        row = bytearray()
        for x in range(width):
            value = x * 1040  # 0 .. 65520
            row += value.to_bytes(2, "big") + (65535 - value).to_bytes(2, "big") + (0x8000).to_bytes(2, "big")
        rows.append(bytes(row))
    data = badfiles.png_bytes(width, height, 16, 2, rows)
    decoded = decode(data)
    assert decoded.image.mode == "RGB"
    first, last = pixel(decoded, 0, 0), pixel(decoded, width - 1, 0)
    assert close(first, (0, 255, 128), 1)
    assert close(last, (254, 1, 128), 1)


def test_16bit_rgba_png_composited_on_white() -> None:
    rows = [(b"\xff\xff\x00\x00\x00\x00\x00\x00" * 16) + (b"\x00\x00\x00\x00\xff\xff\xff\xff" * 16)] * 20
    decoded = decode(badfiles.png_bytes(32, 20, 16, 6, rows))
    assert close(pixel(decoded, 2, 2), (255, 255, 255), 1)  # fully transparent red -> white
    assert close(pixel(decoded, 30, 2), (0, 0, 255), 1)


def test_palette_without_transparency() -> None:
    im = badfiles.photo((100, 80)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    data = encode(im, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "P"
    decoded = decode(data)
    assert np.array_equal(np.asarray(decoded.image), np.asarray(im.convert("RGB")))


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency_composited_on_white(fmt: str) -> None:
    im = Image.new("P", (40, 40), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.paste(1, (20, 0, 40, 40))  # right half red, left half palette 0 = transparent black
    data = encode(im, fmt, transparency=0)
    decoded = decode(data)
    assert pixel(decoded, 5, 5) == (255, 255, 255)
    assert pixel(decoded, 35, 5) == (255, 0, 0)


def test_rgba_composited_on_white() -> None:
    im = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    im.paste((0, 128, 0, 255), (0, 0, 20, 40))
    im.paste((0, 0, 0, 128), (20, 0, 40, 40))
    decoded = decode(encode(im, "PNG"))
    assert pixel(decoded, 5, 5) == (0, 128, 0)
    assert close(pixel(decoded, 35, 5), (127, 127, 127), 2)  # half-transparent black over white


def test_la_composited_on_white() -> None:
    im = Image.new("LA", (40, 40), (0, 0))
    im.paste((50, 255), (0, 0, 20, 40))
    data = encode(im, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "LA"
    decoded = decode(data)
    assert pixel(decoded, 5, 5) == (50, 50, 50)
    assert pixel(decoded, 35, 5) == (255, 255, 255)


def test_rgb_with_transparent_colour() -> None:
    im = Image.new("RGB", (40, 40), (1, 2, 3))
    im.paste((9, 9, 9), (20, 0, 40, 40))
    decoded = decode(encode(im, "PNG", transparency=(1, 2, 3)))
    assert pixel(decoded, 5, 5) == (255, 255, 255)
    assert pixel(decoded, 35, 5) == (9, 9, 9)


def test_one_bit_and_gray() -> None:
    one = Image.new("1", (40, 40), 0)
    one.paste(1, (20, 0, 40, 40))
    decoded = decode(encode(one, "PNG"))
    assert pixel(decoded, 5, 5) == (0, 0, 0)
    assert pixel(decoded, 35, 5) == (255, 255, 255)
    gray = Image.new("L", (40, 40), 77)
    assert pixel(decode(encode(gray, "PNG")), 5, 5) == (77, 77, 77)
    assert pixel(decode(encode(gray, "JPEG")), 5, 5) == (77, 77, 77)


def test_float_tiff() -> None:
    ramp = np.linspace(0.0, 1.0, 64, dtype=np.float32)
    data = encode(Image.fromarray(np.tile(ramp, (32, 1))), "TIFF")
    row = np.asarray(decode(data).image)[0, :, 0]
    assert row[0] == 0
    assert row[-1] == 255


# ----------------------------------------------------------------------------------------------------
# Downscaling and JPEG draft mode


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    gradient = Image.linear_gradient("L").resize((6000, 4000))
    im = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient))
    return encode(im, "JPEG", quality=80)


def test_big_jpeg_is_decoded_at_reduced_scale(big_jpeg: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded_sizes: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.load

    def spy(self: JpegImagePlugin.JpegImageFile) -> object:
        decoded_sizes.append(self.size)  # what libjpeg is about to decode
        return original(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    decoded = decode(big_jpeg)
    assert (decoded.width, decoded.height) == (6000, 4000)
    assert decoded.image.size == (1024, 683)
    # 6000 / 1024 = 5.9, so libjpeg decodes at 1/4 scale: never the full 24 megapixels.
    assert decoded_sizes
    assert set(decoded_sizes) == {(1500, 1000)}


def test_apply_draft_helper(big_jpeg: bytes) -> None:
    im = JpegImagePlugin.JpegImageFile(io.BytesIO(big_jpeg))
    imageio._apply_draft(im, 1024)
    assert im.size == (1500, 1000)
    im = JpegImagePlugin.JpegImageFile(io.BytesIO(big_jpeg))
    imageio._apply_draft(im, 500)
    assert im.size == (750, 500)  # 1/8: longer side 750 >= 500
    im = JpegImagePlugin.JpegImageFile(io.BytesIO(big_jpeg))
    imageio._apply_draft(im, 8000)
    assert im.size == (6000, 4000)  # no draft needed


@pytest.mark.parametrize("work_size", [100, 256, 700, 1024, 2000, 3000])
def test_draft_keeps_longer_side_at_least_work_size(big_jpeg: bytes, work_size: int) -> None:
    im = JpegImagePlugin.JpegImageFile(io.BytesIO(big_jpeg))
    imageio._apply_draft(im, work_size)
    assert max(im.size) >= work_size
    assert max(im.size) < 2 * work_size or im.size == (750, 500)  # at most 1/8 reduction exists
    decoded = decode(big_jpeg, DecodeLimits(work_size=work_size))
    assert max(decoded.image.size) == work_size


def test_big_png_is_downscaled() -> None:
    data = encode(Image.linear_gradient("L").resize((3000, 2000)), "PNG")
    decoded = decode(data)
    assert (decoded.width, decoded.height) == (3000, 2000)
    assert decoded.image.size == (1024, 683)
    assert decoded.image.mode == "RGB"


def test_portrait_downscale() -> None:
    decoded = decode(encode(badfiles.photo((500, 2000)), "JPEG"), DecodeLimits(work_size=400))
    assert decoded.image.size == (100, 400)


# ----------------------------------------------------------------------------------------------------
# Animation: first frame only


def test_animated_gif_first_frame() -> None:
    red, blue = Image.new("RGB", (40, 40), (255, 0, 0)), Image.new("RGB", (40, 40), (0, 0, 255))
    buffer = io.BytesIO()
    red.save(buffer, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    decoded = decode(buffer.getvalue())
    assert decoded.content_type == "image/gif"
    assert pixel(decoded, 20, 20) == (255, 0, 0)


def test_animated_webp_first_frame() -> None:
    red, blue = Image.new("RGB", (40, 40), (255, 0, 0)), Image.new("RGB", (40, 40), (0, 0, 255))
    buffer = io.BytesIO()
    red.save(buffer, "WEBP", save_all=True, append_images=[blue], duration=100, lossless=True)
    assert getattr(Image.open(io.BytesIO(buffer.getvalue())), "n_frames", 1) == 2
    decoded = decode(buffer.getvalue())
    assert decoded.content_type == "image/webp"
    assert pixel(decoded, 20, 20) == (255, 0, 0)


# ----------------------------------------------------------------------------------------------------
# HEIC


def test_heic_roundtrip() -> None:
    import pillow_heif

    im = two_colour((640, 480))
    heif_file = pillow_heif.from_pillow(im)
    buffer = io.BytesIO()
    heif_file.save(buffer, quality=90)
    data = buffer.getvalue()
    assert sniff_content_type(data) == "image/heic"
    decoded = decode(data)
    assert decoded.content_type == "image/heic"
    assert (decoded.width, decoded.height) == (640, 480)
    assert_work_image(decoded)
    assert close(pixel(decoded, 100, 240), (255, 0, 0), 40)
    assert close(pixel(decoded, 540, 240), (0, 0, 255), 40)


def test_heic_with_orientation_and_exif() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    exif = make_exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    # pillow_heif stores the orientation as a HEIF transform (irot) and resets EXIF orientation to 1 when
    # reading, because libheif applies the transform: either way the decoded picture is upright.
    two_colour((640, 480)).save(buffer, "HEIF", quality=90, exif=exif.tobytes())
    decoded = decode(buffer.getvalue())
    assert (decoded.width, decoded.height) == (480, 640)
    assert decoded.image.size == (480, 640)
    assert close(pixel(decoded, 240, 50), (255, 0, 0), 40)
    assert decoded.exif["Make"] == "Canon"


def test_truncated_heic() -> None:
    import pillow_heif

    buffer = io.BytesIO()
    pillow_heif.from_pillow(badfiles.photo((256, 256))).save(buffer, quality=80)
    data = buffer.getvalue()
    with pytest.raises(DecodeError):
        decode(data[: len(data) // 2])


# ----------------------------------------------------------------------------------------------------
# EXIF


def rational(numerator: int, denominator: int) -> TiffImagePlugin.IFDRational:
    return TiffImagePlugin.IFDRational(numerator, denominator)


def make_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[271] = "Canon\x00"
    exif[272] = "  Canon EOS R5\x00\x00 "
    exif[306] = "2023:01:02 03:04:05"
    exif.get_ifd(0x8769)[36867] = "2024:07:01 10:11:12"
    gps = exif.get_ifd(0x8825)
    gps[1] = "S"
    gps[2] = (rational(33, 1), rational(51, 1), rational(3096, 100))  # 33° 51' 30.96" S
    gps[3] = "E"
    gps[4] = (rational(151, 1), rational(12, 1), rational(3372, 100))
    gps[5] = b"\x01"  # below sea level
    gps[6] = rational(105, 10)
    return exif


def test_exif_fields() -> None:
    data = encode(badfiles.photo((200, 100)), "JPEG", exif=make_exif().tobytes())
    exif = decode(data).exif
    assert exif["DateTimeOriginal"] == "2024-07-01T10:11:12"
    assert exif["Make"] == "Canon"
    assert exif["Model"] == "Canon EOS R5"
    gps = exif["GPS"]
    assert isinstance(gps, dict)
    assert gps["Latitude"] == pytest.approx(-(33 + 51 / 60 + 30.96 / 3600))
    assert gps["Longitude"] == pytest.approx(151 + 12 / 60 + 33.72 / 3600)
    assert gps["Altitude"] == pytest.approx(-10.5)


def test_exif_north_west_and_above_sea() -> None:
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[3] = "N", "W"
    gps[2] = (rational(40, 1), rational(26, 1), rational(46, 1))
    gps[4] = (rational(79, 1), rational(58, 1), rational(56, 1))
    gps[5] = b"\x00"
    gps[6] = rational(3000, 10)
    decoded = decode(encode(badfiles.photo((200, 100)), "JPEG", exif=exif.tobytes()))
    assert decoded.exif == {
        "GPS": {
            "Latitude": pytest.approx(40.446111, abs=1e-5),
            "Longitude": pytest.approx(-79.982222, abs=1e-5),
            "Altitude": pytest.approx(300.0),
        }
    }


def test_exif_datetime_falls_back_to_datetime() -> None:
    exif = Image.Exif()
    exif[306] = "2023:01:02 03:04:05"
    decoded = decode(encode(badfiles.photo((200, 100)), "JPEG", exif=exif.tobytes()))
    assert decoded.exif == {"DateTimeOriginal": "2023-01-02T03:04:05"}


def test_exif_in_png_and_webp() -> None:
    for fmt in ("PNG", "WEBP", "TIFF"):
        data = encode(badfiles.photo((200, 100)), fmt, exif=make_exif().tobytes())
        exif = decode(data).exif
        assert exif.get("Make") == "Canon", fmt
        assert exif.get("DateTimeOriginal") == "2024-07-01T10:11:12", fmt


def test_no_exif() -> None:
    assert decode(encode(badfiles.photo((200, 100)), "PNG")).exif == {}


def test_malformed_exif_fields_are_skipped() -> None:
    exif = Image.Exif()
    exif[271] = "\x00\x00  "  # empty after stripping
    exif[272] = "Pixel 8"
    exif[306] = "0000:00:00 00:00:00"
    exif.get_ifd(0x8769)[36867] = "not a date"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (rational(1, 0), rational(0, 0), rational(0, 0))  # zero denominators
    gps[3] = "E"
    gps[4] = (rational(10, 1), rational(0, 1), rational(0, 1))
    decoded = decode(encode(badfiles.photo((200, 100)), "JPEG", exif=exif.tobytes()))
    assert decoded.exif == {"Model": "Pixel 8"}


def test_garbage_exif_block_does_not_fail_decode() -> None:
    garbage_blocks = [
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + bytes(10),  # claims 65535 entries
        b"Exif\x00\x00MM\x00*\x00\x00\xff\xff",  # IFD offset beyond the data
        b"Exif\x00\x00" + random.Random(5).randbytes(200),
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x09\x00\x00\x00",
    ]
    im = badfiles.photo((200, 100))
    for block in garbage_blocks:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            decoded = decode(encode(im, "JPEG", exif=block))
        assert caught == []
        assert (decoded.width, decoded.height) == (200, 100)
        assert isinstance(decoded.exif, dict)


def test_exif_gps_corrupt_types() -> None:
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (rational(95, 1), rational(0, 1), rational(0, 1))  # latitude beyond the pole
    gps[3] = "E"
    gps[4] = (rational(1, 1),)
    decoded = decode(encode(badfiles.photo((200, 100)), "JPEG", exif=exif.tobytes()))
    assert "GPS" not in decoded.exif


# ----------------------------------------------------------------------------------------------------
# Real photographs


SAMPLE_FILES = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})


def test_samples_present() -> None:
    assert len(SAMPLE_FILES) == 30


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_photo(path: Path) -> None:
    data = path.read_bytes()
    with Image.open(path) as reference:
        size = reference.size
    decoded = decode(data)
    assert (decoded.width, decoded.height) == size
    assert decoded.content_type == ("image/png" if path.suffix == ".png" else "image/jpeg")
    assert_work_image(decoded)
    small = decode(data, DecodeLimits(work_size=224))
    assert max(small.image.size) == 224
    assert (small.width, small.height) == size


def test_webp_bomb_refused_while_parsing() -> None:
    """Pillow's WebP parser checks the canvas itself (before we see the size): still our limit, our words."""
    data = encode(badfiles.photo((300, 200)), "WEBP")
    with pytest.raises(DecodeError) as info:
        decode(data, DecodeLimits(max_pixels=20_000))
    assert str(info.value) == (
        "image too large to decode safely: 0.06 megapixels, limit 0.02 megapixels (decompression bomb?)"
    )
    with pytest.raises(DecodeError, match=r"^image too large to decode safely: 300 x 200 = 0\.06 megapixels"):
        decode(data, DecodeLimits(max_pixels=40_000))
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # restored after the call


def test_webp_canvas_bomb() -> None:
    buffer = io.BytesIO()
    red, blue = Image.new("RGB", (32, 32), (255, 0, 0)), Image.new("RGB", (32, 32), (0, 0, 255))
    red.save(buffer, "WEBP", save_all=True, append_images=[blue], duration=10, lossless=True)
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"VP8X"
    data[24:27] = (16383).to_bytes(3, "little")  # canvas width - 1
    data[27:30] = (16383).to_bytes(3, "little")  # canvas height - 1
    with pytest.raises(DecodeError, match=r"^image too large to decode safely: 268 megapixels, limit 100"):
        decode(bytes(data))


def test_concurrent_decodes(tmp_path: Path) -> None:
    """Threads decoding at once: same results, no warning, Pillow's global limit left as it was."""
    from concurrent.futures import ThreadPoolExecutor

    limit_before = Image.MAX_IMAGE_PIXELS
    inputs = [encode(badfiles.photo((400, 300), seed=i), fmt) for i, fmt in enumerate(["JPEG", "PNG", "WEBP"])]
    inputs.append(badfiles.make_bomb_png_header(tmp_path).read_bytes())
    inputs.append(badfiles.make_truncated_jpeg(tmp_path).read_bytes())

    def run(data: bytes) -> str:
        try:
            decoded = decode(data, DecodeLimits(work_size=200))
        except DecodeError as exc:
            return str(exc).split(":")[0]
        return f"{decoded.content_type} {decoded.image.size}"

    expected = [run(data) for data in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, inputs * 20))
    assert results == expected * 20
    assert expected[:3] == ["image/jpeg (200, 150)", "image/png (200, 150)", "image/webp (200, 150)"]
    assert limit_before == Image.MAX_IMAGE_PIXELS
