"""How an image travels to Amazon Rekognition: the ``Image`` parameter of its calls.

Rekognition's fixed limits (its developer guide, "Guidelines and quotas"): JPEG or PNG only; an S3 object of at
most 15 MB; bytes in the request of at most 5 MB; each side at least 80 pixels; DetectLabels and
DetectModerationLabels at most 10,000 pixels a side. So, in order:

1. ``S3Object {Bucket, Name}`` when the image lies in a bucket (an S3 store) and is a JPEG or PNG within those
   limits: nothing is sent but its name (Rekognition reads the bucket; its region must be Rekognition's);
2. the file's own bytes when it is a JPEG or PNG of at most 5 MB within the pixel limits;
3. else a re-encoded JPEG: decoded again (safely, EXIF orientation applied) at most ``max_side`` pixels on its
   longer side, scaled up when a side is under 80 pixels, at the highest quality that fits in 5 MB (WebP, HEIC,
   TIFF, GIF, BMP; a PNG or JPEG too large);
4. an image that cannot be brought within the limits (a 20 x 4000 strip: 80 pixels high, it is 16,000 wide) is
   refused with a :class:`~pixlens.errors.DecodeError` that says why: the record fails with that reason.

Every Rekognition analyser prepares the same image: :func:`image_parameter` keeps the last answer per thread
(the pipeline prepares one image's analysers one after another in one thread), so it is encoded once.
"""

from __future__ import annotations

import io
import threading
from typing import Any, Final

from PIL import Image

from pixlens.errors import DecodeError
from pixlens.imageio import DecodedImage, DecodeLimits, decode

S3_OBJECT_MAX_BYTES: Final = 15 * 1024 * 1024
BYTES_MAX: Final = 5 * 1024 * 1024
MIN_SIDE: Final = 80
MAX_SIDE: Final = 10_000
SENT_AS_IS: Final = frozenset({"image/jpeg", "image/png"})
JPEG_QUALITIES: Final = (90, 80, 70, 60, 50)  # tried in turn until the JPEG fits in BYTES_MAX
SHRINK_STEP: Final = 0.75  # then the picture shrinks by this much each time
MIN_JPEG_SIDE: Final = 256  # and gives up below this (a 5 MB JPEG this small does not exist)

Parameter = dict[str, Any]
_last = threading.local()


def image_parameter(image: DecodedImage, max_side: int = 4096, s3_objects: bool = True) -> Parameter:
    """The ``Image`` parameter that sends ``image`` to Rekognition (see the module); DecodeError if none can."""
    key = (image.sha256, image.width, image.height, image.origin, max_side, s3_objects)
    kept = getattr(_last, "kept", None)
    if kept is not None and kept[0] == key and key[0] is not None:
        parameter: Parameter = kept[1]
        return parameter
    parameter = _parameter(image, max_side, s3_objects)
    _last.kept = (key, parameter)
    return parameter


def _parameter(image: DecodedImage, max_side: int, s3_objects: bool) -> Parameter:
    data = image.data
    fits = image.content_type in SENT_AS_IS and _within(image.width, image.height)
    if fits and s3_objects and image.origin is not None and data is not None and len(data) <= S3_OBJECT_MAX_BYTES:
        return {"S3Object": {"Bucket": image.origin.bucket, "Name": image.origin.name}}
    if fits and data is not None and len(data) <= BYTES_MAX:
        return {"Bytes": data}
    return {"Bytes": reencoded(image, max_side)}


def _within(width: int, height: int) -> bool:
    return min(width, height) >= MIN_SIDE and max(width, height) <= MAX_SIDE


def sent_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size a re-encoded copy is sent at: the longer side at most ``max_side``, the shorter at least 80 pixels;
    DecodeError when no size satisfies both (a strip too thin for its length)."""
    scale = min(1.0, max_side / max(width, height))
    if min(width, height) * scale < MIN_SIDE:
        scale = MIN_SIDE / min(width, height)
    size = (max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale)))
    if max(size) > MAX_SIDE:
        raise DecodeError(
            f"cannot be sent to Amazon Rekognition: {width} x {height} pixels cannot be scaled so that each side is "
            f"at least {MIN_SIDE} and at most {MAX_SIDE} pixels"
        )
    return size


def reencoded(image: DecodedImage, max_side: int) -> bytes:
    """A JPEG of the image within Rekognition's limits: from the file's bytes when kept (full detail up to
    ``max_side``), else from the decoded working copy."""
    size = sent_size(image.width, image.height, max_side)
    picture = image.image
    if image.data is not None and max(picture.size) < max(size):
        limits = DecodeLimits(max_bytes=len(image.data), max_pixels=image.width * image.height + 1, min_side=1,
                              work_size=max(size))  # fmt: skip
        picture = decode(image.data, limits).image
    return fitted_jpeg(picture, size)


def fitted_jpeg(picture: Image.Image, size: tuple[int, int]) -> bytes:
    """``picture`` at ``size`` as a JPEG of at most 5 MB: lower qualities first, then smaller sizes."""
    width, height = size
    while True:
        copy = picture if picture.size == (width, height) else picture.resize((width, height), Image.Resampling.LANCZOS)
        for quality in JPEG_QUALITIES:
            buffer = io.BytesIO()
            copy.convert("RGB").save(buffer, "JPEG", quality=quality, optimize=True)
            if buffer.tell() <= BYTES_MAX:
                return buffer.getvalue()
        width, height = round(width * SHRINK_STEP), round(height * SHRINK_STEP)
        if min(width, height) < MIN_SIDE or max(width, height) < MIN_JPEG_SIDE:
            raise DecodeError(f"cannot be sent to Amazon Rekognition: no JPEG of it fits in {BYTES_MAX} bytes")
