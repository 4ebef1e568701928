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

Text is not a facet: it goes to a full-text index.
"""

from __future__ import annotations

import json
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


def kind_migration(conn: Any) -> None:
    """Catalogs made before ``has:people`` and ``is:screenshot``: their entries for every analysed record, from the
    JSON it holds (no image is analysed again)."""
    last = -1
    while True:
        rows = conn.execute(
            """SELECT id, json_extract(record, '$.Labels', '$.ContentType', '$.Exif', '$.Width', '$.Height')
               FROM images WHERE has_analysis = 1 AND id > ? ORDER BY id LIMIT 1000""",
            (last,),
        ).fetchall()
        if not rows:
            return
        for image_id, packed in rows:
            labels, content_type, exif, width, height = json.loads(packed)
            found = kind_entries(
                labels if isinstance(labels, list) else [],
                content_type if isinstance(content_type, str) else None,
                exif if isinstance(exif, dict) else None,
                width if isinstance(width, int) else None,
                height if isinstance(height, int) else None,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO label_index (label, confidence, image_id) VALUES (?, ?, ?)",
                [(entry, value, image_id) for entry, value in found.items()],
            )
            conn.executemany(
                """INSERT INTO label_counts (label, images) VALUES (?, 1)
                   ON CONFLICT(label) DO UPDATE SET images = images + 1""",
                [(entry,) for entry in found],
            )
        last = rows[-1][0]


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
