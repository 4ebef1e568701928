"""DynamoDB's typed attribute values (``{"S": "Dog"}``, ``{"N": "97.1"}``, ``{"L": [...]}``, ``{"M": {...}}``), as
the low-level API, DynamoDB's S3 export and import, and ``aws dynamodb`` speak them.

boto3's own ``TypeSerializer`` refuses floats and its deserializer refuses malformed values with errors that do not
say where; these two functions are small enough to own, and say what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

AttributeValue = dict[str, Any]

# The type descriptors a typed value may carry (exactly one of them).
DESCRIPTORS = frozenset({"S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"})


class TypedValueError(ValueError):
    """A value that is not a well-formed DynamoDB attribute value (or cannot become one)."""


def to_typed(value: Any) -> AttributeValue:
    """A JSON-like Python value as a typed attribute value; numbers become ``N`` strings (floats by their shortest
    round-tripping form, so that 97.12 is written "97.12")."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):  # before int: True is an int too
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypedValueError(f"{value} is not a number DynamoDB can hold")
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        raise TypedValueError("binary values are not written by pixlens")
    if isinstance(value, Mapping):
        return {"M": {str(key): to_typed(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_typed(item) for item in value]}
    raise TypedValueError(f"a {type(value).__name__} cannot be written as a DynamoDB value")


def to_typed_item(values: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """A whole item: attribute name -> typed value."""
    return {name: to_typed(value) for name, value in values.items()}


def is_typed(value: Any) -> bool:
    """Whether ``value`` looks like one typed attribute value: a map with exactly one type descriptor whose content
    has that descriptor's form (so that a label map ``{"N": 90}`` is not mistaken for a number)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    ((kind, content),) = value.items()
    return kind in DESCRIPTORS and _has_form(kind, content)


def _has_form(kind: str, content: Any) -> bool:
    if kind in ("S", "N", "B"):
        return isinstance(content, str | bytes)
    if kind == "BOOL":
        return isinstance(content, bool)
    if kind == "NULL":
        return content is True
    if kind == "L":
        return isinstance(content, list)
    if kind == "M":
        return isinstance(content, Mapping)
    return isinstance(content, list)  # SS, NS, BS


def from_typed(value: Any) -> Any:
    """A typed attribute value as plain Python: numbers as ``Decimal``, sets as sorted lists, maps and lists
    recursively. Raises :class:`TypedValueError` for a malformed value (say ``{"N": "abc"}``)."""
    if not is_typed(value):
        raise TypedValueError(f"not a DynamoDB attribute value: {_short(value)}")
    ((kind, content),) = value.items()
    if kind == "S" or kind == "B" or kind == "BOOL":
        return content
    if kind == "NULL":
        return None
    if kind == "N":
        return _number(content)
    if kind == "L":
        return [from_typed(item) for item in content]
    if kind == "M":
        return {str(key): from_typed(item) for key, item in content.items()}
    if kind == "NS":
        return sorted(_number(item) for item in content)
    return sorted(content)  # SS, BS


def from_typed_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A whole item (attribute name -> typed value) as plain Python."""
    return {str(name): from_typed(value) for name, value in item.items()}


def _number(text: Any) -> Decimal:
    try:
        number = Decimal(str(text))
    except InvalidOperation:
        raise TypedValueError(f"{_short(text)} is not a number") from None
    if not number.is_finite():
        raise TypedValueError(f"{_short(text)} is not a finite number")
    return number


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
