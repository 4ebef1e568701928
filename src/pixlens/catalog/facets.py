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
| ``taken:``, ``place:``, ``size:``... | see ``when_where.py`` | ``Exif``, ``Location``, ``Width``, ``Height`` |

Text is not a facet: it goes to a full-text index.
"""

from __future__ import annotations

from typing import Any

from pixlens import when_where
from pixlens.record import ImageRecord

CATEGORY = "category:"
COLOR = "color:"
MODERATION = "moderation:"
FACES = "faces"
PERSON = "person:"
HAS = "has:"
HAS_TEXT = HAS + "text"
PREFIXES = (CATEGORY, COLOR, MODERATION, PERSON, HAS, *when_where.PREFIXES)

# Catalogs made before has:text: the entry for every image that has text (the triggers keep the postings right).
HAS_TEXT_MIGRATION = f"""
INSERT INTO label_index (label, confidence, image_id)
    SELECT '{HAS_TEXT}', MIN(100, LENGTH(text) - LENGTH(REPLACE(text, char(10), '')) + 1), rowid FROM text_fts;
INSERT INTO label_counts (label, images)
    SELECT '{HAS_TEXT}', COUNT(*) FROM text_fts WHERE (SELECT COUNT(*) FROM text_fts) > 0;
"""


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
    entries.update(when_where.entries(record))
    return entries


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
