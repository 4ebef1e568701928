"""What kind of image: ``has:people>=N`` (people the detector boxed) and ``is:screenshot`` (a heuristic), indexed
for new records and for the records of a catalog made before them. Real images through the real pipeline."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from tests.conftest import SAMPLES, make_lens

from pixlens.catalog.facets import looks_like_screenshot
from pixlens.catalog.sqlite import MIGRATIONS, SCHEMA_VERSION
from pixlens.errors import QueryError
from pixlens.service import Pixlens


@pytest.mark.parametrize(
    ("content_type", "exif", "size", "expected"),
    [
        ("image/png", {}, (1170, 2532), True),  # a phone, portrait
        ("image/png", {}, (1920, 1080), True),
        ("image/webp", {}, (2560, 1600), True),
        ("image/png", {}, (1000, 1000), False),  # no screen is square
        ("image/png", {}, (400, 300), False),  # too small for a screen
        ("image/jpeg", {}, (1920, 1080), False),  # screens are captured losslessly (or as WebP)
        ("image/png", {"Make": "Canon"}, (1920, 1080), False),  # a camera took it
        ("image/png", {"DateTimeOriginal": "2020-01-01T10:00:00"}, (1920, 1080), False),
        ("image/png", {}, (1920, 1083), True),  # within 1 %
        ("image/png", {}, (1920, 1200), True),  # 16:10
        ("image/png", {}, (1920, 1300), False),
        (None, {}, (1920, 1080), False),
    ],
)
def test_looks_like_a_screenshot(
    content_type: str | None, exif: dict[str, str], size: tuple[int, int], expected: bool
) -> None:
    assert looks_like_screenshot(content_type, exif, *size) is expected


def write_screens(folder: Path) -> None:
    folder.mkdir(parents=True)
    screen = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, 1280, 40), fill="#334")
    draw.text((20, 60), "Settings  -  Wi-Fi  -  Bluetooth", fill="black")
    screen.save(folder / "screen.png")
    with Image.open(SAMPLES / "000000000785.jpg") as photo:  # people, a JPEG from a camera
        photo.save(folder / "photo.jpg")
        photo.convert("RGB").resize((900, 700)).save(folder / "photo-as-png.png")  # not a screen's shape


@pytest.fixture(scope="module")
def kinds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixlens]:
    home = tmp_path_factory.mktemp("kinds")
    write_screens(home / "images")
    lens = make_lens(home, analyzers=["labels", "properties"])
    lens.ingest([home / "images"])
    yield lens
    lens.close()


def found(lens: Pixlens, query: str) -> set[str]:
    return {hit.key for hit in lens.search(query, limit=100).hits}


def test_is_screenshot(kinds: Pixlens) -> None:
    assert found(kinds, "is:screenshot") == {"screen.png"}
    assert found(kinds, "-is:screenshot") == {"photo.jpg", "photo-as-png.png"}
    with pytest.raises(QueryError, match="is:screenshot"):
        kinds.search("is:screenshots")


def test_has_people_counts_the_boxes(kinds: Pixlens) -> None:
    record = kinds.show("photo.jpg")
    assert record is not None
    people = max(len(label.Instances) for label in record.Labels if label.Name == "Person")
    assert people >= 1
    assert found(kinds, f"has:people>={people}") >= {"photo.jpg"}
    assert "photo.jpg" not in found(kinds, f"has:people>{people}")
    assert "screen.png" not in found(kinds, "has:people")


def test_a_catalog_made_before_gains_both(tmp_path: Path) -> None:
    home = tmp_path / "old"
    write_screens(home / "images")
    lens = make_lens(home, analyzers=["labels", "properties"])
    lens.ingest([home / "images"])
    path = Path(getattr(lens.catalog, "path"))  # noqa: B009 - the port does not say where it keeps its file
    before = {query: found(lens, query) for query in ("is:screenshot", "has:people", "has:people>=2")}
    lens.close()
    assert before["is:screenshot"] and before["has:people"]
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DELETE FROM label_index WHERE label IN ('has:people', 'is:screenshot')")
        conn.execute("DELETE FROM label_counts WHERE label IN ('has:people', 'is:screenshot')")
        conn.execute("DELETE FROM migrations WHERE name = ?", (MIGRATIONS[-1][0],))
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
        conn.commit()
    again = make_lens(home, analyzers=["labels", "properties"])
    try:
        assert {query: found(again, query) for query in before} == before
        assert again.catalog.check() == []
    finally:
        again.close()
