"""Faces (Rekognition's DetectFaces): MTCNN finds them, faceres describes them.

Per image the analyser sets

- ``FaceDetails``: one entry per face, most confident first::

      {"BoundingBox": {"Left", "Top", "Width", "Height"},  # ratios of the image
       "Confidence": 0-100,                                   # O-Net's face probability x 100
       "Landmarks": [{"Type": "eyeLeft" | "eyeRight" | "nose" | "mouthLeft" | "mouthRight", "X", "Y"}],
       "AgeRange": {"Low", "High"},                           # years
       "Gender": {"Value": "Male" | "Female", "Confidence": 50-100}}

  ``eyeLeft`` is the eye on the image's left (as Rekognition reports it). Faces below
  ``settings.faces.min_confidence`` are dropped.
- ``FaceEmbeddings``: per face (aligned with ``FaceDetails``) the 1024-float identity embedding of faceres,
  L2-normalised, for :mod:`pixlens.people` (cosine = dot product).
- ``Skipped["faces.description"] = "no faces found"`` when there is no face to describe.

faceres runs twice per face, in one batch: on the alignment MODELS.md gives (the ArcFace template scaled to 224
and shrunk by a margin of 0.25) for the identity embedding (``global_pooling/Mean``, the setting its same/different
person check was made with), and on a tighter crop (the template scaled to 224 without margin) for age and
gender, which that crop predicts much better: gender on astronaut.png (a woman) was P(male) 0.36 with the
margin, flipping to 0.55 when the photo was brightened, and 0.14-0.30 without it.

- Age: ``age_pred/Softmax`` over 0-99 years; ``AgeRange`` is the middle half of that distribution (its 25th
  to 75th percentile), about 10-15 years wide; the expected ages looked right (astronaut.png: 35, Eileen Collins
  was 36 then; the men of camera.png and the COCO photos 27-42).
- Gender: ``gender_pred/Sigmoid`` is the probability of *male* (astronaut.png 0.14, the men of camera.png and
  the COCO photos 0.79-0.94); ``Value`` is the likelier one and ``Confidence`` ``max(p, 1 - p) x 100``. It is
  weak on small or hidden faces (a woman in sunglasses and a cap: 0.56, i.e. "Male" at 56), so read a
  Confidence below about 70 as "unsure".

The cascade (``settings.cascade``): no face search where the labels hold no person; where the labels' detector
boxed the people, the search (P-Net's pyramid, the bulk of the work) runs only around those boxes, grown by
``PERSON_MARGIN`` (recorded as ``Skipped["faces.detection"]``; same faces on the 30 samples; its price: a face
whose person the detector did not box is not found); faces are described only when found; MTCNN's later
stages run only on P-Net's (then R-Net's) candidates, and R-Net only on P-Net cells of probability 0.7 or more
(MTCNN's own 0.6 without the cascade; same faces and confidences on the 30 samples, a third fewer R-Net crops). With
``cascade=False`` the face search runs on every whole image and R-Net on every P-Net cell MTCNN admits; no model
ever runs on an empty set of boxes or faces, in either mode (that is MTCNN's algorithm, not a cascade step).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from pixlens.analysis.mtcnn import Face, Mtcnn
from pixlens.analysis.rects import Rect, merge_overlapping, share
from pixlens.analysis.runtime import OnnxModel, model_path
from pixlens.config import FaceSettings, Settings
from pixlens.imageio import DecodedImage
from pixlens.record import ImageRecord

VERSION = "2"  # 2: the face search only around the labelled people (with the cascade)
Array = np.ndarray[Any, np.dtype[np.float32]]

LANDMARKS = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")
# ArcFace's 112-pixel template, scaled to faceres's 224 pixels and shrunk around the centre by a margin of 0.25.
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
SIZE = 224
MARGIN = 0.25
TEMPLATE = (ARCFACE_112 * 2 - SIZE / 2) * (1 - MARGIN) + SIZE / 2  # identity embedding
TIGHT_TEMPLATE = ARCFACE_112 * 2  # age and gender
# The face search around a person box: this share of its longer side on every side (the detector's box may cut
# the top of the head), at least PERSON_MARGIN_PX pixels; regions covering more than WHOLE_IMAGE_SHARE of the
# image are searched as one whole image (one pyramid is cheaper than several overlapping ones).
PERSON_MARGIN, PERSON_MARGIN_PX, WHOLE_IMAGE_SHARE = 0.15, 16, 0.6


@dataclass
class Description:
    """faceres's reading of one face."""

    embedding: list[float]  # 1024 floats, unit length
    age: float  # expected age
    age_range: tuple[int, int]  # the middle half of the age distribution
    male: float  # P(male)


