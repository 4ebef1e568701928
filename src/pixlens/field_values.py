"""The values of the "when, where, which camera" fields, read from query text: dates, periods, circles, pixels.

The query parser checks each value as it reads it (so that an error points at the very character), and the search
reads it again to find its index entries; both use these functions. A problem raises :class:`FieldValueError` with
the offset of the problem inside the value.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta

from pixlens.geo import Circle

ORIENTATIONS = ("portrait", "landscape", "square")
MAX_PIXELS = 100_000  # widths and heights are indexed in thousands of pixels, 0-100
MAX_RADIUS_KM = 20_000.0  # about half the Earth's circumference: beyond it a circle holds everything
UNITS = {"km": 1.0, "m": 0.001, "mi": 1.609344}
DATE_HELP = "write a date as 2019, 2019-06 or 2019-06-15"

_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_RADIUS = re.compile(r"((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([a-zA-Z]*)")


class FieldValueError(ValueError):
    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class Period:
    """Days from ``first`` to ``last``, both included; None: open on that side."""

    first: date | None
    last: date | None


def day_span(text: str, offset: int = 0) -> tuple[date, date]:
    """The first and last day of a year (2019), a month (2019-06) or a day (2019-06-15)."""
    found = _DATE.fullmatch(text)
    if found is None:
        raise FieldValueError(f"{text!r} is not a date: {DATE_HELP}" if text else f"missing date: {DATE_HELP}", offset)
    year_text, month_text, day_text = found.groups()
    year = int(year_text)
    if year < 1:
        raise FieldValueError("there is no year 0000", offset)
    if month_text is None:
        return date(year, 1, 1), date(year, 12, 31)
    month = int(month_text)
    if not 1 <= month <= 12:
        raise FieldValueError(f"month must be 01 to 12, not {month_text}", offset + 5)
    days = calendar.monthrange(year, month)[1]
    if day_text is None:
        return date(year, month, 1), date(year, month, days)
    day = int(day_text)
    if not 1 <= day <= days:
        name = calendar.month_name[month]
        raise FieldValueError(f"{name} {year} has days 01 to {days}, not {day_text}", offset + 6 + len(month_text))
    return date(year, month, day), date(year, month, day)


def period(value: str, op: str | None = None) -> Period:
    """The days a ``taken`` value covers: ``2019``, ``2019-06-15``, ``2019..2021`` (either end may be left open:
    ``2019..``), or with a comparison ``>2020-01-01`` (after that day), ``>=2019-06`` (from June 2019 on)..."""
    if op is not None:
        if ".." in value:
            raise FieldValueError("a comparison takes one date, not a range", value.index(".."))
        first, last = day_span(value)
        try:
            return {
                ">": Period(last + timedelta(days=1), None),
                ">=": Period(first, None),
                "<": Period(None, first - timedelta(days=1)),
                "<=": Period(None, last),
            }[op]
        except OverflowError:
            raise FieldValueError(f"no date is {op} {value}", 0) from None
    if ".." not in value:
        first, last = day_span(value)
        return Period(first, last)
    left, right = value.split("..", 1)
    if not left and not right:
        raise FieldValueError(f"a range needs a date on at least one side of '..': {DATE_HELP}", 0)
    start = day_span(left)[0] if left else None
    end = day_span(right, len(left) + 2)[1] if right else None
    if start is not None and end is not None and start > end:
        raise FieldValueError(f"impossible range: {right} is before {left}", len(left) + 2)
    return Period(start, end)


def _number(text: str, offset: int, what: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise FieldValueError(f"{what} must be a number, not {text!r}" if text else f"missing {what}", offset)
    return float(text) + 0.0


def circle(value: str) -> Circle:
    """A ``near`` value: ``latitude,longitude,radius`` with a unit: ``48.85,2.35,5km``, ``500m``, ``3mi``."""
    parts = value.split(",")  # a quoted value may hold spaces: "48.85, 2.35, 5km"
    if len(parts) != 3:
        raise FieldValueError("write near: as latitude,longitude,radius, as in near:48.85,2.35,5km", 0)
    starts = [0, len(parts[0]) + 1, len(parts[0]) + len(parts[1]) + 2]
    starts = [start + len(part) - len(part.lstrip()) for start, part in zip(starts, parts, strict=True)]
    parts = [part.strip() for part in parts]
    latitude = _number(parts[0], starts[0], "latitude")
    if not -90 <= latitude <= 90:
        raise FieldValueError(f"latitude must be between -90 and 90, not {parts[0]}", starts[0])
    longitude = _number(parts[1], starts[1], "longitude")
    if not -180 <= longitude <= 180:
        raise FieldValueError(f"longitude must be between -180 and 180, not {parts[1]}", starts[1])
    found = _RADIUS.fullmatch(parts[2])
    if found is None:
        raise FieldValueError(f"radius must be a number with a unit (5km, 500m, 3mi), not {parts[2]!r}", starts[2])
    number, unit = found.groups()
    if unit.lower() not in UNITS:
        where = starts[2] + len(number)
        raise FieldValueError(
            f"radius needs a unit: km, m or mi, as in {number}km"
            if not unit
            else f"unknown unit {unit!r}: use km, m or mi",
            where,
        )
    radius = float(number) * UNITS[unit.lower()]
    if not 0 < radius <= MAX_RADIUS_KM or not math.isfinite(radius):
        raise FieldValueError(f"radius must be more than 0 and at most {MAX_RADIUS_KM:,.0f} km", starts[2])
    return Circle(latitude, longitude, radius)


def pixels(value: str) -> int:
    """A ``width`` or ``height`` value: a whole number of pixels."""
    if not value.isascii() or not value.isdigit():
        raise FieldValueError(f"write a number of pixels, as in width>1000, not {value!r}", 0)
    number = int(value)
    if number > MAX_PIXELS:
        raise FieldValueError(f"at most {MAX_PIXELS} pixels, not {value}", 0)
    return number


def orientation(value: str) -> str:
    folded = value.casefold()
    if folded not in ORIENTATIONS:
        raise FieldValueError(f"unknown orientation:{value} (known: {', '.join(ORIENTATIONS)})", 0)
    return folded


def check(field: str, value: str, op: str | None) -> None:
    """Raise :class:`FieldValueError` unless ``value`` (with ``op``, for a comparison) is a valid value of ``field``."""
    if field == "taken":
        period(value, op)
    elif field == "near":
        circle(value)
    elif field in ("width", "height"):
        pixels(value)
    elif field == "orientation":
        orientation(value)
