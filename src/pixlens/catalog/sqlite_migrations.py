"""SQLite migrations that rebuild facet entries from the JSON of the records a catalog already holds."""

from __future__ import annotations

import json
from typing import Any

from pixlens.catalog.facets import HAS_TEXT, kind_entries

# Catalogs made before has:text: the entry for every image that has text (the triggers keep the postings right).
HAS_TEXT_MIGRATION = f"""
INSERT INTO label_index (label, confidence, image_id)
    SELECT '{HAS_TEXT}', MIN(100, LENGTH(text) - LENGTH(REPLACE(text, char(10), '')) + 1), rowid FROM text_fts;
INSERT INTO label_counts (label, images)
    SELECT '{HAS_TEXT}', COUNT(*) FROM text_fts WHERE (SELECT COUNT(*) FROM text_fts) > 0;
"""


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
