"""When, where, which camera: sample photos saved with real EXIF (dates, cameras, GPS), ingested by the real pipeline
(with the real labels model), then searched with taken:, make:, model:, camera:, place:, region:, country:, near:,
width/height and orientation:."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLES, make_lens
from pixlens import shapes
from pixlens.analysis import places
from pixlens.catalog.sqlite import MIGRATIONS, SCHEMA_VERSION
from pixlens.errors import QueryError
from pixlens.geo import KM_PER_DEGREE, Circle, distance_km
from pixlens.service import Pixlens
from pixlens.when_where import PREFIXES, cover, fold

GIRAFFE, BUS, BEAR, CAT = "000000000072.jpg", "000000423617.jpg", "000000000285.jpg", "chelsea.png"
CENTRE = (30.0, -40.0)  # for the edges of near: the open Atlantic, far from any other photo


def dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = math.floor(value)
    minutes = math.floor((value - degrees) * 60)
    return float(degrees), float(minutes), (value - degrees - minutes / 60) * 3600


def exif_of(
    taken: str | None = None, make: str | None = None, model: str | None = None, gps: tuple[float, float] | None = None
) -> Image.Exif:
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken
    if gps:
        lat, lon = gps
        exif.get_ifd(0x8825).update(
            {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)}
        )
    return exif


def north_of(centre: tuple[float, float], km: float) -> tuple[float, float]:
    return centre[0] + km / KM_PER_DEGREE, centre[1]


# name -> (sample, size or None, EXIF)
PHOTOS: dict[str, tuple[str, tuple[int, int] | None, Image.Exif]] = {
    "paris.jpg": (
        GIRAFFE,
        None,
        exif_of("2019:06:15 10:00:00", "Canon", "Canon EOS 5D Mark IV", (48.8530, 2.3499)),
    ),
    "zurich.jpg": (BUS, None, exif_of("2020:12:31 23:59:59", "NIKON CORPORATION", "NIKON D750", (47.3769, 8.5417))),
    "sydney.jpg": (BEAR, (300, 450), exif_of("2021:01:01 00:00:00", "Apple", "iPhone 12 Pro", (-33.8568, 151.2153))),
    "ocean.jpg": (CAT, (400, 400), exif_of("2019:02:28 12:00:00", "Apple", "iPhone 8", (0.0, -30.0))),
    "plain.jpg": (GIRAFFE, (500, 300), Image.Exif()),
    "inside.jpg": (BUS, (320, 240), exif_of(gps=north_of(CENTRE, 4.99))),
    "outside.jpg": (BUS, (320, 241), exif_of(gps=north_of(CENTRE, 5.01))),
    "fiji-east.jpg": (BEAR, (330, 240), exif_of(gps=(-16.5, 179.99))),
    "fiji-west.jpg": (BEAR, (340, 240), exif_of(gps=(-16.5, -179.99))),
}
EXIF_PHOTOS = {"paris.jpg", "zurich.jpg", "sydney.jpg", "ocean.jpg"}


def write_photos(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name, (sample, size, exif) in PHOTOS.items():
        image = Image.open(SAMPLES / sample).convert("RGB")
        if size is not None:
            image = image.resize(size)
        image.save(folder / name, "JPEG", quality=90, exif=exif)


@pytest.fixture(scope="module")
def trips(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixlens]:
    home = tmp_path_factory.mktemp("trips")
    write_photos(home / "images")
    lens = make_lens(home, analyzers=["labels"])
    report = lens.ingest([home / "images"])
    assert len(report.results) == len(PHOTOS)
    yield lens
    lens.close()


def found(lens: Pixlens, query: str) -> set[str]:
    return {hit.key for hit in lens.search(query, limit=100).hits}


# --- the record ---------------------------------------------------------------------------------------------


def test_the_record_gains_its_location(trips: Pixlens) -> None:
    paris = trips.show("paris.jpg")
    assert paris is not None
    assert paris.Location == {"City": "Paris", "Region": "Ile-de-France", "Country": "France", "CountryCode": "FR"}
    zurich = trips.show("zurich.jpg")
    assert zurich is not None and zurich.Location is not None
    assert (zurich.Location["City"], zurich.Location["CountryCode"]) == ("Zürich", "CH")
    sydney = trips.show("sydney.jpg")  # the Opera House: Sydney, not the suburb across the harbour
    assert sydney is not None and sydney.Location is not None and sydney.Location["City"] == "Sydney"
    ocean, plain = trips.show("ocean.jpg"), trips.show("plain.jpg")
    assert ocean is not None and ocean.Exif["GPS"] and ocean.Location is None  # the open sea: no place
    assert plain is not None and plain.Location is None and plain.Exif == {}


def test_new_entries_are_not_labels(trips: Pixlens) -> None:
    names = trips.catalog.label_names()
    assert names and not any(name.startswith(PREFIXES) for name in names)
    assert not any(name.startswith(PREFIXES) for name, _ in trips.catalog.labels())
    assert "place:paris" in trips.catalog.entries("place:")


# --- taken: -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("taken:2019", {"paris.jpg", "ocean.jpg"}),
        ("taken:2019-06", {"paris.jpg"}),
        ("taken:2019-06-15", {"paris.jpg"}),
        ("taken:2019-06-14", set()),
        ("taken:2018", set()),
        ("taken:2019..2020", {"paris.jpg", "ocean.jpg", "zurich.jpg"}),
        ("taken:2019-03..2020-12-30", {"paris.jpg"}),
        ("taken:2019-02-28..2020-12-31", {"paris.jpg", "ocean.jpg", "zurich.jpg"}),
        ("taken:2020..", {"zurich.jpg", "sydney.jpg"}),
        ("taken:..2019-02", {"ocean.jpg"}),
        ("taken>2020-12-30", {"zurich.jpg", "sydney.jpg"}),
        ("taken>2020-12-31", {"sydney.jpg"}),  # the whole day 31 December is "before" 2021
        ("taken>=2020-12-31", {"zurich.jpg", "sydney.jpg"}),
        ("taken<2019-06-15", {"ocean.jpg"}),
        ("taken<=2019-06-15", {"ocean.jpg", "paris.jpg"}),
        ("taken<2019", set()),
        ("taken>2021", set()),
        ("taken>2019", {"zurich.jpg", "sydney.jpg"}),
        ("taken:1900..2100", EXIF_PHOTOS),
        ("taken:2019 OR taken:2021", {"paris.jpg", "ocean.jpg", "sydney.jpg"}),
        ("taken:2019 -taken:2019-06", {"ocean.jpg"}),
    ],
)
def test_taken(trips: Pixlens, query: str, expected: set[str]) -> None:
    assert found(trips, query) == expected


def test_a_date_in_no_photo_is_not_an_unknown_word(trips: Pixlens) -> None:
    result = trips.search("taken:1850..1860")
    assert result.total == 0 and result.unknown == {}


def test_cover_is_a_handful_of_entries() -> None:
    from datetime import date

    assert cover(date(2019, 11, 20), date(2021, 2, 28)) == [
        *(f"taken:2019-11-{day}" for day in range(20, 31)),
        "taken:2019-12",
        "taken:2020",
        "taken:2021-01",
        "taken:2021-02",
    ]
    assert cover(date(2019, 1, 1), date(2019, 12, 31)) == ["taken:2019"]
    assert cover(date(9999, 12, 30), date.max) == ["taken:9999-12-30", "taken:9999-12-31"]


# --- camera ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("make:canon", {"paris.jpg"}),
        ("make:nikon", {"zurich.jpg"}),  # a word of "NIKON CORPORATION"
        ("make:Apple", {"sydney.jpg", "ocean.jpg"}),
        ('model:"iphone 12"', {"sydney.jpg"}),
        ("model:iphone", {"sydney.jpg", "ocean.jpg"}),
        ("model:d750", {"zurich.jpg"}),
        ("model:apple", set()),  # the make is not the model
        ("camera:canon", {"paris.jpg"}),
        ("camera:iphone", {"sydney.jpg", "ocean.jpg"}),
        ("camera:nikon OR camera:canon", {"paris.jpg", "zurich.jpg"}),
    ],
)
def test_camera(trips: Pixlens, query: str, expected: set[str]) -> None:
    assert found(trips, query) == expected


def test_an_unknown_camera_is_said_to_be_unknown(trips: Pixlens) -> None:
    assert trips.search("camera:leica").unknown == {"leica": []}


# --- places ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("place:paris", {"paris.jpg"}),
        ("place:PARIS", {"paris.jpg"}),
        ("place:zurich", {"zurich.jpg"}),
        ("place:zürich", {"zurich.jpg"}),  # accents folded
        ("place:sydney", {"sydney.jpg"}),
        ("place:france", {"paris.jpg"}),  # a place is a city, a region or a country
        ('place:"new south wales"', {"sydney.jpg"}),
        ('region:"île-de-france"', {"paris.jpg"}),
        ("region:zurich", {"zurich.jpg"}),
        ("country:france", {"paris.jpg"}),
        ("country:fr", {"paris.jpg"}),
        ("country:FRA", {"paris.jpg"}),
        ("country:switzerland", {"zurich.jpg"}),
        ("country:australia", {"sydney.jpg"}),
        ('country:"french republic"', {"paris.jpg"}),
        ("country:japan", set()),
        ("country:fr OR country:ch", {"paris.jpg", "zurich.jpg"}),
        ("giraffe place:paris", {"paris.jpg"}),  # with the labels
    ],
)
def test_places(trips: Pixlens, query: str, expected: set[str]) -> None:
    assert found(trips, query) == expected


def test_places_with_labels(trips: Pixlens) -> None:
    giraffes = found(trips, "giraffe")
    assert "paris.jpg" in giraffes
    assert found(trips, "giraffe -place:paris") == giraffes - {"paris.jpg"}


def test_a_place_of_no_photo_is_reported(trips: Pixlens) -> None:
    assert found(trips, "place:atlantis") == set()
    assert "atlantis" in trips.search("place:atlantis").unknown


# --- near: -----------------------------------------------------------------------------------------------------


def test_near_finds_by_great_circle_distance(trips: Pixlens) -> None:
    assert found(trips, "near:48.8566,2.3522,10km") == {"paris.jpg"}  # Notre-Dame, 434 m away
    assert found(trips, "near:48.8566,2.3522,400m") == set()
    assert found(trips, "near:48.8566,2.3522,0.5km") == {"paris.jpg"}
    assert found(trips, "near:30,-40,5km") == {"inside.jpg"}  # 4.99 km in, 5.01 km out
    assert found(trips, "near:30,-40,5.02km") == {"inside.jpg", "outside.jpg"}
    assert found(trips, "near:-33.86,151.2,2mi") == {"sydney.jpg"}
    assert found(trips, "near:0,0,20000km") == set(PHOTOS) - {"plain.jpg"}
    assert found(trips, "near:30,-40,5km OR place:sydney") == {"inside.jpg", "sydney.jpg"}


def test_near_ranks_the_nearest_first(trips: Pixlens) -> None:
    ranked = [hit.key for hit in trips.search("near:30,-40,10km OR place:paris").hits]
    assert ranked == ["inside.jpg", "outside.jpg", "paris.jpg"] or ranked[:2] == ["paris.jpg", "inside.jpg"]
    ranked = [hit.key for hit in trips.search("near:30,-40,10km").hits]
    assert ranked == ["inside.jpg", "outside.jpg"]  # 4.99 km, then 5.01 km


def test_near_is_exact_at_the_edge(trips: Pixlens) -> None:
    """The radius is compared with the exact distance of the image's stored position: a point at exactly the
    radius is in, a hair less leaves it out."""
    record = trips.show("inside.jpg")
    assert record is not None
    gps = record.Exif["GPS"]
    edge = float(distance_km(CENTRE[0], CENTRE[1], gps["Latitude"], gps["Longitude"]))
    assert 4.98 < edge < 5.0
    at, below = f"{edge!r}km", f"{edge - 1e-9!r}km"
    assert found(trips, f"near:30,-40,{at}") == {"inside.jpg"}
    assert found(trips, f"near:30,-40,{below}") == set()
    assert found(trips, f"near:30,-40,{edge * 1000 + 0.5!r}m") == {"inside.jpg"}


def test_near_across_the_180th_meridian(trips: Pixlens) -> None:
    assert found(trips, "near:-16.5,180,5km") == {"fiji-east.jpg", "fiji-west.jpg"}
    assert found(trips, "near:-16.5,-179.995,1km") == {"fiji-west.jpg"}
    assert found(trips, "near:-16.5,179.995,1.1km") == {"fiji-east.jpg"}


def test_circle_boxes() -> None:
    assert len(Circle(-16.5, 179.99, 5).boxes()) == 2
    ((south, north, west, east),) = Circle(89.99, 0, 5).boxes()  # the pole is inside: every longitude
    assert (north, west, east) == (90.0, -180.0, 180.0) and south == pytest.approx(89.99 - 5 / KM_PER_DEGREE, abs=1e-5)
    ((_, north, _, east),) = Circle(60, 10, 111.195).boxes()
    assert north - 60 == pytest.approx(1, abs=1e-5) and east - 10 > 2  # a degree of longitude is half as long at 60°


# --- size ----------------------------------------------------------------------------------------------------


def test_width_height_and_orientation(trips: Pixlens) -> None:
    assert found(trips, "orientation:portrait") == {"sydney.jpg", "paris.jpg"}  # the giraffe stands 427 x 640
    assert found(trips, "orientation:square") == {"ocean.jpg"}
    landscape = {"zurich.jpg", "plain.jpg", "inside.jpg", "outside.jpg", "fiji-east.jpg", "fiji-west.jpg"}
    assert found(trips, "orientation:landscape") == landscape
    assert found(trips, "width>=500 width<=500") == {"plain.jpg"}
    assert found(trips, "width:500") == {"plain.jpg"}
    assert found(trips, "height>240 height<=241") == {"outside.jpg"}
    assert found(trips, "width < 330") == {"sydney.jpg", "inside.jpg", "outside.jpg"}
    assert found(trips, "width>330 width<=340") == {"fiji-west.jpg"}


# --- no EXIF, bad queries, the CLI ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "taken:1900..2100",
        "taken>1900",
        "camera:apple OR camera:canon OR camera:nikon",
        "place:paris OR country:ch OR country:au",
        "near:0,0,20000km",
    ],
)
def test_a_photo_without_exif_never_matches(trips: Pixlens, query: str) -> None:
    hits = found(trips, query)
    assert hits and "plain.jpg" not in hits


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("taken:2019-13", 11, "month must be 01 to 12"),
        ("dog taken:2019-02-29", 18, "February 2019 has days 01 to 28"),
        ("taken:2021..2019", 12, "impossible range"),
        ("taken:20190", 6, "not a date"),
        ("taken>2019..2020", 10, "one date, not a range"),
        ("taken>", 6, "missing value"),
        ("taken:2019>=50", 10, "takes no threshold"),
        ("near:95,2.35,5km", 5, "latitude must be between -90 and 90"),
        ("near:48.85,-181,5km", 11, "longitude must be between -180 and 180"),
        ("near:48.85,2.35", 5, "latitude,longitude,radius"),
        ("near:48.85,2.35,5", 17, "radius needs a unit"),
        ("near:48.85,2.35,5 km", 17, "radius needs a unit"),
        ("near:48.85,2.35,-5km", 16, "radius must be a number with a unit"),
        ("near:48.85,2.35,5furlongs", 17, "unknown unit"),
        ("near:abc,2.35,5km", 5, "latitude must be a number"),
        ("width>wide", 6, "number of pixels"),
        ("width>1000>5", 10, "one comparison"),
        ("orientation:round", 12, "unknown orientation"),
    ],
)
def test_malformed_values_are_query_errors_with_their_position(
    trips: Pixlens, query: str, position: int, message: str
) -> None:
    with pytest.raises(QueryError, match=message) as caught:
        trips.search(query)
    assert caught.value.position == position
    assert caught.value.query == query


# --- the gazetteer --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "city", "code"),
    [
        ((48.8566, 2.3522), "Paris", "FR"),
        ((47.3769, 8.5417), "Zürich", "CH"),
        ((48.8584, 2.2945), "Paris", "FR"),  # the Eiffel tower: nearer the centre of Neuilly than Paris's
        ((52.52, 13.405), "Berlin", "DE"),  # not the district Mitte
        ((-33.8688, 151.2093), "Sydney", "AU"),
        ((40.7128, -74.006), "New York City", "US"),
    ],
)
def test_the_gazetteer_names_cities(where: tuple[float, float], city: str, code: str) -> None:
    found = places.location(*where)
    assert found is not None and (found["City"], found["CountryCode"]) == (city, code)


def test_far_from_any_city_only_the_region_or_nothing() -> None:
    remote = places.location(-16.5, -179.99)  # over 50 km from any place: too far for a city, near enough for a country
    assert remote is not None and "City" not in remote and remote["CountryCode"] == "FJ"
    assert places.location(0.0, -30.0) is None
    assert places.location(89.9, 0.0) is None


def test_the_grid_reads_every_place_in_reach() -> None:
    """The cells read hold every place that measuring them all would find within the distance."""
    gazetteer = places.gazetteer()
    for lat, lon in [(46.2, 6.15), (35.0, 139.0), (-16.5, 179.99), (64.1, -21.9), (-54.8, -68.3), (78.2, 15.6)]:
        distances = distance_km(lat, lon, gazetteer.latitudes, gazetteer.longitudes)
        within = set(np.flatnonzero(distances <= places.REGION_WITHIN_KM).tolist())
        assert within <= set(gazetteer._candidates(lat, lon, places.REGION_WITHIN_KM).tolist())
        nearest = gazetteer.nearest(lat, lon)
        assert (nearest is None) == (not within)


def test_fold() -> None:
    assert fold("Zürich") == fold("ZURICH") == "zurich"
    assert fold("Île-de-France") == "ile de france"


# --- catalogs made before -------------------------------------------------------------------------------------


def downgrade(path: Path) -> None:
    """Make a catalog what the previous schema (12 migrations) left: no entries of the new kinds, no positions, no
    Location in the records."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "DELETE FROM label_index WHERE " + " OR ".join("label LIKE ?" for _ in PREFIXES),
            [p + "%" for p in PREFIXES],
        )
        conn.execute(
            "DELETE FROM label_counts WHERE " + " OR ".join("label LIKE ?" for _ in PREFIXES),
            [p + "%" for p in PREFIXES],
        )
        conn.execute("UPDATE images SET record = json_remove(record, '$.Location')")
        conn.execute("DROP INDEX images_by_position")
        conn.execute("ALTER TABLE images DROP COLUMN latitude")
        conn.execute("ALTER TABLE images DROP COLUMN longitude")
        before = [name for name, _ in MIGRATIONS].index("0013_when_and_where")
        for name, _ in MIGRATIONS[before:]:  # 0013 and every later one runs again
            conn.execute("DELETE FROM migrations WHERE name = ?", (name,))
        conn.execute("DELETE FROM label_index WHERE label IN ('has:people', 'is:screenshot')")
        conn.execute("DELETE FROM label_counts WHERE label IN ('has:people', 'is:screenshot')")
        conn.execute(f"PRAGMA user_version = {before}")
        conn.commit()


