"""The JSON objects that pixlens prints (``--json``) and serves (``/v1``): built in one place, so that a script can
move from the command line to the HTTP API without a change. Every key is PascalCase, in Amazon Rekognition's style
(``ImageName``, ``Confidence``); records are :class:`~pixlens.record.ImageRecord` as stored. The one exception is
an API error's body, ``{"code", "message"}``: a contract of its own (docs/API.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pixlens import when_where
from pixlens.access import ApiKey
from pixlens.catalog import facets as entries
from pixlens.catalog.base import DeliveryRow, DuplicateSet, Hit, HookRow, PersonRow
from pixlens.catalog.sqlplan import TEXT
from pixlens.migrate.dynamodb_import import ImportReport, Skip
from pixlens.migrate.export import ExportReport
from pixlens.pipeline import Result
from pixlens.record import ImageRecord
from pixlens.search import Facets, SearchResult

Json = dict[str, Any]

# A matched index entry that is not a label: its prefix -> the Kind a hit's Matched list calls it.
KINDS = {
    entries.CATEGORY: "Category",
    entries.COLOR: "Color",
    entries.MODERATION: "Moderation",
    entries.PERSON: "Person",
    TEXT: "Text",
    entries.IS: "Is",
    when_where.TAKEN: "Taken",
    when_where.MAKE: "Make",
    when_where.MODEL: "Model",
    when_where.PLACE: "Place",
    when_where.REGION: "Region",
    when_where.COUNTRY: "Country",
    when_where.SIZE: "Size",
    when_where.ORIENTATION: "Orientation",
}
COUNTS = {entries.FACES: "Faces", entries.HAS_TEXT: "HasText", entries.HAS_PEOPLE: "People"}  # numbers of things


@dataclass(frozen=True)
class Naming:
    """What a hit's index entries need to be shown: the people's names, and which bare entries are categories (the
    catalog reports ``category:Sports`` as ``Sports``)."""

    people: Mapping[int, str] = field(default_factory=dict)
    categories: frozenset[str] = frozenset()


def naming(hits: Iterable[Hit], person_names: Callable[[Iterable[int]], Mapping[int, str]],
           categories: Iterable[str]) -> Naming:  # fmt: skip
    """The names these hits need: of the people they matched (``person:<id>``), read once for the whole page."""
    found = (
        entry.removeprefix(entries.PERSON) for one in hits for entry in one.matched if entry.startswith(entries.PERSON)
    )
    ids = {int(number) for number in found if number.isdigit()}
    return Naming(person_names(ids) if ids else {}, frozenset(categories))


def pascal(key: str) -> str:
    """``queue_depth`` -> ``QueueDepth``: the keys of counts that come as snake_case from the core."""
    return "".join(part[:1].upper() + part[1:] for part in key.split("_"))


def pascal_keys(numbers: Mapping[str, Any]) -> Json:
    """A flat summary (stats, reconcile, ingest, deliveries) with PascalCase keys; nested summaries too."""
    return {pascal(key): pascal_keys(value) if isinstance(value, Mapping) else value for key, value in numbers.items()}


def record(found: ImageRecord) -> Json:
    """An image's record, as ``pixlens show`` prints it."""
    shaped: Json = found.model_dump(mode="json")
    return shaped


def hit(found: Hit, names: Naming = Naming()) -> Json:
    """A search hit: ``Labels`` are the labels that matched (name, confidence); ``Matched`` the other index entries
    that did (category, colour, moderation label, person, faces, text), each with its ``Kind``."""
    ranked = sorted(found.matched.items(), key=lambda item: -item[1])
    label = {name: entries.is_label(name) and name not in names.categories for name, _ in ranked}
    return {
        "ImageName": found.key,
        "Score": found.score,
        "Labels": [{"Name": name, "Confidence": value} for name, value in ranked if label[name]],
        "Matched": [matched(name, value, names) for name, value in ranked if not label[name]],
    }


def matched(entry: str, value: float, names: Naming = Naming()) -> Json:
    """One matched entry that is not a label. Three shapes, told apart by ``Kind``:
    ``{"Kind": "Category" | "Color" | "Moderation" | "Text", "Name", "Score"}``,
    ``{"Kind": "Person", "PersonId", "Name" (null until named), "Score"}``, ``{"Kind": "Faces" | "HasText", "Count"}``.
    ``Score`` (0-100) is the entry's value: a confidence, or for a colour its percentage of pixels."""
    if entry in COUNTS:
        return {"Kind": COUNTS[entry], "Count": round(value)}
    if entry in names.categories:
        return {"Kind": "Category", "Name": entry, "Score": value}
    prefix, _, name = entry.partition(":")
    kind = KINDS.get(prefix + ":", prefix.title())
    if kind == "Person" and name.isdigit():
        return {"Kind": kind, "PersonId": int(name), "Name": names.people.get(int(name)), "Score": value}
    return {"Kind": kind, "Name": name, "Score": value}


def search_page(result: SearchResult, found_facets: Facets | None = None, names: Naming = Naming()) -> Json:
    page: Json = {
        "Images": [hit(each, names) for each in result.hits],
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


def import_skip(skip: Skip) -> Json:
    """An item ``pixlens import`` did not import: which (its image name, else its key), the kind of reason, why."""
    return {"Item": skip.item, "Outcome": "skipped", "Kind": skip.kind, "Error": skip.reason}


def import_summary(report: ImportReport) -> Json:
    """What ``pixlens import`` did; how many items were skipped for each kind of reason (``bad-confidence``...),
    and in which of the table's attributes the labels were found."""
    return {
        "Table": report.table,
        "DryRun": report.dry_run,
        "Scanned": report.scanned,
        "Imported": report.imported,
        "Kept": report.kept,
        "Skipped": sum(report.skipped.values()),
        "SkippedByReason": [{"Kind": kind, "Items": count} for kind, count in sorted(report.skipped.items())],
        "LabelsAttributes": [
            {"Attribute": name, "Items": count} for name, count in sorted(report.labels_attributes.items())
        ],
    }


def export_summary(report: ExportReport) -> Json:
    return {"Format": report.format, "Records": report.records, "Reduced": report.reduced}