@dataclass
class Prepared:
    image: Image.Image
    regions: list[Rect] | None = None  # where to search for faces, in pixels (None: the whole image)


def similarity(source: np.ndarray[Any, Any], target: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The similarity transform (scale, rotation, shift) that maps ``source`` points nearest onto ``target``.

    Returns the 2 x 3 matrix ``[[a, -b, tx], [b, a, ty]]`` (least squares over the point pairs).
    """
    x, y = source[:, 0], source[:, 1]
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    design = np.concatenate([np.stack([x, -y, ones, zeros], 1), np.stack([y, x, zeros, ones], 1)])
    goal = np.concatenate([target[:, 0], target[:, 1]])
    (a, b, tx, ty), *_ = np.linalg.lstsq(design, goal, rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]])


def align(
    image: Image.Image, landmarks: np.ndarray[Any, Any], template: np.ndarray[Any, Any] = TEMPLATE
) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The face warped so that its 5 landmarks sit on the template: uint8 [224, 224, 3]."""
    # Image.transform wants the output -> input mapping: fit the template onto the landmarks.
    matrix = similarity(template, np.asarray(landmarks, dtype=np.float64))
    warped = image.transform(
        (SIZE, SIZE), Image.Transform.AFFINE, tuple(matrix.ravel().tolist()), Image.Resampling.BILINEAR
    )
    return np.asarray(warped, dtype=np.uint8)


class FaceAnalyzer:
    name = "faces"
    fields = ("FaceDetails", "FaceEmbeddings")
    after = ("labels",)  # the person gate and focus read the labels

    def __init__(self, settings: Settings) -> None:
        self.settings: FaceSettings = settings.faces
        self.cascade = settings.cascade
        threads = settings.threads_per_model()
        self.detector = Mtcnn(threads, self.settings.min_size)
        self.describer = OnnxModel(model_path("faceres.onnx"), threads)
        shape = json.dumps(
            {
                "min_confidence": self.settings.min_confidence,
                "min_size": self.settings.min_size,
                "cascade": self.cascade,  # its P-Net gate may change which faces are found
            },
            sort_keys=True,
        )
        self.version = f"mtcnn+faceres/v{VERSION}/{hashlib.sha256(shape.encode()).hexdigest()[:8]}"

    # -- the Analyzer interface ---------------------------------------------------------------------------------
    def skip_reason(self, record: ImageRecord) -> str | None:
        """The cascade's first gate: no face search in an image whose labels (when known) hold no person."""
        if not self.cascade or "labels" not in record.AnalyzerVersions:
            return None
        for label in record.Labels:
            if label.Name == "Person" or any(parent.Name == "Person" for parent in label.Parents):
                return None
        return "no person among the labels"

    def focus(self, record: ImageRecord, prepared: Prepared, shared: Mapping[str, Any] | None = None) -> Prepared:
        """The cascade's second gate: the face search only around the people that the labels' detector boxed.

        A Person label without boxes (the classifier's alone) leaves the whole image to search."""
        if not self.cascade or "labels" not in record.AnalyzerVersions:
            return prepared
        boxes = [
            instance.BoundingBox for label in record.Labels if label.Name == "Person" for instance in label.Instances
        ]
        if not boxes:
            return prepared
        width, height = prepared.image.size
        regions = merge_overlapping([_around(box, width, height) for box in boxes])
        if share(regions, (height, width)) > WHOLE_IMAGE_SHARE:
            return prepared
        return replace(prepared, regions=regions)

    def prepare(self, image: DecodedImage) -> Prepared:
        # The P-Net pyramid is built in analyze: only for the images and regions the cascade leaves.
        return Prepared(image.image)

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        items: list[Prepared] = list(prepared)
        found = self.detect(items)
        pairs = list(zip(items, found, strict=True))
        wanted = [(item.image, face.landmarks) for item, faces in pairs for face in faces]
        described = iter(self.describe(wanted))
        results: list[dict[str, Any]] = []
        for item, faces in pairs:
            descriptions = [next(described) for _ in faces]
            size = item.image.size
            result: dict[str, Any] = {
                "FaceDetails": [_detail(face, size, d) for face, d in zip(faces, descriptions, strict=True)],
                "FaceEmbeddings": [d.embedding for d in descriptions],
            }
            skipped = {}
            if item.regions is not None:
                covered = share(item.regions, (size[1], size[0]))
                note = f"face search only around {len(item.regions)} person box(es), {covered:.0%} of the image"
                skipped["faces.detection"] = note
            if not faces:
                skipped["faces.description"] = "no faces found"
            if skipped:
                result["Skipped"] = skipped
            results.append(result)
        return results

    # -- steps ----------------------------------------------------------------------------------------------------
    def detect(self, items: Sequence[Prepared]) -> list[list[Face]]:
        """Faces per image (in its regions, if any) at or above ``min_confidence``, most confident first."""
        floor = self.settings.min_confidence / 100.0
        owners: list[tuple[int, int, int]] = []  # per searched pyramid: its image's index, the region's left, top
        pyramids = []
        for index, item in enumerate(items):
            if item.regions is None:
                pyramids.append(self.detector.prepare(item.image))
                owners.append((index, 0, 0))
                continue
            for region in item.regions:
                pyramids.append(self.detector.prepare(item.image.crop(region)))
                owners.append((index, region[0], region[1]))
        found: list[list[Face]] = [[] for _ in items]
        searched = self.detector.detect(pyramids, gate=self.cascade)
        for (index, left, top), faces in zip(owners, searched, strict=True):
            found[index] += [_shifted(face, left, top) for face in faces if face.probability >= floor]
        for faces in found:
            faces.sort(key=lambda face: -face.probability)
        return found

    def describe(self, faces: Sequence[tuple[Image.Image, np.ndarray[Any, Any]]]) -> list[Description]:
        """faceres on faces given as (image, landmarks [5, 2]), in one batch."""
        if not faces:
            return []
        crops = [align(image, landmarks, TEMPLATE) for image, landmarks in faces]
        crops += [align(image, landmarks, TIGHT_TEMPLATE) for image, landmarks in faces]
        male, embedding, age = self.describer.run(
            np.stack(crops).astype(np.float32),
            ["gender_pred/Sigmoid:0", "global_pooling/Mean", "age_pred/Softmax:0"],
        )
        count = len(faces)
        embedding = embedding[:count]
        embedding = embedding / np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-12)
        probabilities = age[count:] / age[count:].sum(axis=1, keepdims=True)
        cumulative = np.cumsum(probabilities, axis=1)
        low = (cumulative < 0.25).sum(axis=1)
        high = (cumulative < 0.75).sum(axis=1)
        expected = probabilities @ np.arange(probabilities.shape[1], dtype=np.float64)
        return [
            Description(
                embedding[i].astype(float).tolist(),
                float(expected[i]),
                (int(low[i]), max(int(high[i]), int(low[i]) + 1)),
                float(male[count + i, 0]),
            )
            for i in range(count)
        ]


