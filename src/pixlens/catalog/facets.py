"""What a record puts into the catalog's facet index ``(entry, confidence, image)``.

Every searchable fact is one entry with a 0-100 value, so every query term is one index range read:

| entry | value | from |
| --- | --- | --- |
| ``<Label>`` (exact name) | confidence; a parent takes its best child's | ``Labels`` and their ``Parents`` |
| ``category:<Name>`` | best confidence of its labels | ``Labels[].Categories`` |
| ``color:<name>`` | percentage of pixels | ``ImageProperties.DominantColors`` (simplified and CSS names) |
| ``moderation:<name>`` | confidence | ``ModerationLabels`` |
| ``faces`` | number of faces (at most 100) | ``FaceDetails`` |
| ``person:<id>`` | best face confidence | the people the faces were assigned to (added by the catalog) |
| ``has:text`` | number of lines (at most 100) | ``TextDetections`` |
| ``has:people`` | number of people boxed (at most 100) | ``Labels`` Person's ``Instances`` |
| ``is:screenshot`` | 100 | a PNG or WebP without camera EXIF, in a screen's shape (``looks_like_screenshot``) |
| ``taken:``, ``place:``, ``size:``... | see ``when_where.py`` | ``Exif``, ``Location``, ``Width``, ``Height`` |

Text is not a facet: it goes to a full-text index. Every catalog indexes a record as ``indexed`` says (a
catalog's own SQL only stores what it is handed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pixlens import when_where
from pixlens.record import ImageRecord, Status

CATEGORY = "category:"
COLOR = "color:"
MODERATION = "moderation:"
FACES = "faces"
PERSON = "person:"
HAS = "has:"
HAS_TEXT = HAS + "text"
HAS_PEOPLE = HAS + "people"
IS = "is:"
SCREENSHOT = IS + "screenshot"
PREFIXES = (CATEGORY, COLOR, MODERATION, PERSON, HAS, IS, *when_where.PREFIXES)
PERSON_LABEL = "Person"

# Screens' shapes (long side / short side): phones (19.5:9, 16:9, 20:9), laptops and monitors (16:10, 16:9, 3:2),
# tablets (4:3). A screenshot is one of these to within a few pixels; photos from cameras are 4:3 or 3:2 too, but
# they are JPEGs or HEIFs with the camera's EXIF.
SCREEN_RATIOS = (19.5 / 9, 16 / 9, 20 / 9, 16 / 10, 3 / 2, 4 / 3, 2.0)
SCREEN_FORMATS = frozenset({"image/png", "image/webp"})
CAMERA_EXIF = ("Make", "Model", "DateTimeOriginal", "GPS")


def facets(record: ImageRecord) -> dict[str, float]:
    entries = dict(record.indexed_labels())
    entries.update({CATEGORY + name: conf for name, conf in record.categories().items()})
    properties = record.ImageProperties or {}
    for color in properties.get("DominantColors", []):
        percent = float(color.get("PixelPercent", 0.0))
        for key in ("SimplifiedColor", "CSSColor"):
            if color.get(key):
                entry = COLOR + str(color[key]).lower()
                entries[entry] = max(entries.get(entry, 0.0), percent)
    for label in record.ModerationLabels:
        entry = MODERATION + str(label["Name"]).lower()
        entries[entry] = max(entries.get(entry, 0.0), float(label["Confidence"]))
    if record.FaceDetails:
        entries[FACES] = float(min(len(record.FaceDetails), 100))
    lines = sum(1 for detection in record.TextDetections if detection.get("Type") == "LINE")
    if lines:
        entries[HAS_TEXT] = float(min(lines, 100))
    entries.update(kind_entries(record.Labels, record.ContentType, record.Exif, record.Width, record.Height))
    entries.update(when_where.entries(record))
    return entries


def kind_entries(
    labels: list[Any], content_type: str | None, exif: dict[str, Any] | None, width: int | None, height: int | None
) -> dict[str, float]:
    """``has:people`` and ``is:screenshot``, from a record's parts (labels as objects or as their JSON)."""
    found: dict[str, float] = {}
    people = max((len(_field(label, "Instances") or []) for label in labels if _field(label, "Name") == PERSON_LABEL),
                 default=0)  # fmt: skip
    if people:
        found[HAS_PEOPLE] = float(min(people, 100))
    if looks_like_screenshot(content_type, exif, width, height):
        found[SCREENSHOT] = 100.0
    return found


