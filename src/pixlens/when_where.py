"""When, where and with which camera: a record's index entries for them, and the entries a query term matches.

A record's EXIF and ``Location`` become facet entries (``catalog/facets.py``), each with the value 100 unless said:

| entry | from |
| --- | --- |
| ``taken:2019``, ``taken:2019-06``, ``taken:2019-06-15`` | ``Exif.DateTimeOriginal`` (the date as written) |
| ``make:<make>``, ``model:<model>`` | ``Exif.Make``, ``Exif.Model`` (folded: lower case, no accents) |
| ``place:<city>``, ``region:<region>``, ``country:<code>`` | ``Location`` (from ``Exif.GPS`` and the gazetteer) |
| ``size:width``, ``size:height`` | ``Width``, ``Height``; the value is thousands of pixels (1.5 = 1,500 px) |
| ``orientation:portrait`` / ``landscape`` / ``square`` | ``Width`` and ``Height`` (as displayed) |

A period is the union of whole years, whole months and single days (``taken:2019-11-20..2021-02`` is 11 days,
1 month, 1 year and 2 months: a handful of postings). ``near:`` is not an entry: the catalog keeps each image's
coordinates and checks the exact distance (``geo.Circle``). EXIF dates are the camera's local time without a zone:
``taken:`` compares the date as written.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from pixlens import field_values
from pixlens.analysis import places
from pixlens.catalog.sqlplan import NEAR
from pixlens.errors import QueryError
from pixlens.query import And, Node, Term
from pixlens.record import ImageRecord

TAKEN = "taken:"
MAKE = "make:"
MODEL = "model:"
PLACE = "place:"
REGION = "region:"
COUNTRY = "country:"
SIZE = "size:"
ORIENTATION = "orientation:"
PREFIXES = (TAKEN, MAKE, MODEL, PLACE, REGION, COUNTRY, SIZE, ORIENTATION)

FIELDS = frozenset(
    {"taken", "make", "model", "camera", "place", "region", "country", "near", "width", "height", "orientation"}
)
SIZE_FIELD = "size"  # width and height comparisons, rewritten into thresholds on size:width / size:height
SQUARE_WITHIN = 0.01  # sides differing by at most 1 % make a square

Known = Callable[[str], list[str]]  # the catalog's index entries that start with a prefix, sorted


def fold(text: str) -> str:
    """Lower case, accents off, punctuation as spaces: "Zürich" and "zurich", "Île-de-France" and "ile de france"."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", bare).split())


def _contains(name: str, words: str) -> bool:
    return bool(words) and f" {words} " in f" {name} "


# --- a record's entries -----------------------------------------------------------------------------------


def entries(record: ImageRecord) -> dict[str, float]:
    return entries_of(record.Exif, record.Width, record.Height, record.Location)


def entries_of(
    exif: dict[str, Any] | None, width: int | None, height: int | None, location: dict[str, str] | None
) -> dict[str, float]:
    found: dict[str, float] = {}
    exif = exif or {}
    taken = exif.get("DateTimeOriginal")
    if isinstance(taken, str) and re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", taken):
        found.update({TAKEN + taken[:4]: 100.0, TAKEN + taken[:7]: 100.0, TAKEN + taken[:10]: 100.0})
    for key, prefix in (("Make", MAKE), ("Model", MODEL)):
        folded = fold(str(exif.get(key) or ""))
        if folded:
            found[prefix + folded] = 100.0
    location = location or {}
    for key, prefix in (("City", PLACE), ("Region", REGION), ("CountryCode", COUNTRY)):
        folded = fold(location.get(key) or "")
        if folded:
            found[prefix + folded] = 100.0
    if width and height and width > 0 and height > 0:
        found[SIZE + "width"] = thousands(width)
        found[SIZE + "height"] = thousands(height)
        if abs(width - height) <= SQUARE_WITHIN * max(width, height):
            found[ORIENTATION + "square"] = 100.0
        else:
            found[ORIENTATION + ("portrait" if height > width else "landscape")] = 100.0
    return found


def thousands(pixels: int) -> float:
    """A number of pixels as an index value (0-100): thousands, to the pixel."""
    return round(min(pixels, field_values.MAX_PIXELS) / 1000, 3)


def locate(exif: dict[str, Any] | None) -> dict[str, str] | None:
    """The ``Location`` of a record's GPS position (``analysis/places.py``), or None."""
    gps = (exif or {}).get("GPS")
    if not isinstance(gps, dict):
        return None
    latitude, longitude = gps.get("Latitude"), gps.get("Longitude")
    if not isinstance(latitude, int | float) or not isinstance(longitude, int | float):
        return None
    return places.location(float(latitude), float(longitude))


def coordinates(exif: dict[str, Any] | None) -> tuple[float, float] | None:
    """The GPS position of a record, for ``near:`` (None without one)."""
    gps = (exif or {}).get("GPS")
    if not isinstance(gps, dict):
        return None
    latitude, longitude = gps.get("Latitude"), gps.get("Longitude")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        return float(latitude), float(longitude)
    return None


# --- a query's terms ----------------------------------------------------------------------------------------