def _detail(face: Face, size: tuple[int, int], description: Description) -> dict[str, Any]:
    width, height = size
    x1, y1, x2, y2 = face.box
    male = description.male
    return {
        "BoundingBox": {
            "Left": _ratio(x1 / width),
            "Top": _ratio(y1 / height),
            "Width": _ratio((x2 - x1) / width),
            "Height": _ratio((y2 - y1) / height),
        },
        "Confidence": round(face.probability * 100, 3),
        "Landmarks": [
            {"Type": kind, "X": _ratio(float(x) / width), "Y": _ratio(float(y) / height)}
            for kind, (x, y) in zip(LANDMARKS, face.landmarks, strict=True)
        ],
        "AgeRange": {"Low": description.age_range[0], "High": description.age_range[1]},
        "Gender": {"Value": "Male" if male >= 0.5 else "Female", "Confidence": round(max(male, 1.0 - male) * 100, 2)},
    }


def _around(box: Any, width: int, height: int) -> Rect:
    """A person's box (ratios) grown by the margin, in pixels, inside the image."""
    margin = max(PERSON_MARGIN * max(box.Width * width, box.Height * height), PERSON_MARGIN_PX)
    return (
        max(int(box.Left * width - margin), 0),
        max(int(box.Top * height - margin), 0),
        min(int((box.Left + box.Width) * width + margin) + 1, width),
        min(int((box.Top + box.Height) * height + margin) + 1, height),
    )


def _shifted(face: Face, left: int, top: int) -> Face:
    """A face found in a region, in the whole image's pixels."""
    if not left and not top:
        return face
    x1, y1, x2, y2 = face.box
    return Face((x1 + left, y1 + top, x2 + left, y2 + top), face.probability, face.landmarks + np.array([left, top]))


def _ratio(value: float) -> float:
    return round(min(max(float(value), 0.0), 1.0), 4)
