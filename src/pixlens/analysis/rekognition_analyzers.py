"""The analysers of the Rekognition backend (``analysis.backend = "rekognition"``): the same names and record
fields as the bundled ``labels``, ``text``, ``faces``, ``moderation`` and ``properties``, filled by one Rekognition
call per image each.

``prepare`` (in the decode threads) decides how the image travels (:mod:`rekognition_image`: an S3 object, its
bytes, or a re-encoded JPEG; once per image for all of them); ``analyze`` calls Rekognition for each image of the
batch and maps the answer (:mod:`rekognition_map`). An image Rekognition refuses comes back as ``{"Failed":
reason}``: that record fails, the others go on.

Each version names the backend and the API features used (``rekognition:DetectLabels[GENERAL_LABELS]/...``) and
the settings that shape the result, so that a switch of backend, or of a setting, makes reconcile analyse again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pixlens.analysis import rekognition_map as mapping
from pixlens.analysis.base import FAILED
from pixlens.analysis.properties import phash
from pixlens.analysis.rekognition import OPERATIONS, Rekognition, RekognitionError
from pixlens.analysis.rekognition_image import Parameter, image_parameter
from pixlens.config import RekognitionSettings, Settings
from pixlens.imageio import DecodedImage

VERSION = "1"


@dataclass(frozen=True)
class Prepared:
    image: Parameter  # the ``Image`` parameter of the call
    perceptual_hash: str | None = None  # computed here (properties): Rekognition has none


def _version(operation: str, features: Sequence[str], shape: object) -> str:
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:8]
    named = f"{OPERATIONS[operation]}[{','.join(features)}]" if features else OPERATIONS[operation]
    return f"{named}/v{VERSION}/{digest}"


class _RekognitionAnalyzer:
    """What the five share: the client, how an image is prepared, one call per image with refusals as data."""

    name: str
    fields: tuple[str, ...]
    operation: str
    version: str

    def __init__(self, settings: Settings, client: Rekognition | None = None) -> None:
        self.options: RekognitionSettings = settings.rekognition
        self.rekognition = client or Rekognition.shared(self.options)

    def prepare(self, image: DecodedImage) -> Prepared:
        return Prepared(image_parameter(image, self.options.max_side, self.options.s3_objects))

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        # The calls wait on the network: several at once (rekognition.concurrent_calls), results in order.
        if len(prepared) <= 1 or self.options.concurrent_calls == 1:
            return [self._one(item) for item in prepared]
        with ThreadPoolExecutor(min(len(prepared), self.options.concurrent_calls)) as pool:
            return list(pool.map(self._one, prepared))

    def _one(self, item: Prepared) -> dict[str, Any]:
        try:
            response = self.rekognition.call(self.operation, Image=item.image, **self.parameters())
        except RekognitionError as exc:
            return {FAILED: str(exc)}
        return self.fields_of(response, item)

    def parameters(self) -> dict[str, Any]:
        return {}

    def fields_of(self, response: dict[str, Any], item: Prepared) -> dict[str, Any]:
        raise NotImplementedError


class RekognitionLabels(_RekognitionAnalyzer):
    name = "labels"
    fields = ("Labels", "LabelModelVersion")
    operation = "detect_labels"

    def __init__(self, settings: Settings, client: Rekognition | None = None) -> None:
        self.settings = settings.labels
        self.filters = mapping.label_settings(self.settings)  # checked now: a bad filter is a setting's fault
        super().__init__(settings, client)
        # Only what shapes Rekognition's labels (the classifier and the accurate mode are the bundled models').
        shape = self.settings.model_dump(exclude={"classifier", "accurate"})
        self.version = _version(self.operation, ["GENERAL_LABELS"], shape)

    def parameters(self) -> dict[str, Any]:
        # MinConfidence and MaxLabels as set; the filters both sent and applied again here, with the bundled
        # meaning (a parent's name takes its children), so both backends keep the same labels.
        return {
            "MaxLabels": self.settings.max_labels,
            "MinConfidence": self.settings.min_confidence,
            "Features": ["GENERAL_LABELS"],
            **({"Settings": self.filters} if self.filters else {}),
        }

    def fields_of(self, response: dict[str, Any], item: Prepared) -> dict[str, Any]:
        return {
            "Labels": mapping.labels(response, self.settings),
            "LabelModelVersion": mapping.label_model_version(response),
        }


class RekognitionProperties(_RekognitionAnalyzer):
    """``ImageProperties`` from DetectLabels' IMAGE_PROPERTIES feature (its own call: Rekognition prices the feature
    on its own either way); ``PerceptualHash`` computed here, as the bundled analyser does, for near-duplicates."""

    name = "properties"
    fields = ("ImageProperties", "PerceptualHash")
    operation = "detect_labels"

    def __init__(self, settings: Settings, client: Rekognition | None = None) -> None:
        super().__init__(settings, client)
        self.max_colors = settings.properties.max_colors
        self.version = _version(self.operation, ["IMAGE_PROPERTIES"], {"max_colors": self.max_colors})

    def prepare(self, image: DecodedImage) -> Prepared:
        return Prepared(super().prepare(image).image, phash(image.image))

    def parameters(self) -> dict[str, Any]:
        return {
            "Features": ["IMAGE_PROPERTIES"],
            "Settings": {"ImageProperties": {"MaxDominantColors": self.max_colors}},
        }

    def fields_of(self, response: dict[str, Any], item: Prepared) -> dict[str, Any]:
        return {"ImageProperties": mapping.image_properties(response), "PerceptualHash": item.perceptual_hash}


class RekognitionText(_RekognitionAnalyzer):
    name = "text"
    fields = ("TextDetections",)
    operation = "detect_text"

    def __init__(self, settings: Settings, client: Rekognition | None = None) -> None:
        super().__init__(settings, client)
        self.min_confidence = settings.text.min_confidence
        self.version = _version(self.operation, ["WordFilter"], {"min_confidence": self.min_confidence})

    def parameters(self) -> dict[str, Any]:
        return {"Filters": {"WordFilter": {"MinConfidence": self.min_confidence}}}

    def fields_of(self, response: dict[str, Any], item: Prepared) -> dict[str, Any]:
        return {"TextDetections": mapping.text_detections(response, self.min_confidence)}


class RekognitionFaces(_RekognitionAnalyzer):
    """``FaceDetails`` only: Rekognition's DetectFaces gives no face embedding, so no person is formed (people
    need the bundled faces, or a Rekognition face collection, which pixlens does not use)."""

    name = "faces"
    fields = ("FaceDetails", "FaceEmbeddings")
    operation = "detect_faces"

    def __init__(self, settings: Settings, client: Rekognition | None = None) -> None:
        super().__init__(settings, client)
        self.attributes = list(dict.fromkeys(self.options.face_attributes))
        self.min_confidence = settings.faces.min_confidence
        self.version = _version(self.operation, self.attributes, {"min_confidence": self.min_confidence})

    def parameters(self) -> dict[str, Any]:
        return {"Attributes": self.attributes}

    def fields_of(self, response: dict[str, Any], item: Prepared) -> dict[str, Any]:
        return {"FaceDetails": mapping.face_details(response, self.min_confidence)}


class RekognitionModeration(_RekognitionAnalyzer):
    name = "moderation"
    fields = ("ModerationLabels",)
    operation = "detect_moderation_labels"

    def __init__(self, settings: Settings, client: Rekognition | None = None) -> None:
        super().__init__(settings, client)
        self.min_confidence = settings.moderation.min_confidence
        self.version = _version(self.operation, [], {"min_confidence": self.min_confidence})

    def parameters(self) -> dict[str, Any]:
        return {"MinConfidence": self.min_confidence}

    def fields_of(self, response: dict[str, Any], item: Prepared) -> dict[str, Any]:
        return {"ModerationLabels": mapping.moderation_labels(response)}
