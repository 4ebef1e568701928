"""Rekognition's responses -> the record's fields, exactly as the bundled analysers fill them (pure functions).

The record already has Rekognition's names and shapes, so most of this is keeping what the bundled analysers
keep, in their order and rounding:

- ``Labels``: name, confidence (2 decimals), ``Instances`` (boxes at or above MinConfidence, best first, 4
  decimals), ``Parents``, ``Aliases`` and ``Categories`` as Rekognition gives them (a label pixlens's taxonomy does
  not know is kept as it is: the catalog indexes it, its parents and categories by name); the label filters with
  the bundled meaning (a label or any of its parents; its categories), MinConfidence, MaxLabels; sorted by
  confidence, then name.
- ``TextDetections``: LINE and WORD detections at or above the text MinConfidence (a word whose line was dropped
  goes too), with their ``Id``/``ParentId`` and ``Geometry``.
- ``FaceDetails``: faces at or above the faces MinConfidence, with what ``Attributes`` asked for.
- ``ModerationLabels``: as given (``Name``, ``Confidence``, ``ParentName``, ``TaxonomyLevel``).
- ``ImageProperties``: ``Quality`` (brightness, sharpness, contrast, 0-100) and ``DominantColors`` (the same keys
  as the bundled colours; the simplified colour names in lower case, as the colour facets are), plus Rekognition's
  ``Foreground`` and ``Background``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pixlens.config import LabelSettings
from pixlens.errors import ConfigError
from pixlens.record import BoundingBox, Instance, Label, NameRef

Response = dict[str, Any]
FILTERS_MAX = 100  # names per DetectLabels filter list (its API reference)
FILTER_NAME_MAX = 50  # characters per name


# -- DetectLabels ---------------------------------------------------------------------------------------------------
def label_settings(labels: LabelSettings) -> dict[str, Any]:
    """DetectLabels' ``Settings.GeneralLabels`` for the label filters (empty when there are none)."""
    filters = {
        "LabelInclusionFilters": labels.include_labels,
        "LabelExclusionFilters": labels.exclude_labels,
        "LabelCategoryInclusionFilters": labels.include_categories,
        "LabelCategoryExclusionFilters": labels.exclude_categories,
    }
    general = {key: list(values) for key, values in filters.items() if values}
    for key, values in general.items():
        too_long = [value for value in values if len(value) > FILTER_NAME_MAX]
        if len(values) > FILTERS_MAX or too_long:
            raise ConfigError(
                f"Rekognition's {key} take at most {FILTERS_MAX} names of at most {FILTER_NAME_MAX} characters"
                + (f" ({too_long[0]!r} is longer)" if too_long else f" ({len(values)} given)")
            )
    return {"GeneralLabels": general} if general else {}


def labels(response: Response, settings: LabelSettings) -> list[Label]:
    found = [
        _label(raw, settings.min_confidence)
        for raw in response.get("Labels", [])
        if float(raw.get("Confidence", 0.0)) >= settings.min_confidence
    ]
    kept = [label for label in found if wanted(label, settings)]
    kept.sort(key=lambda label: (-label.Confidence, label.Name))
    return kept[: settings.max_labels]


def _label(raw: Response, min_confidence: float) -> Label:
    instances = [
        Instance(BoundingBox=_box(instance["BoundingBox"]), Confidence=round(float(instance["Confidence"]), 2))
        for instance in raw.get("Instances", [])
        if "BoundingBox" in instance and float(instance.get("Confidence", 0.0)) >= min_confidence
    ]
    instances.sort(key=lambda instance: -instance.Confidence)
    return Label(
        Name=raw["Name"],
        Confidence=round(float(raw["Confidence"]), 2),
        Instances=instances,
        Parents=_names(raw.get("Parents", [])),
        Aliases=_names(raw.get("Aliases", [])),
        Categories=_names(raw.get("Categories", [])),
    )


def _names(refs: Sequence[Response]) -> list[NameRef]:
    return [NameRef(Name=ref["Name"]) for ref in refs if ref.get("Name")]


