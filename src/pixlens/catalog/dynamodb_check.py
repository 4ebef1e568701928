"""``pixlens check`` on a DynamoDB catalog: the catalog's own rules, each read off the index (DynamoDB checks its
own storage). A full check reads every list: it costs about as many read units as the index is large."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixlens.catalog.dynamodb_items import (
    ANALYSED,
    COUNT_SHARDS,
    IMAGE_SHARDS,
    STATUS_COUNTS,
    entry_list,
    id_name,
    status_list,
)
from pixlens.catalog.dynamodb_schema import KEY, RANK
from pixlens.catalog.dynamodb_vectors import faces_list
from pixlens.record import Status

if TYPE_CHECKING:
    from pixlens.catalog.dynamodb import DynamoCatalog


def check_catalog(catalog: DynamoCatalog) -> list[str]:
    table = catalog.table
    found: list[str] = []

    def size(name: str) -> int:
        return sum(int(page["Count"]) for page in table.query(name, count=True))

    wrong = 0
    for shard in range(COUNT_SHARDS):
        for item in table.query(f"/counts#{shard}"):
            entry = str(item[KEY]).removeprefix("/count/")
            shards = int((table.get(str(item[KEY]), fields=["pxShards"]) or {}).get("pxShards", 1))
            if sum(size(entry_list(entry, s)) for s in range(shards)) != int(item[RANK]):
                wrong += 1
    if wrong:
        found.append(f"entry counts that disagree with the index: {wrong}")
    counts = table.get(STATUS_COUNTS, consistent=True) or {}
    statuses: dict[str, list[str]] = {}
    for status in Status:
        listed = [str(item[KEY]) for s in range(IMAGE_SHARDS) for item in table.query(status_list(status.value, s))]
        statuses[status.value] = listed
        if len(listed) != int(counts.get(status.value, 0)):
            found.append(f"{status.value} images counted {int(counts.get(status.value, 0))}, listed {len(listed)}")
    keys = [key for listed in statuses.values() for key in listed]
    dirty = [key for key, item in table.batch_get(keys, ["pxDirty"]).items() if item.get("pxDirty")]
    if dirty:
        found.append(f"images whose index writes did not finish (write them again): {len(dirty)}")
    analysed = [int(i) for i in catalog.reader.posting(ANALYSED).bitmap]
    present = table.batch_get([id_name(image_id) for image_id in analysed])
    orphans = sum(1 for image_id in analysed if id_name(image_id) not in present)
    if orphans:
        found.append(f"index entries of images that do not exist: {orphans}")
    people = 0
    for item in catalog.vectors.person_items():
        if size(faces_list(int(item["pxId"]))) != int(item["pxFaces"]):
            people += 1
    if people:
        found.append(f"people whose number of faces is wrong: {people}")
    return found
