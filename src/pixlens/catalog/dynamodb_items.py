"""The DynamoDB catalog's items: their names, the ranks that order the index, and a record as an image item (its
large parts split off into chunk items so that every item stays under DynamoDB's 400 KB).

The catalog's own items have names that start with ``/``, which no image key can (keys are relative paths), and
attributes whose names start with ``px``, which no record field does.
"""

from __future__ import annotations

import json
import math
import secrets
import zlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from pixlens.catalog.dynamodb_schema import ENTRY, KEY, RANK
from pixlens.catalog.dynamodb_table import Item, to_dynamo
from pixlens.errors import CatalogError
from pixlens.record import ImageRecord, Status

SPAN = 10**10  # a rank is (value * SPAN + id): value first, then the id (image ids stay below 2**32)
IMAGE_SHARDS = 8  # the status lists, the vectors' list: partitions written by every image, spread by id
COUNT_SHARDS = 4  # the lists of count items
ITEM_LIMIT = 380_000  # bytes an image item may take before its largest fields move to chunk items (400 KB = 409,600)
PART_BYTES = 350_000  # bytes of compressed JSON per chunk item
TEXT_LIMIT = 300_000  # characters of an image's text kept for phrase search

META = "/meta"
STATUS_COUNTS = "/status-counts"
ANALYSED = "/analysed"  # the list (a counted entry) of every image with an analysis: what NOT subtracts from
PEOPLE = "/people"
VECTOR_LOG = "/vlog"


def internal(name: str) -> bool:
    return name.startswith("px")


# -- names ----
def index_name(image_id: int, entry: str) -> str:
    return f"/ix/{image_id}/{entry}"


def id_name(image_id: int) -> str:
    return f"/id/{image_id}"


def count_name(entry: str) -> str:
    return f"/count/{entry}"


def text_name(image_id: int) -> str:
    return f"/text/{image_id}"


def part_name(image_id: int, token: str, field: str, number: int) -> str:
    return f"/part/{image_id}/{token}/{field}/{number}"


def entry_list(entry: str, shard: int) -> str:
    """The index partition of one shard of a counted entry."""
    return f"{entry}#{shard}"


def status_list(status: str, shard: int) -> str:
    return f"/status/{status}#{shard}"


def counts_list(entry: str) -> str:
    return f"/counts#{zlib.crc32(entry.encode()) % COUNT_SHARDS}"


def sha_list(sha256: str) -> str:
    return f"/sha/{sha256}"


def word_list(stem: str) -> str:
    return f"/word/{stem}"


def geo_list(band: int) -> str:
    return f"/geo/{band}"


# -- ranks ----
def milli(confidence: float) -> int:
    """A confidence (0-100) as the index stores it: thousandths, as SQL's ROUND(confidence, 3)."""
    return max(0, round(float(confidence) * 1000))


def rank(value: int, image_id: int) -> int:
    return value * SPAN + image_id


def unrank(value: Any) -> tuple[int, int]:
    """(value, id) of a rank."""
    high, low = divmod(int(value), SPAN)
    return high, low


def epoch_seconds(text: str | None) -> int:
    """An ISO 8601 UTC time (``utc_now``) as seconds, for the ranks of the status lists."""
    from datetime import datetime

    if not text:
        return 0
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def geo_rank(longitude: float, image_id: int) -> int:
    return rank(round((longitude + 180.0) * 1e6), image_id)


# -- sizes ----
def item_size(value: Any) -> int:
    """The bytes DynamoDB counts for a value (an item: a dict of attributes), as documented: names and UTF-8 text
    at their length, numbers at about one byte per two digits, 3 bytes per map or list plus 1 per element."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, int | float | Decimal):
        digits = len(str(abs(Decimal(str(value)))).replace(".", "").lstrip("0")) or 1
        return 1 + math.ceil(digits / 2)
    if isinstance(value, dict):
        return 3 + sum(1 + len(str(k).encode("utf-8")) + item_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(1 + item_size(v) for v in value)
    return len(str(value).encode("utf-8"))


# -- records ----
def record_fields(record: ImageRecord) -> dict[str, Any]:
    """The record's fields as DynamoDB values (Rekognition's names; numbers as Decimals)."""
    fields: dict[str, Any] = to_dynamo(record.model_dump(mode="json"))
    return fields


def split_large(
    image_id: int, fields: dict[str, Any], room: int
) -> tuple[dict[str, Any], dict[str, list[Any]], list[Item]]:
    """Move the largest fields (``Labels`` last: what the original pipeline's readers read) to chunk items until the
    rest takes at most ``room`` bytes: (the fields kept, ``pxParts`` {field: [token, chunks]}, the chunk items)."""
    kept = dict(fields)
    sizes = {name: item_size(value) + len(name) for name, value in kept.items() if name != KEY}
    order = [*sorted((name for name in sizes if name != "Labels"), key=lambda name: -sizes[name]), "Labels"]
    total = sum(sizes.values()) + len(KEY) + item_size(kept[KEY])
    parts: dict[str, list[Any]] = {}
    chunks: list[Item] = []
    token = secrets.token_hex(4)  # a new name per write: readers of the previous item still find its chunks
    for name in order:
        if total <= room:
            break
        if name not in kept:
            continue
        data = zlib.compress(json.dumps(kept.pop(name), default=_plain).encode("utf-8"), 6)
        pieces = [data[start : start + PART_BYTES] for start in range(0, len(data), PART_BYTES)] or [b""]
        for number, piece in enumerate(pieces):
            chunks.append({KEY: part_name(image_id, token, name, number), "pxData": piece})
        parts[name] = [token, len(pieces)]
        total -= sizes[name]
    if total > room:
        raise CatalogError(f"the record of {fields[KEY]!r} is too large for a DynamoDB item even without its fields")
    return kept, parts, chunks


def part_names(image_id: int, parts: Mapping[str, Any]) -> list[str]:
    return [
        part_name(image_id, str(token), field, number)
        for field, (token, count) in parts.items()
        for number in range(int(count))
    ]


def joined_parts(
    image_id: int, parts: Mapping[str, Any], load: Callable[[list[str]], dict[str, Item]]
) -> dict[str, Any]:
    """The fields an image item keeps in chunk items, read back."""
    found = load(part_names(image_id, parts))
    fields: dict[str, Any] = {}
    for field, (token, count) in parts.items():
        names = [part_name(image_id, str(token), field, number) for number in range(int(count))]
        missing = [name for name in names if name not in found]
        if missing:
            raise CatalogError(f"a part of a record is missing from the catalog: {missing[0]} (run pixlens check)")
        data = b"".join(found[name]["pxData"] for name in names)
        fields[field] = json.loads(zlib.decompress(data))
    return fields


def record_of(item: Item, parts: dict[str, Any]) -> ImageRecord:
    """An image item (and the fields of its chunk items) as a record; its status is the catalog's."""
    fields = {name: value for name, value in item.items() if not internal(name)}
    fields.update(parts)
    record = ImageRecord.model_validate(fields)
    record.Status = Status(item.get("Status", Status.PENDING.value))
    return record


def list_fields(entry: str, value: int) -> dict[str, Any]:
    return {ENTRY: entry, RANK: value}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot store {type(value).__name__}")