def test_a_catalog_made_before_answers_after_migrating(tmp_path: Path) -> None:
    home = tmp_path / "old"
    write_photos(home / "images")
    lens = make_lens(home, analyzers=["properties"])
    lens.ingest([home / "images"])
    path = Path(getattr(lens.catalog, "path"))  # noqa: B009 - the port does not say where it keeps its file
    lens.close()
    downgrade(path)
    with closing(sqlite3.connect(path)) as conn:
        record = json.loads(conn.execute("SELECT record FROM images WHERE key = 'paris.jpg'").fetchone()[0])
        assert "Location" not in record
        assert "latitude" not in [row[1] for row in conn.execute("PRAGMA table_info(images)")]

    again = make_lens(home, analyzers=["properties"])
    try:
        assert found(again, "taken:2019") == {"paris.jpg", "ocean.jpg"}
        assert found(again, "place:paris") == {"paris.jpg"}
        assert found(again, "country:ch") == {"zurich.jpg"}
        assert found(again, "camera:iphone") == {"sydney.jpg", "ocean.jpg"}
        assert found(again, "near:30,-40,5km") == {"inside.jpg"}
        assert found(again, "orientation:square") == {"ocean.jpg"}
        paris = again.show("paris.jpg")
        assert paris is not None and paris.Location is not None and paris.Location["City"] == "Paris"
        assert again.catalog.check() == []
    finally:
        again.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize(
    "query",
    [
        "taken:2019..2021",
        "taken>2020-01-01",
        "taken >= 2019-06 dog",
        "near:-33.86,151.2,500m OR cat",
        "width>1000 height<=200",
        'place:"new york" -country:us',
        "camera:canon orientation:portrait",
    ],
)
def test_the_canonical_form_parses_back(query: str) -> None:
    from pixlens.query import parse, to_string
    from pixlens.search import SEARCH_FIELDS

    tree = parse(query, SEARCH_FIELDS)
    assert parse(to_string(tree), SEARCH_FIELDS) == tree


def test_without_the_new_fields_the_language_is_unchanged() -> None:
    from pixlens.query import Term, parse

    with pytest.raises(QueryError, match="unknown field 'taken'"):
        parse("taken:2019")
    assert parse("width>=80") == Term("width", op=">=", threshold=80.0)  # a label with a threshold, as before


def test_a_hit_says_which_date_and_place_matched(trips: Pixlens) -> None:
    (hit,) = trips.search("taken:2019 place:paris").hits
    shaped = shapes.hit(hit)
    kinds = {entry["Kind"] for entry in shaped["Matched"]}
    assert {"Taken", "Place"} <= kinds
    assert not any(label["Name"].startswith(("taken:", "place:")) for label in shaped["Labels"])