def rewrite(term: Term) -> Node:
    """A term as the catalog runs it: ``width>1000`` becomes a threshold on ``size:width``; others stay."""
    if term.field not in ("width", "height"):
        return term
    try:
        value = thousands(field_values.pixels(term.value))
    except field_values.FieldValueError as problem:  # a term made without the parser
        raise QueryError(problem.message, position=term.position) from None
    if term.op is None:  # width:1000: exactly
        return And(
            (Term(term.field, SIZE_FIELD, ">=", value, term.position), Term(term.field, SIZE_FIELD, "<=", value))
        )
    return Term(term.field, SIZE_FIELD, term.op, value, term.position)


class Resolver:
    """The index entries of these fields' terms; ``known`` lists the catalog's entries (for names and years)."""

    def __init__(self, known: Known) -> None:
        self.known = known

    def resolve(self, term: Term) -> list[str]:
        field = term.field
        if field == SIZE_FIELD:
            return [SIZE + term.value]
        try:
            if field == "taken":
                return self._taken(field_values.period(term.value, term.op))
            if field == "near":
                circle = field_values.circle(term.value)
                return [f"{NEAR}{circle.latitude!r},{circle.longitude!r},{circle.radius_km!r}"]
            if field == "orientation":
                return [ORIENTATION + field_values.orientation(term.value)]
        except field_values.FieldValueError as problem:
            raise QueryError(problem.message, position=term.position) from None
        wanted = fold(term.value)
        if field in ("make", "model"):
            return self._containing([MAKE if field == "make" else MODEL], wanted)
        if field == "camera":
            return self._containing([MAKE, MODEL], wanted)
        if field == "region":
            return self._named([REGION], wanted)
        if field == "country":
            return [COUNTRY + code.lower() for code in country_codes(wanted)]
        if field == "place":
            exact = [entry for entry in self._exact([PLACE, REGION], wanted)]
            codes = country_codes(wanted, exact_only=True)
            found = exact + [COUNTRY + code.lower() for code in codes]
            return found or self._containing([PLACE, REGION], wanted)
        return []

    def places_named(self, word: str) -> list[str]:
        """The catalog's cities, regions and countries named exactly ``word`` (free text: ``a dog in paris``)."""
        wanted = fold(word)
        codes = country_codes(wanted, exact_only=True)
        return self._exact([PLACE, REGION], wanted) + [
            COUNTRY + code.lower() for code in codes if self.known(COUNTRY + code.lower())
        ]

    def _exact(self, prefixes: list[str], wanted: str) -> list[str]:
        return [prefix + wanted for prefix in prefixes if prefix + wanted in set(self.known(prefix + wanted))]

    def _named(self, prefixes: list[str], wanted: str) -> list[str]:
        return self._exact(prefixes, wanted) or self._containing(prefixes, wanted)

    def _containing(self, prefixes: list[str], wanted: str) -> list[str]:
        """Entries whose name holds the words (``camera:canon`` finds "canon eos 5d mark iv")."""
        return [entry for prefix in prefixes for entry in self.known(prefix) if _contains(entry[len(prefix) :], wanted)]

    def _taken(self, period: field_values.Period) -> list[str]:
        """The entries covering a period, within the years the catalog holds (an open end stops there)."""
        dated = self.known(TAKEN)
        fallback = [TAKEN + (period.first or period.last or date.min).isoformat()]  # a day no image was taken
        if not dated:
            return fallback
        earliest, latest = date(int(dated[0][6:10]), 1, 1), date(int(dated[-1][6:10]), 12, 31)
        first = max(period.first or earliest, earliest)
        last = min(period.last or latest, latest)
        return cover(first, last) if first <= last else fallback


def cover(first: date, last: date) -> list[str]:
    """The fewest whole years, months and days from ``first`` to ``last`` (both included)."""
    found: list[str] = []
    day = first
    while day <= last:
        year_end, month_end = date(day.year, 12, 31), _month_end(day)
        if day.month == 1 and day.day == 1 and year_end <= last:
            found.append(f"{TAKEN}{day.year:04d}")
            end = year_end
        elif day.day == 1 and month_end <= last:
            found.append(f"{TAKEN}{day.year:04d}-{day.month:02d}")
            end = month_end
        else:
            found.append(TAKEN + day.isoformat())
            end = day
        if end == date.max:
            break
        day = end + timedelta(days=1)
    return found


def _month_end(day: date) -> date:
    if day.month == 12:
        return date(day.year, 12, 31)
    return date(day.year, day.month + 1, 1) - timedelta(days=1)


@functools.cache
def _country_names() -> list[tuple[str, str, tuple[str, ...]]]:
    """(code, folded name, folded other names and codes) of every country of the gazetteer."""
    return [
        (code, fold(name), tuple(fold(alias) for alias in (code, *aliases)))
        for code, (name, aliases) in places.countries().items()
    ]


def country_codes(wanted: str, exact_only: bool = False) -> list[str]:
    """The countries a folded name means: by name, other name or ISO code; else those whose name holds the words."""
    exact = [code for code, name, others in _country_names() if wanted == name or wanted in others]
    if exact or exact_only:
        return exact
    return [code for code, name, others in _country_names() if any(_contains(n, wanted) for n in (name, *others))]
