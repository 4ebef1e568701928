"""The JSON objects that pixlens prints (``--json``) and serves (``/v1``): built in one place, so that a script can
move from the command line to the HTTP API without a change. Field names are Amazon Rekognition's style
(``ImageName``, ``Confidence``), records are :class:`~pixlens.record.ImageRecord` as stored.
"""

from __future__ import annotations

from typing import Any

from pixlens.access import ApiKey
from pixlens.catalog.base import DeliveryRow, DuplicateSet, Hit, HookRow, PersonRow
from pixlens.pipeline import Result
from pixlens.record import ImageRecord
from pixlens.search import Facets, SearchResult

Json = dict[str, Any]


def record(found: ImageRecord) -> Json:
    """An image's record, as ``pixlens show`` prints it."""
    shaped: Json = found.model_dump(mode="json")
    return shaped


def hit(found: Hit) -> Json:
    labels = sorted(found.matched.items(), key=lambda item: -item[1])
    return {
        "ImageName": found.key,
        "Score": found.score,
        "Labels": [{"Name": name, "Confidence": confidence} for name, confidence in labels],
    }


def search_page(result: SearchResult, found_facets: Facets | None = None) -> Json:
    page: Json = {
        "Images": [hit(each) for each in result.hits],
        "Total": result.total,
        "NextCursor": result.next_cursor,
        "Unknown": result.unknown,
    }
    if found_facets is not None:
        page["Facets"] = facets(found_facets)
    return page


def facets(found: Facets) -> Json:
    return {
        "Labels": [{"Name": name, "Count": count} for name, count in found.labels],
        "Categories": [{"Name": name, "Count": count} for name, count in found.categories],
        "Colors": [{"Name": name, "Count": count} for name, count in found.colors],
        "HasText": found.has_text,
        "Faces": found.faces,
        "People": [{"PersonId": pid, "Name": name, "Count": count} for pid, name, count in found.people],
    }


def similar(key: str, similarity: float) -> Json:
    return {"ImageName": key, "Similarity": similarity}


def duplicate_group(group: DuplicateSet) -> Json:
    links = [{"Images": [a, b], "HashDistance": bits, "Similarity": sim} for a, b, bits, sim in group.links]
    return {"Images": group.keys, "Identical": group.identical, "Links": links}


def person(row: PersonRow) -> Json:
    return {"PersonId": row.id, "Name": row.name, "Faces": row.faces, "Images": row.images}


def label_count(name: str, images: int) -> Json:
    return {"Name": name, "Images": images}


def outcome(result: Result) -> Json:
    return {"ImageName": result.key, "Outcome": result.outcome.value, "Error": result.error}


def hook(row: HookRow) -> Json:
    """A saved search with its webhook (never its secret: only whether it has one)."""
    return {"Name": row.name, "Query": row.query, "Url": row.url, "HasSecret": row.secret is not None,
            "CreatedAt": row.created_at}  # fmt: skip


def delivery(row: DeliveryRow) -> Json:
    """A webhook delivery, without its body; ``NextAttemptAt`` only while it is pending."""
    return {
        "DeliveryId": row.id,
        "Hook": row.hook,
        "ImageName": row.image,
        "Status": row.status,
        "Attempts": row.attempts,
        "LastError": row.last_error,
        "NextAttemptAt": row.next_attempt_at if row.status == "pending" else None,
        "CreatedAt": row.created_at,
        "DeliveredAt": row.delivered_at,
    }


def api_key(key: ApiKey) -> Json:
    """An API key as listed: its id, name, scope and first characters, never the key."""
    return {
        "Id": key.id,
        "Name": key.name,
        "Scope": key.scope.label,
        "Prefix": key.prefix,
        "CreatedAt": key.created_at,
        "LastUsedAt": key.last_used_at,
        "RevokedAt": key.revoked_at,
    }