def _box(raw: Response) -> BoundingBox:
    return BoundingBox(**{side: round(float(raw.get(side, 0.0)), 4) for side in ("Left", "Top", "Width", "Height")})


def wanted(label: Label, settings: LabelSettings) -> bool:
    """The label filters as the bundled labels apply them: a label name matches the label or any of its parents;
    a category, any of its categories (case-insensitive)."""
    lineage = (label.Name, *(parent.Name for parent in label.Parents))
    return settings.admits(lineage, (category.Name for category in label.Categories))


def label_model_version(response: Response) -> str:
    return f"rekognition-{response.get('LabelModelVersion') or 'unknown'}"


def image_properties(response: Response) -> dict[str, Any] | None:
    """``ImageProperties`` from a DetectLabels response with the IMAGE_PROPERTIES feature (None without it)."""
    raw = response.get("ImageProperties")
    if raw is None:
        return None
    quality = raw.get("Quality", {})
    found: dict[str, Any] = {
        "Quality": {key: round(float(quality.get(key, 0.0)), 2) for key in ("Brightness", "Sharpness", "Contrast")},
        "DominantColors": _colors(raw.get("DominantColors", [])),
    }
    for part in ("Foreground", "Background"):
        if part in raw:
            found[part] = {
                "Quality": {key: round(float(v), 2) for key, v in raw[part].get("Quality", {}).items()},
                "DominantColors": _colors(raw[part].get("DominantColors", [])),
            }
    return found


def _colors(colors: Sequence[Response]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {
            "Red": int(color.get("Red", 0)),
            "Green": int(color.get("Green", 0)),
            "Blue": int(color.get("Blue", 0)),
            "HexCode": str(color.get("HexCode", "")).upper(),
            "CSSColor": str(color.get("CSSColor", "")).lower(),
            "SimplifiedColor": str(color.get("SimplifiedColor", "")).lower(),
            "PixelPercent": round(float(color.get("PixelPercent", 0.0)), 2),
        }
        for color in colors
    ]
    found.sort(key=lambda color: -float(color["PixelPercent"]))
    return found


# -- DetectText, DetectFaces, DetectModerationLabels ----------------------------------------------------------------
def text_detections(response: Response, min_confidence: float) -> list[dict[str, Any]]:
    kept = [d for d in response.get("TextDetections", []) if float(d.get("Confidence", 0.0)) >= min_confidence]
    lines = {d.get("Id") for d in kept if d.get("Type") == "LINE"}
    return [
        _text(d) for d in kept if d.get("Type") == "LINE" or d.get("ParentId") is None or d.get("ParentId") in lines
    ]


def _text(raw: Response) -> dict[str, Any]:
    found: dict[str, Any] = {key: raw[key] for key in ("DetectedText", "Type", "Id", "ParentId") if key in raw}
    found["Confidence"] = round(float(raw.get("Confidence", 0.0)), 2)
    geometry = raw.get("Geometry", {})
    found["Geometry"] = {
        "BoundingBox": _box(geometry.get("BoundingBox", {})).model_dump(),
        "Polygon": [{"X": round(float(p["X"]), 4), "Y": round(float(p["Y"]), 4)} for p in geometry.get("Polygon", [])],
    }
    return found


def face_details(response: Response, min_confidence: float) -> list[dict[str, Any]]:
    found = response.get("FaceDetails", [])
    faces = [dict(face) for face in found if float(face.get("Confidence", 0.0)) >= min_confidence]
    for face in faces:
        if "BoundingBox" in face:
            face["BoundingBox"] = _box(face["BoundingBox"]).model_dump()
    faces.sort(key=lambda face: -float(face.get("Confidence", 0.0)))
    return faces


def moderation_labels(response: Response) -> list[dict[str, Any]]:
    return [
        {
            "Name": raw["Name"],
            "Confidence": round(float(raw.get("Confidence", 0.0)), 2),
            "ParentName": raw.get("ParentName", ""),
            "TaxonomyLevel": int(raw.get("TaxonomyLevel", 1 if not raw.get("ParentName") else 2)),
        }
        for raw in response.get("ModerationLabels", [])
        if raw.get("Name")
    ]
