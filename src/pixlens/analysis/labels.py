"""Labels (Rekognition's DetectLabels) from the classifier and the detector, merged into one list.

- The detector gives COCO classes with boxes: a label with ``Instances``.
- The classifier gives the rich vocabulary (breeds, foods, scenes, objects): a label without boxes. Its
  probabilities are also summed up the taxonomy onto the detector's classes (``Dog`` = the sum of all the dog
  breeds), which finds the dog that the detector missed.
- Each source has its own calibration to 0-100; a label's confidence is the best of its sources.
- Parents, aliases and categories come from the taxonomy; filters, MinConfidence and MaxLabels apply last.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from pixlens.analysis.calibration import FLOOR, Calibration, calibration_digest, load_calibrations
from pixlens.analysis.classifier import Classifier, shared_embedding_key
from pixlens.analysis.detector import INPUT_SIZE, Detection, Detector, letterbox
from pixlens.analysis.taxonomy import Taxonomy
from pixlens.config import LabelSettings, Settings
from pixlens.imageio import DecodedImage
from pixlens.record import BoundingBox, Instance, Label, NameRef

VERSION = "3"  # 3: the int8 classifiers (near-tie classes may swap)
TOP_CLASSES = 20  # classifier classes considered per image; the rest are far below any threshold
Array = np.ndarray[Any, np.dtype[np.float32]]


@dataclass
class View:
    """One detector input: a letterboxed crop of the image and where that crop lies (ratios, maybe mirrored)."""

    tensor: Array
    scale: float
    size: tuple[int, int]  # the crop's size in pixels
    box: tuple[float, float, float, float]  # left, top, width, height of the crop, in image ratios
    mirrored: bool = False


@dataclass
class Prepared:
    classifier_input: Array
    views: list[View]


@dataclass
class RawScores:
    """The models' uncalibrated outputs for one image (what calibration is fitted on)."""

    probabilities: Array  # classifier softmax [1000]
    embedding: Array  # the classifier's global pooling [1280], raw (shared with the embedding analyser)
    detections: list[Detection]  # full-image boxes, after NMS, raw scores
    view_scores: list[dict[int, float]]  # per detector view: COCO class -> best raw score in that view
    second_scores: dict[int, float]  # COCO class -> raw score of its second box in the full image
    # COCO label -> summed classifier probability of the classes at or below it in the taxonomy
    family_scores: dict[str, float] = field(default_factory=dict)

    @property
    def class_scores(self) -> dict[int, float]:
        """COCO class -> image-level raw score: the mean over the views (a single view by default)."""
        classes = {c for view in self.view_scores for c in view}
        return {c: sum(view.get(c, 0.0) for view in self.view_scores) / len(self.view_scores) for c in classes}