def _field(label: Any, name: str) -> Any:
    return label.get(name) if isinstance(label, dict) else getattr(label, name, None)


def looks_like_screenshot(
    content_type: str | None, exif: dict[str, Any] | None, width: int | None, height: int | None
) -> bool:
    """A lossless or WebP image, with no camera in its EXIF, at least 480 px on its short side, in a screen's shape
    (to within 1 %). A heuristic: a PNG product shot of a screen's shape counts too."""
    if content_type not in SCREEN_FORMATS or not width or not height or min(width, height) < 480:
        return False
    if any((exif or {}).get(key) for key in CAMERA_EXIF):
        return False
    ratio = max(width, height) / min(width, height)
    return any(abs(ratio - screen) <= 0.01 * screen for screen in SCREEN_RATIOS)


def position(record: ImageRecord) -> tuple[float, float] | None:
    """Where an image was taken (latitude, longitude), for ``near:``: the catalog keeps it beside the record."""
    return when_where.coordinates(record.Exif)


def backfill(
    exif: dict[str, Any] | None, width: int | None, height: int | None, location: dict[str, str] | None
) -> tuple[dict[str, str] | None, dict[str, float], tuple[float, float] | None]:
    """What a record of a catalog made before ``taken:``/``place:``/``near:`` lacks: its ``Location`` (None when it
    has one or has no GPS), its entries of those kinds, and its position."""
    found = when_where.locate(exif) if location is None else None
    entries = when_where.entries_of(exif, width, height, location or found)
    return found, entries, when_where.coordinates(exif)


def is_label(entry: str) -> bool:
    """Whether an entry is a label name (what ``pixlens labels`` lists), not another kind of facet."""
    return entry != FACES and not entry.startswith(PREFIXES)


def text_of(record: ImageRecord) -> str:
    """The text that the full-text index holds for a record: its lines, one per line."""
    return "\n".join(str(d["DetectedText"]) for d in record.TextDetections if d.get("Type") == "LINE")


def person_entries(person_ids: Sequence[int], confidences: Sequence[float]) -> dict[str, float]:
    """``person:<id>`` entries of an image's faces (placed by ``pixlens.people``): each person's best face."""
    entries: dict[str, float] = {}
    for person_id, confidence in zip(person_ids, confidences, strict=True):
        entry = f"{PERSON}{person_id}"
        entries[entry] = max(entries.get(entry, 0.0), confidence)
    return entries


@dataclass(frozen=True)
class Indexed:
    """What a record puts into a catalog's indexes besides its own row (its faces' ``person:`` entries come once
    the faces are placed)."""

    entries: dict[str, float]
    text: str  # for the full-text index ("": none)
    position: tuple[float, float] | None  # for near:
    phash: str | None  # for duplicates


def indexed(record: ImageRecord) -> Indexed | None:
    """An analysed record's index entries, text, position and hash; None for any other record: a failed (or pending)
    image is found by no label and is near nothing, whatever fields it carries, and keeps no faces."""
    if record.Status is not Status.ANALYZED:
        return None
    return Indexed(facets(record), text_of(record), position(record), record.PerceptualHash)


def analysed_anew(previous_analyzed_at: str | None, exists: bool, record: ImageRecord) -> bool:
    """Whether a record about to be written holds another analysis than the catalog's (saved searches look at each
    analysis once, not at a record written again unchanged, with a new etag only)."""
    return record.Status is Status.ANALYZED and (not exists or previous_analyzed_at != record.AnalyzedAt)
