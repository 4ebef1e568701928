"""Great-circle geometry on a spherical Earth: distances, and the boxes of latitude and longitude around a circle.

Distances use the haversine formula on a sphere of the IUGG mean radius (6371.0088 km); the Earth's flattening
makes real distances differ by up to 0.5 %, which no photo's GPS is precise enough to notice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180  # along a meridian: 111.195 km

Floats = np.ndarray[Any, np.dtype[np.float64]]


def distance_km(lat1: float, lon1: float, lat2: Floats | float, lon2: Floats | float) -> Floats:
    """Great-circle distances from one point to others (degrees in, km out)."""
    phi1, phi2 = math.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlambda = np.radians(np.asarray(lon2, dtype=np.float64) - lon1)
    a = np.sin(dphi / 2) ** 2 + math.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


@dataclass(frozen=True)
class Circle:
    """Every point within ``radius_km`` of (``latitude``, ``longitude``), the edge included."""

    latitude: float
    longitude: float
    radius_km: float

    def boxes(self) -> list[tuple[float, float, float, float]]:
        """Boxes (south, north, west, east) in degrees that together hold the whole circle (and a little more:
        candidates to check with :meth:`distances`); two where the circle crosses the 180th meridian."""
        # A margin of a millionth of a degree (0.1 m) so that rounding never drops a point on the edge.
        margin = 1e-6
        dlat = self.radius_km / KM_PER_DEGREE + margin
        south, north = self.latitude - dlat, self.latitude + dlat
        if north >= 90 or south <= -90:  # a pole is inside: every longitude
            return [(max(south, -90.0), min(north, 90.0), -180.0, 180.0)]
        # The widest longitude span of a circle is at its tangent latitude: asin(sin r / cos lat).
        ratio = math.sin(self.radius_km / EARTH_RADIUS_KM) / math.cos(math.radians(self.latitude))
        if ratio >= 1:
            return [(south, north, -180.0, 180.0)]
        dlon = math.degrees(math.asin(ratio)) + margin
        west, east = self.longitude - dlon, self.longitude + dlon
        if west < -180:
            return [(south, north, west + 360, 180.0), (south, north, -180.0, east)]
        if east > 180:
            return [(south, north, west, 180.0), (south, north, -180.0, east - 360)]
        return [(south, north, west, east)]

    def distances(self, latitudes: Floats, longitudes: Floats) -> Floats:
        return distance_km(self.latitude, self.longitude, latitudes, longitudes)