class LabelAnalyzer:
    name = "labels"
    fields = ("Labels", "LabelModelVersion")

    def __init__(self, settings: Settings) -> None:
        self.settings: LabelSettings = settings.labels
        threads = settings.threads_per_model()
        self.taxonomy = Taxonomy.load()
        self.classifier = Classifier(self.settings.classifier, threads)
        self.detector = Detector(threads)
        calibrations = load_calibrations()
        mode = f"labels/{self.settings.classifier}" + ("/accurate" if self.settings.accurate else "")
        self.label_calibration = calibrations[mode]
        self.classifier_calibration = calibrations[f"classifier/{self.settings.classifier}"]
        self.box_calibration = calibrations["box/centernet"]
        self._coco = [self.taxonomy.coco_label(i) for i in range(80)]
        self._families = self._coco_families()
        self.model_version = (
            f"{self.settings.classifier}+centernet{'-accurate' if self.settings.accurate else ''}"
            f"/{self.taxonomy.version}/cal-{calibration_digest()}/v{VERSION}"
        )
        # The analyser's version also covers the settings that shape the record, so that reconcile re-analyses
        # images when a user lowers MinConfidence or changes the filters.
        shape = json.dumps(self.settings.model_dump(), sort_keys=True)
        self.version = f"{self.model_version}/{hashlib.sha256(shape.encode()).hexdigest()[:8]}"

    def _coco_families(self) -> dict[str, np.ndarray[Any, np.dtype[np.int64]]]:
        """For each detector label, the classifier classes that are it or lie below it in the taxonomy."""
        members: dict[str, list[int]] = {name: [] for name in self._coco}
        for index in range(1000):
            name = self.taxonomy.imagenet_label(index)
            for ancestor in (name, *self.taxonomy.info(name).parents):
                if ancestor in members:
                    members[ancestor].append(index)
        return {name: np.array(indices, dtype=np.int64) for name, indices in members.items() if indices}

    # -- the Analyzer interface ---------------------------------------------------------------------------------
    def prepare(self, image: DecodedImage) -> Prepared:
        return Prepared(self.classifier.preprocess(image.image), self._views(image.image))

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        shared = shared_embedding_key(self.classifier.variant)
        return [
            {"Labels": self.labels(raw), "LabelModelVersion": self.model_version, "Shared": {shared: raw.embedding}}
            for raw in self.predict(prepared)
        ]

    # -- steps ----
    def _views(self, image: Image.Image) -> list[View]:
        tensor, scale = letterbox(image, INPUT_SIZE)
        views = [View(tensor, scale, image.size, (0.0, 0.0, 1.0, 1.0))]
        if not self.settings.accurate:
            return views
        mirrored, _ = letterbox(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), INPUT_SIZE)
        views.append(View(mirrored, scale, image.size, (0.0, 0.0, 1.0, 1.0), mirrored=True))
        width, height = image.size
        for top in (0.0, 0.5):
            for left in (0.0, 0.5):
                crop = image.crop(
                    (
                        round(left * width),
                        round(top * height),
                        round((left + 0.5) * width),
                        round((top + 0.5) * height),
                    )
                )
                tile, tile_scale = letterbox(crop, INPUT_SIZE)
                views.append(View(tile, tile_scale, crop.size, (left, top, 0.5, 0.5)))
        return views

    def predict(self, prepared: Sequence[Prepared]) -> list[RawScores]:
        probabilities, embeddings = self.classifier.infer(np.stack([p.classifier_input for p in prepared]))
        results = []
        for item, probs, embedding in zip(prepared, probabilities, embeddings, strict=True):
            per_view: list[dict[int, float]] = []
            detections: list[Detection] = []
            for view in item.views:
                found = [_to_image(d, view) for d in self.detector.detect_tensor(view.tensor, view.scale, view.size)]
                best: dict[int, float] = {}
                for detection in found:
                    best[detection.class_index] = max(best.get(detection.class_index, 0.0), detection.score)
                per_view.append(best)
                if view.box == (0.0, 0.0, 1.0, 1.0) and not view.mirrored:
                    detections = found
            ranked: dict[int, list[float]] = {}
            for detection in sorted(detections, key=lambda d: -d.score):
                ranked.setdefault(detection.class_index, []).append(detection.score)
            second = {c: scores[1] for c, scores in ranked.items() if len(scores) > 1}
            families = {name: float(probs[indices].sum()) for name, indices in self._families.items()}
            results.append(RawScores(probs, embedding, detections, per_view, second, families))
        return results

    def labels(self, raw: RawScores) -> list[Label]:
        settings = self.settings
        found: dict[str, tuple[float, list[Instance]]] = {}
        # The detector's classes: one calibration over its best box, its second box and the classifier's family.
        best, second = raw.class_scores, raw.second_scores
        for class_index, name in enumerate(self._coco):
            score = best.get(class_index, 0.0)
            family = raw.family_scores.get(name, 0.0)
            if max(score, family) < FLOOR:
                continue
            confidence = self.label_calibration.confidence(score, second.get(class_index, 0.0), family)
            instances = [
                instance
                for d in raw.detections
                if d.class_index == class_index
                and (instance := _instance(d, self.box_calibration)).Confidence >= settings.min_confidence
            ]
            found[name] = (confidence, instances)
        # The classifier's own vocabulary (breeds, foods, scenes, objects).
        for index in np.argsort(-raw.probabilities)[:TOP_CLASSES]:
            name = self.taxonomy.imagenet_label(int(index))
            if name not in found:
                found[name] = (self.classifier_calibration.confidence(float(raw.probabilities[index])), [])

        labels = [
            self._label(name, confidence, instances)
            for name, (confidence, instances) in found.items()
            if confidence >= settings.min_confidence and self._wanted(name)
        ]
        labels.sort(key=lambda label: (-label.Confidence, label.Name))
        return labels[: settings.max_labels]

    def _label(self, name: str, confidence: float, instances: list[Instance]) -> Label:
        info = self.taxonomy.info(name)
        instances.sort(key=lambda instance: -instance.Confidence)
        return Label(
            Name=name,
            Confidence=round(confidence, 2),
            Instances=instances,
            Parents=[NameRef(Name=parent) for parent in info.parents],
            Aliases=[NameRef(Name=alias) for alias in info.aliases],
            Categories=[NameRef(Name=category) for category in info.categories],
        )

    def _wanted(self, name: str) -> bool:
        info = self.taxonomy.info(name)
        return self.settings.admits((name, *info.parents), info.categories)


def _to_image(detection: Detection, view: View) -> Detection:
    """A detection in a view's coordinates -> the same box in the whole image's ratios."""
    left = 1.0 - detection.left - detection.width if view.mirrored else detection.left
    x, y, w, h = view.box
    return Detection(
        x + left * w,
        y + detection.top * h,
        detection.width * w,
        detection.height * h,
        detection.score,
        detection.class_index,
    )


def _instance(detection: Detection, calibration: Calibration) -> Instance:
    return Instance(
        BoundingBox=BoundingBox(
            Left=round(detection.left, 4),
            Top=round(detection.top, 4),
            Width=round(detection.width, 4),
            Height=round(detection.height, 4),
        ),
        Confidence=round(calibration.confidence(detection.score), 2),
    )
